"""Every export is checked by the tool that consumes it (when Debian or PyPI has one)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from minewatch.export import EXPORTERS, collect_indicators
from minewatch.model import Evidence, Finding


def F(**kw) -> Finding:
    base = dict(
        kind="mining", detector="net.stratum", score=90.0, subscores={"protocol": 90.0},
        evidence=[Evidence("x", "10.1.2.7 sent mining.authorize", "10.1.2.7 发送了 mining.authorize")],
        first_seen=datetime(2024, 3, 1, 10, 4, 3, tzinfo=UTC), last_seen=datetime(2024, 3, 1, 12, tzinfo=UTC),
        src_ip="10.1.2.7", src_port=50123, dst_ip="45.77.10.20", dst_port=3333, transport="tcp",
        pool_host="btc.pool-example.net", coin="bitcoin", worker="rig07",
    )
    base.update(kw)
    return Finding(**base)


FINDINGS = [
    F(),
    F(src_ip="10.1.2.8", dst_ip="2001:db8:ff::7", dst_port=443, pool_host=None, sni="xmr.pool-example.org", coin="monero"),
    F(src_ip="10.1.2.9", dst_ip="45.77.10.21", score=40.0, pool_host="weak.example.com"),  # below min score
    F(kind="node", detector="net.nodes", dst_ip="88.99.1.1", dst_port=8333, pool_host="node.example.com"),
    F(src_ip="10.1.2.10", dst_ip="192.168.5.5", pool_host="bad name!"),  # private pool, invalid domain
]


def test_indicators_only_from_strong_public_mining_findings():
    ind = collect_indicators(FINDINGS)
    assert set(ind.pool_ips) == {"45.77.10.20"}  # v6 doc range is not global; private and node skipped
    assert ind.domains() == ["btc.pool-example.net", "xmr.pool-example.org"]
    assert "weak.example.com" not in ind.pool_domains and "node.example.com" not in ind.pool_domains
    assert {"10.1.2.7", "10.1.2.8", "10.1.2.10"} <= set(ind.miner_hosts)


class Allow:
    def is_allowed(self, ip=None, host=None):
        return "rule" if host == "xmr.pool-example.org" or ip == "45.77.10.20" else None


def test_allow_list_removes_indicators():
    ind = collect_indicators(FINDINGS, allow=Allow())
    assert ind.pool_ips == {} and ind.domains() == ["btc.pool-example.net"]


@pytest.mark.skipif(shutil.which("nft") is None, reason="Debian nftables (nft) not installed")
def test_nft_file_passes_nft_check(tmp_path):
    p = tmp_path / "mw.nft"
    p.write_text(EXPORTERS["nft"](FINDINGS))
    r = subprocess.run(["nft", "-c", "-f", str(p)], capture_output=True, text=True)
    if r.returncode != 0 and "Operation not permitted" in r.stderr:
        pytest.skip("nft -c needs CAP_NET_ADMIN")
    assert r.returncode == 0, r.stderr
    assert "45.77.10.20" in p.read_text()


@pytest.mark.skipif(shutil.which("named-checkzone") is None, reason="Debian bind9-utils not installed")
def test_rpz_zone_passes_named_checkzone(tmp_path):
    p = tmp_path / "rpz.zone"
    p.write_text(EXPORTERS["rpz"](FINDINGS, serial=2024030101))
    r = subprocess.run(["named-checkzone", "rpz.minewatch", str(p)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "*.btc.pool-example.net CNAME ." in p.read_text()


@pytest.mark.skipif(shutil.which("ipset") is None or shutil.which("ip") is None, reason="ipset/iproute2 missing")
def test_ipset_restore_in_a_private_network_namespace(tmp_path):
    ns = f"mwtest{abs(hash(str(tmp_path))) % 100000}"
    if subprocess.run(["ip", "netns", "add", ns], capture_output=True).returncode != 0:
        pytest.skip("cannot create a network namespace here")
    try:
        p = tmp_path / "sets.ipset"
        p.write_text(EXPORTERS["ipset"](FINDINGS))
        r = subprocess.run(["ip", "netns", "exec", ns, "ipset", "restore", "-f", str(p)], capture_output=True, text=True)
        if r.returncode != 0 and ("Kernel error" in r.stderr or "not supported" in r.stderr):
            pytest.skip(f"kernel lacks ip_set: {r.stderr.strip()}")
        assert r.returncode == 0, r.stderr
        listed = subprocess.run(["ip", "netns", "exec", ns, "ipset", "list", "minewatch-pool4"],
                                capture_output=True, text=True).stdout
        assert "45.77.10.20" in listed
    finally:
        subprocess.run(["ip", "netns", "exec", ns, "ipset", "destroy"], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def _suricata_check(tmp_path, text: str) -> str:
    exe = shutil.which("suricata-check") or str(Path(sys.executable).with_name("suricata-check"))
    if not Path(exe).exists():
        pytest.skip("suricata-check (PyPI) not installed")
    tmp_path.mkdir(parents=True, exist_ok=True)
    rules = tmp_path / "r.rules"
    rules.write_text(text)
    out = tmp_path / "out"
    subprocess.run([exe, "-r", str(rules), "-o", str(out), "--log-level", "ERROR"], capture_output=True, check=True)
    return (out / "suricata-check-fast.log").read_text()


def test_suricata_rules_pass_suricata_check(tmp_path):
    from idstools import rule as idsrule

    text = EXPORTERS["suricata"](FINDINGS)
    rules = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    assert len(rules) == 2 * 2 + 1  # dns+sni per domain, one endpoint rule
    parsed = [idsrule.parse(ln) for ln in rules]
    assert all(p is not None for p in parsed)
    sids = {p.sid for p in parsed}
    assert len(sids) == len(rules) and all(1_000_000 <= s < 2_000_000 for s in sids)
    report = _suricata_check(tmp_path, text)
    assert "(ERROR)" not in report and "(WARNING)" not in report, report
    # the checker is really checking: a rule without sid is an error
    broken = _suricata_check(tmp_path / "b", 'alert tcp any any -> any any (msg:"x"; content:"a";)\n')
    assert "(ERROR)" in broken and "M001" in broken
    assert [r.split("sid:")[1] for r in rules] == [
        r.split("sid:")[1] for r in EXPORTERS["suricata"](FINDINGS).splitlines()[1:]]  # stable SIDs


def test_suricata_dataset_is_base64_lines():
    import base64

    lines = EXPORTERS["suricata-dataset"](FINDINGS).splitlines()
    assert [base64.b64decode(x).decode() for x in lines] == ["btc.pool-example.net", "xmr.pool-example.org"]


def test_sigma_rules_parse_with_pysigma():
    pytest.importorskip("sigma")
    from sigma.collection import SigmaCollection

    text = EXPORTERS["sigma"](FINDINGS)
    col = SigmaCollection.from_yaml(text)
    assert len(col.rules) == 2
    assert {r.logsource.service for r in col.rules} == {"dns", "conn"}
    docs = list(yaml.safe_load_all(text))
    assert docs[0]["detection"]["selection_name"]["query"] == ["btc.pool-example.net", "xmr.pool-example.org"]


def _sigma_dns_matches(rule, query: str) -> bool:
    """Evaluate a parsed Sigma DNS rule on one Zeek `query` (its selections are OR-ed).

    pySigma parses the rule and applies the modifiers (`endswith` becomes the wildcard value
    `*.name`); no backend ships with it, so the values are matched here as a SIEM would: the whole
    field, case-insensitively, `*` standing for any text.
    """
    import re

    assert rule.detection.condition == ["selection_name or selection_subdomain"]
    for det in rule.detection.detections.values():
        for item in det.detection_items:
            assert item.field == "query"
            for v in item.value:
                pattern = ".*".join(re.escape(part) for part in str(v).split("*"))
                if re.fullmatch(pattern, query, re.IGNORECASE):
                    return True
    return False


def test_sigma_pool_name_matches_the_name_and_its_subdomains_only():
    """Review 13: `query|endswith: pool.eth.pp.ua` also matched `xpool.eth.pp.ua`."""
    pytest.importorskip("sigma")
    from sigma.collection import SigmaCollection

    text = EXPORTERS["sigma"]([F(pool_host="pool.eth.pp.ua", dst_ip="45.77.10.30")])
    rule = next(r for r in SigmaCollection.from_yaml(text).rules if r.logsource.service == "dns")
    assert _sigma_dns_matches(rule, "pool.eth.pp.ua") and _sigma_dns_matches(rule, "eu1.POOL.eth.pp.ua")
    assert not _sigma_dns_matches(rule, "xpool.eth.pp.ua") and not _sigma_dns_matches(rule, "eth.pp.ua")
    endswith = next(i for d in rule.detection.detections.values() for i in d.detection_items if i.modifiers)
    assert [m.__name__ for m in endswith.modifiers] == ["SigmaEndswithModifier"]
    assert [str(v) for v in endswith.value] == ["*.pool.eth.pp.ua"]


def test_stix_bundle_validates():
    validator = pytest.importorskip("stix2validator")
    text = EXPORTERS["stix"](FINDINGS)
    results = validator.validate_string(text)
    assert results.is_valid, results.as_dict()
    broken = json.loads(text)
    broken["objects"][1]["pattern"] = "[domain-name:value = "
    assert not validator.validate_string(json.dumps(broken)).is_valid
    bundle = json.loads(text)
    patterns = {o["pattern"] for o in bundle["objects"] if o["type"] == "indicator"}
    assert "[ipv4-addr:value = '45.77.10.20']" in patterns
    assert "[domain-name:value = 'xmr.pool-example.org']" in patterns


def test_ecs_documents_have_core_fields_and_language():
    docs = [json.loads(x) for x in EXPORTERS["ecs"](FINDINGS[:1], lang="zh").splitlines()]
    d = docs[0]
    assert d["event"]["kind"] == "alert" and d["source"]["ip"] == "10.1.2.7"
    assert d["destination"]["port"] == 3333 and d["@timestamp"] == "2024-03-01T10:04:03Z"
    assert d["message"].startswith("10.1.2.7 发送了")


def test_csv_and_jsonl_keep_nulls():
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(EXPORTERS["csv"](FINDINGS))))
    assert len(rows) == len(FINDINGS) and rows[0]["wallet"] == ""
    recs = [json.loads(x) for x in EXPORTERS["jsonl"](FINDINGS).splitlines()]
    assert recs[0]["wallet"] is None and recs[0]["kind"] == "mining"


# -- review 3 fixes ---------------------------------------------------------------------------------
DUAL = [  # one miner on a public IPv4 pool, one on a public IPv6 pool (2a01:4f8::/32 is global)
    F(src_ip="10.1.2.7", dst_ip="8.210.1.10", dst_port=3333, pool_host="btc.f2pool.com"),
    F(src_ip="10.1.2.8", dst_ip="2a01:4f8:1:2::21", dst_port=3333, pool_host="pool.supportxmr.com"),
]


@pytest.mark.parametrize("kind", sorted(EXPORTERS))
def test_every_export_handles_ipv4_and_ipv6_pools_together(kind):
    """#1: sorting IPv4Address with IPv6Address raised TypeError in `export suricata`."""
    text = EXPORTERS[kind](DUAL)
    if kind in ("nft", "ipset", "suricata", "sigma", "stix"):
        assert "8.210.1.10" in text and "2a01:4f8:1:2::21" in text
    if kind == "suricata":
        eps = [ln for ln in text.splitlines() if ln.startswith("alert tcp")]
        assert [ln.split(" -> ")[1].split()[0] for ln in eps] == ["8.210.1.10", "2a01:4f8:1:2::21"]


