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
    assert docs[0]["detection"]["selection"]["query|endswith"] == ["btc.pool-example.net", "xmr.pool-example.org"]


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