def test_firewall_exports_block_only_pools_unless_quarantine_is_asked_for():
    """#2: the default nft/ipset files must not cut off internal hosts (README: pools only)."""
    for kind in ("nft", "ipset"):
        text = EXPORTERS[kind](FINDINGS)
        assert "10.1.2.7" not in text and "miner" not in text and "45.77.10.20" in text
        q = EXPORTERS[kind](FINDINGS, quarantine_hosts=True)
        assert "10.1.2.7" in q and "miner" in q
    nft = EXPORTERS["nft"](FINDINGS)
    assert "saddr" not in nft and "quarantined" not in nft
    assert 'ip saddr @miner_v4 counter drop comment "quarantined miner host"' in EXPORTERS["nft"](
        FINDINGS, quarantine_hosts=True)


def _nft_check(text: str, tmp_path: Path) -> None:
    p = tmp_path / "c.nft"
    p.write_text(text)
    r = subprocess.run(["nft", "-c", "-f", str(p)], capture_output=True, text=True)
    if r.returncode != 0 and "Operation not permitted" in r.stderr:
        pytest.skip("nft -c needs CAP_NET_ADMIN")
    assert r.returncode == 0, r.stderr


@pytest.mark.skipif(shutil.which("nft") is None, reason="Debian nftables (nft) not installed")
def test_nft_quarantine_file_passes_nft_check(tmp_path):
    _nft_check(EXPORTERS["nft"](FINDINGS + DUAL, quarantine_hosts=True), tmp_path)


class _NetNs:
    """A throw-away network namespace (root only), so loading firewall files touches nothing real."""

    def __init__(self, tmp_path: Path) -> None:
        if shutil.which("ip") is None:
            pytest.skip("iproute2 missing")
        self.name = f"mwx{abs(hash(str(tmp_path))) % 1000000}"
        if subprocess.run(["ip", "netns", "add", self.name], capture_output=True).returncode != 0:
            pytest.skip("cannot create a network namespace here")

    def run(self, *cmd: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "netns", "exec", self.name, *cmd], input=stdin, capture_output=True, text=True)

    def close(self) -> None:
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)


class AllowIp:
    def __init__(self, ip: str) -> None:
        self.ip = ip

    def is_allowed(self, ip=None, host=None):
        return "rule" if ip == self.ip else None


@pytest.mark.skipif(shutil.which("nft") is None, reason="Debian nftables (nft) not installed")
def test_reloading_the_nft_export_replaces_the_previous_one(tmp_path):
    """#3: a second load used to keep removed addresses and append the drop rules again."""
    ns = _NetNs(tmp_path)
    try:
        first = EXPORTERS["nft"](FINDINGS + DUAL)
        r = ns.run("nft", "-c", "-f", "-", stdin=first)  # first load, table absent: the delete must not fail
        if r.returncode != 0 and ("Operation not permitted" in r.stderr or "Protocol not supported" in r.stderr):
            pytest.skip(f"no nftables here: {r.stderr.strip()}")
        assert r.returncode == 0, r.stderr
        assert ns.run("nft", "-f", "-", stdin=first).returncode == 0
        assert "8.210.1.10" in ns.run("nft", "list", "set", "inet", "minewatch", "pool_v4").stdout
        second = EXPORTERS["nft"](FINDINGS + DUAL, allow=AllowIp("8.210.1.10"))
        r = ns.run("nft", "-f", "-", stdin=second)
        assert r.returncode == 0, r.stderr
        listed = ns.run("nft", "list", "set", "inet", "minewatch", "pool_v4").stdout
        assert "8.210.1.10" not in listed and "45.77.10.20" in listed
        chain = ns.run("nft", "list", "chain", "inet", "minewatch", "forward").stdout
        assert chain.count("drop") == 2  # not appended again on every load
        # and quarantine lifted by a later export without it
        assert ns.run("nft", "-f", "-", stdin=EXPORTERS["nft"](FINDINGS, quarantine_hosts=True)).returncode == 0
        assert ns.run("nft", "-f", "-", stdin=EXPORTERS["nft"](FINDINGS)).returncode == 0
        assert "miner" not in ns.run("nft", "list", "table", "inet", "minewatch").stdout
    finally:
        ns.close()


@pytest.mark.skipif(shutil.which("ipset") is None, reason="ipset missing")
def test_reloading_the_ipset_export_replaces_the_previous_sets(tmp_path):
    """#3: `create -exist` + `add` never removed an address that was allow-listed since."""
    ns = _NetNs(tmp_path)
    try:
        r = ns.run("ipset", "restore", stdin=EXPORTERS["ipset"](FINDINGS + DUAL))
        if r.returncode != 0 and ("Kernel error" in r.stderr or "not supported" in r.stderr):
            pytest.skip(f"kernel lacks ip_set: {r.stderr.strip()}")
        assert r.returncode == 0, r.stderr
        assert ns.run("ipset", "test", "minewatch-pool4", "8.210.1.10").returncode == 0
        second = EXPORTERS["ipset"](FINDINGS + DUAL, allow=AllowIp("8.210.1.10"))
        for _ in range(2):  # and the same file twice
            r = ns.run("ipset", "restore", stdin=second)
            assert r.returncode == 0, r.stderr
        assert ns.run("ipset", "test", "minewatch-pool4", "8.210.1.10").returncode != 0
        assert ns.run("ipset", "test", "minewatch-pool4", "45.77.10.20").returncode == 0
        assert ns.run("ipset", "test", "minewatch-pool6", "2a01:4f8:1:2::21").returncode == 0
        names = ns.run("ipset", "list", "-n").stdout.split()
        # no -tmp left, no miner sets; the per-port sets are there, empty in the default mode
        assert sorted(names) == ["minewatch-pool4", "minewatch-pool6", "minewatch-poolport4", "minewatch-poolport6"]
    finally:
        ns.run("ipset", "destroy")
        ns.close()


def test_suricata_sids_are_unique_for_many_indicators():
    """#5: crc32 % 1e6 collides (these two names both got sid 1528116); no SID may appear twice."""
    import zlib

    from minewatch.export import assign_sids

    pair = ["dns:pool621.example.com", "dns:pool896.example.com"]
    assert len({zlib.crc32(k.encode()) % 1_000_000 for k in pair}) == 1  # the collision is real
    fs = [F(src_ip="10.1.2.7", dst_ip=f"45.{i // 250}.{i % 250}.9", dst_port=3333 + i % 7,
            pool_host=f"pool{i}.example.com") for i in range(3000)]
    text = EXPORTERS["suricata"](fs)
    rules = [ln for ln in text.splitlines() if ln.startswith("alert")]
    sids = [int(ln.split("sid:")[1].split(";")[0]) for ln in rules]
    assert len(rules) == 9000 and len(set(sids)) == len(sids)
    assert all(1_000_000 <= s < 2_000_000 for s in sids)
    again = EXPORTERS["suricata"](list(reversed(fs))).splitlines()[1:]  # stable across exports
    assert [ln.split("sid:")[1] for ln in again] == [ln.split("sid:")[1] for ln in text.splitlines()[1:]]
    # the key that sorts first keeps its first-choice SID; alone, each keeps it
    got = assign_sids(pair)
    assert got[pair[0]] == 1_000_000 + zlib.crc32(pair[0].encode()) % 1_000_000 != got[pair[1]]
    assert assign_sids(pair[1:])[pair[1]] == got[pair[0]]


def test_rpz_serial_increases_on_every_export():
    """#10: the hourly serial stayed the same within an hour, so secondaries never refetched."""
    from minewatch.export import rpz_serial, rpz_serial_of

    t = datetime(2026, 11, 22, 1, 30, 5, tzinfo=UTC)
    s1 = rpz_serial(t)
    assert s1 == int(t.timestamp())
    assert rpz_serial(t.replace(second=6), previous=s1) == s1 + 1  # next second
    assert rpz_serial(t, previous=s1) == s1 + 1  # same second: previous + 1
    assert rpz_serial(t, previous=2026112201) == 2026112202  # after an old hour serial (YYYYMMDDHH)
    assert rpz_serial(t, previous=s1 + 10) == s1 + 11  # a later serial (a clock set back) is kept ahead of
    assert rpz_serial(datetime.fromtimestamp(2**32 - 1, UTC), previous=2**32 - 1) == 0  # RFC 1982 wrap
    z1 = EXPORTERS["rpz"](FINDINGS)
    z2 = EXPORTERS["rpz"](FINDINGS, previous_serial=rpz_serial_of(z1))
    assert 0 < rpz_serial_of(z2) - rpz_serial_of(z1) < 60


def test_stix_ids_are_the_same_on_every_export_and_strictly_valid():
    """#11: random ids made every re-import into a TIP add a new identity and duplicate indicators."""
    validator = pytest.importorskip("stix2validator")
    a, b = EXPORTERS["stix"](FINDINGS + DUAL), EXPORTERS["stix"](list(reversed(FINDINGS + DUAL)))
    assert a == b
    objs = json.loads(a)["objects"]
    assert objs[0]["type"] == "identity" and all(o.get("created_by_ref", objs[0]["id"]) == objs[0]["id"] for o in objs)
    assert len({o["id"] for o in objs}) == len(objs)
    ind = next(o for o in objs if o.get("pattern") == "[ipv4-addr:value = '45.77.10.20']")
    assert ind["created"].startswith("2024-03-01T10:04:03") and ind["valid_from"].startswith("2024-03-01T10:04:03")
    # the id depends on the pattern only, not on what else is in the bundle
    alone = json.loads(EXPORTERS["stix"](FINDINGS[:1]))["objects"]
    assert ind["id"] in {o["id"] for o in alone}
    res = validator.validate_string(a, validator.ValidationOptions(strict=True))
    assert res.is_valid, res.as_dict()
    assert "sighting" not in a


def test_ecs_keeps_power_fields_and_a_language_fallback_message():
    """#12: power findings lost meter, kW, machines and onset; the fallback message was English only."""
    onset = datetime(2024, 4, 1, tzinfo=UTC)
    p = F(detector="power.loadshape", src_ip=None, src_port=None, dst_ip=None, dst_port=None, transport=None,
          pool_host=None, evidence=[], meter_id="电表-3", kw_mining=31.5, machines_est=9.0, onset=onset,
          first_seen=None, last_seen=None)
    d = json.loads(EXPORTERS["ecs"]([p], lang="zh"))
    assert d["minewatch"]["meter_id"] == "电表-3" and d["minewatch"]["kw_mining"] == 31.5
    assert d["minewatch"]["machines_est"] == 9.0 and d["minewatch"]["onset"] == "2024-04-01T00:00:00Z"
    assert d["@timestamp"] == "2024-04-01T00:00:00Z" and "电表-3" in d["message"] and "挖矿" in d["message"]
    net = F(evidence=[])
    assert json.loads(EXPORTERS["ecs"]([net], lang="zh"))["message"] == "挖矿检测结果"
    assert json.loads(EXPORTERS["ecs"]([net], lang="en"))["message"] == "mining finding"
    assert "meter_id" not in json.loads(EXPORTERS["ecs"]([net]))["minewatch"]


def test_unicode_names_become_punycode_and_unusable_names_are_counted():
    """#15: Unicode names never matched on the wire; a 253-character name broke the whole RPZ zone."""
    long_name = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])  # 253: valid, but not under the RPZ origin
    fs = [
        F(pool_host="Bücher.Example.", sni="矿池.中国"),
        F(src_ip="10.1.2.9", dst_ip="45.77.10.22", pool_host=long_name),
        F(src_ip="10.1.2.10", dst_ip="45.77.10.23", pool_host="pool.example.com:3333"),
        F(src_ip="10.1.2.11", dst_ip="45.77.10.24", pool_host="45.77.10.24"),  # an address: not counted
    ]
    skipped: dict[str, set[str]] = {}
    zone = EXPORTERS["rpz"](fs, serial=1, skipped=skipped)
    assert "*.xn--bcher-kva.example CNAME ." in zone and "*.xn--btwv1w.xn--fiqs8s CNAME ." in zone
    assert zone.split("$ORIGIN")[1].isascii()
    assert skipped == {"too_long": {long_name}, "invalid": {"pool.example.com:3333"}}
    for kind in ("suricata", "sigma", "stix", "suricata-dataset"):
        text = EXPORTERS[kind](fs)
        assert "bücher" not in text and "矿池" not in text and long_name not in text
    assert "xn--bcher-kva|2e|example" in EXPORTERS["suricata"](fs)
    if shutil.which("named-checkzone"):
        import tempfile

        with tempfile.NamedTemporaryFile("w", suffix=".zone") as z:
            z.write(zone)
            z.flush()
            r = subprocess.run(["named-checkzone", "rpz.minewatch", z.name], capture_output=True, text=True)
            assert r.returncode == 0, r.stdout + r.stderr


def test_idn_allow_rule_still_matches_after_punycode_conversion():
    """#15: allow rules hold IDNA 2003 A-labels (ß -> ss); the export's IDNA 2008 form differs, and an
    allowed name must not become a blocked one."""
    from minewatch.net.intel import normalise_host

    class AllowIdn:
        def is_allowed(self, ip=None, host=None):
            return "rule" if host and normalise_host(host) == "strasse.de" else None

    fs = [F(pool_host="straße.de"), F(src_ip="10.1.2.9", pool_host="bücher.example")]
    assert collect_indicators(fs, allow=AllowIdn()).domains() == ["xn--bcher-kva.example"]
    assert collect_indicators(fs).domains() == ["xn--bcher-kva.example", "xn--strae-oqa.de"]


#: a stratum pool on a dedicated address, and an HTTP getwork pool on port 80 of a shared web host
SHARED = [
    F(dst_ip="45.77.10.20", dst_port=3333, transport="tcp"),
    F(src_ip="10.1.2.11", dst_ip="203.0.114.80", dst_port=80, transport="tcp", pool_host="getwork.example.net"),
    F(src_ip="10.1.2.12", dst_ip="2a01:4f8:1:2::21", dst_port=443, transport="udp", pool_host=None),
]


def test_observed_ports_block_only_the_endpoints_seen():
    """Review 13: nft/ipset dropped every port of a pool address, also a shared web host's port 443."""
    nft = EXPORTERS["nft"](SHARED, ports="observed")
    assert "type ipv4_addr . inet_proto . inet_service" in nft
    assert "45.77.10.20 . tcp . 3333, 203.0.114.80 . tcp . 80" in nft and "2a01:4f8:1:2::21 . udp . 443" in nft
    assert "ip daddr @pool_v4" not in nft and "ip daddr . meta l4proto . th dport @pool_ports_v4 counter drop" in nft
    assert "ip daddr @pool_v4 counter drop" in EXPORTERS["nft"](SHARED)  # the default is unchanged
    ipset = EXPORTERS["ipset"](SHARED, ports="observed")
    assert "create minewatch-poolport4 hash:ip,port family inet -exist" in ipset
    assert "add minewatch-poolport4-tmp 203.0.114.80,tcp:80 -exist" in ipset
    assert "add minewatch-poolport6-tmp 2a01:4f8:1:2::21,udp:443 -exist" in ipset
    assert "add minewatch-pool4-tmp" not in ipset  # the address sets are emptied, not filled
    with pytest.raises(ValueError):
        EXPORTERS["nft"](SHARED, ports="some")


@pytest.mark.skipif(shutil.which("nft") is None, reason="Debian nftables (nft) not installed")
def test_observed_ports_nft_file_drops_the_pool_port_and_not_the_web_site(tmp_path):
    """Loaded in a private network namespace: a connection to the seen port is dropped (times out),
    one to another port of the same address is not (refused at once: nothing listens there)."""
    ns = _NetNs(tmp_path)
    try:
        text = EXPORTERS["nft"](SHARED, ports="observed")
        r = ns.run("nft", "-c", "-f", "-", stdin=text)
        if r.returncode != 0 and ("Operation not permitted" in r.stderr or "Protocol not supported" in r.stderr):
            pytest.skip(f"no nftables here: {r.stderr.strip()}")
        assert r.returncode == 0, r.stderr
        assert ns.run("nft", "-f", "-", stdin=text).returncode == 0
        assert ns.run("ip", "link", "set", "lo", "up").returncode == 0
        assert ns.run("ip", "addr", "add", "203.0.114.80/32", "dev", "lo").returncode == 0
        probe = (
            "import socket, sys\n"
            "def try_(port):\n"
            "    s = socket.socket(); s.settimeout(1.0)\n"
            "    try: s.connect(('203.0.114.80', port)); return 'open'\n"
            "    except TimeoutError: return 'dropped'\n"
            "    except ConnectionRefusedError: return 'refused'\n"
            "print(try_(80), try_(8080))\n"
        )
        out = ns.run(sys.executable, "-c", probe)
        assert out.stdout.split() == ["dropped", "refused"], out.stdout + out.stderr
        # and back to the default: every port of the address dropped, the per-port sets gone
        assert ns.run("nft", "-f", "-", stdin=EXPORTERS["nft"](SHARED)).returncode == 0
        assert ns.run(sys.executable, "-c", probe).stdout.split() == ["dropped", "dropped"]
        assert "pool_ports" not in ns.run("nft", "list", "table", "inet", "minewatch").stdout
    finally:
        ns.close()


@pytest.mark.skipif(shutil.which("ipset") is None, reason="ipset missing")
def test_observed_ports_ipset_restores_and_switching_modes_leaves_nothing_behind(tmp_path):
    ns = _NetNs(tmp_path)
    try:
        r = ns.run("ipset", "restore", stdin=EXPORTERS["ipset"](SHARED))
        if r.returncode != 0 and ("Kernel error" in r.stderr or "not supported" in r.stderr):
            pytest.skip(f"kernel lacks ip_set: {r.stderr.strip()}")
        assert r.returncode == 0, r.stderr
        assert ns.run("ipset", "test", "minewatch-pool4", "203.0.114.80").returncode == 0
        r = ns.run("ipset", "restore", stdin=EXPORTERS["ipset"](SHARED, ports="observed"))
        assert r.returncode == 0, r.stderr
        assert ns.run("ipset", "test", "minewatch-pool4", "203.0.114.80").returncode != 0  # the wide block lifted
        assert ns.run("ipset", "test", "minewatch-poolport4", "203.0.114.80,tcp:80").returncode == 0
        assert ns.run("ipset", "test", "minewatch-poolport4", "203.0.114.80,tcp:443").returncode != 0
        assert ns.run("ipset", "test", "minewatch-poolport6", "2a01:4f8:1:2::21,udp:443").returncode == 0
        assert ns.run("ipset", "restore", stdin=EXPORTERS["ipset"](SHARED)).returncode == 0
        assert ns.run("ipset", "test", "minewatch-poolport4", "203.0.114.80,tcp:80").returncode != 0
    finally:
        ns.run("ipset", "destroy")
        ns.close()
