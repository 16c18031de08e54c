"""Pool lists: the built-in list, imported list formats, matching, the keyword heuristic, sub-scores."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import pytest
import yaml

from minewatch.errors import InputError
from minewatch.net.intel import (
    PoolIntel,
    detect_format,
    intel_subscores,
    load_builtin_entries,
    parse_list_lines,
    pool_keywords,
    read_list,
)
from minewatch.paths import package_data


@pytest.fixture(scope="module")
def builtin() -> PoolIntel:
    return PoolIntel.builtin()


# --- built-in list -------------------------------------------------------------------------------
def test_builtin_entries_are_complete_and_unique():
    pools = load_builtin_entries()
    assert len(pools) >= 60
    names = [p.name.lower() for p in pools]
    assert len(names) == len(set(names)), "duplicate pool names"
    domains = [d for p in pools for d in p.domains]
    assert len(domains) == len(set(domains)), "a domain is listed under two pools"
    for p in pools:
        assert p.coins and p.ports and p.source.strip(), p.name
        assert all(0 < x < 65536 for x in (*p.ports, *p.tls_ports)), p.name
        assert p.status in ("active", "closed"), p.name
        assert len(set(p.ports)) == len(p.ports), f"{p.name}: repeated port"
    # no domain of one pool sits under another pool's domain (that would make the match ambiguous)
    for d in domains:
        parents = [o for o in domains if o != d and d.endswith("." + o)]
        assert not parents, f"{d} is under {parents}"


def test_builtin_yaml_has_no_addresses():
    raw = yaml.safe_load(package_data("pools.yaml").read_text(encoding="utf-8"))
    for p in raw["pools"]:
        for d in p["domains"]:
            assert not d.replace(".", "").isdigit(), f"{p['name']}: {d} looks like an address"


@pytest.mark.parametrize(
    ("host", "pool"),
    [
        ("btc.f2pool.com", "F2Pool"),
        ("ss.antpool.com", "AntPool"),
        ("btc.viabtc.io", "ViaBTC"),
        ("btc.ss.poolin.me", "Poolin"),
        ("eu.ss.btc.com", "BTC.com Pool"),
        ("cn.sparkpool.com", "SparkPool"),
        ("btc.huobipool.com", "Huobi Pool"),
        ("bs.poolbinance.com", "Binance Pool"),
        ("etc.2miners.com", "2Miners"),
        ("xmr-eu1.nanopool.org", "Nanopool"),
        ("pool.supportxmr.com", "SupportXMR"),
        ("pool.hashvault.pro", "HashVault"),
        ("de.monero.herominers.com", "HeroMiners"),
        ("eu1.ethermine.org", "Ethermine"),
        ("eu1-zcash.flypool.org", "Flypool"),
        ("gulf.moneroocean.stream", "MoneroOcean"),
        ("stratum.slushpool.com", "Braiins Pool"),
        ("stratum.braiins.com", "Braiins Pool"),
        ("btc.foundryusapool.com", "Foundry USA"),
        ("btc.global.luxor.tech", "Luxor"),
        ("sha256.mining-dutch.nl", "Mining-Dutch"),
        ("rx.unmineable.com", "unMineable"),
        ("etc.kryptex.network", "Kryptex Pool"),
        ("etc.woolypooly.com", "WoolyPooly"),
        ("gate.emcd.network", "EMCD"),
        ("litecoinpool.org", "LitecoinPool.org"),
        ("donate.v2.xmrig.com", "XMRig donation"),
    ],
)
def test_builtin_covers_the_named_pools(builtin, host, pool):
    m = builtin.match_host(host)
    assert m is not None and m.pool == pool and m.is_builtin
    assert m.coins and m.ports


def test_builtin_covers_the_coins():
    coins = {c for p in load_builtin_entries() for c in p.coins}
    assert {"BTC", "LTC", "ETC", "XMR", "ZEC", "RVN", "KAS"} <= coins


def test_match_is_on_label_boundaries_case_and_trailing_dot(builtin):
    assert builtin.match_host("BTC.F2POOL.COM.") is not None
    assert builtin.match_host("f2pool.com").entry == "f2pool.com"
    assert builtin.match_host("xf2pool.com") is None
    assert builtin.match_host("f2pool.com.evil.example") is None
    assert builtin.match_host("btc.com") is None, "only the pool subdomains of btc.com are listed"
    assert builtin.match_host("www.binance.com") is None
    assert builtin.match_host("") is None and builtin.match_host(None) is None
    assert builtin.match_host("not a host") is None


# --- imported formats -----------------------------------------------------------------------------
def test_hosts_format():
    lines = [
        "# a hosts file",
        "127.0.0.1 localhost",
        "0.0.0.0 pool.example.net mine.example.org  # trailing comment",
        "0.0.0.0",
        "not-an-ip pool.example.net",
        "0.0.0.0 bad..name",
    ]
    res = parse_list_lines(lines, "hosts", name="h")
    assert [e.value for e in res.entries] == ["pool.example.net", "mine.example.org"]
    assert [(ln, reason) for ln, _, reason in res.rejects] == [
        (4, "hosts line without a name"),
        (5, "hosts line does not start with an address"),
        (6, "not a host name"),
    ]
    assert detect_format(lines) == "hosts"


def test_maltrail_format_with_references():
    lines = [
        "# Copyright",
        "",
        "# Reference: https://example.org/report-1",
        "# Reference: https://example.org/report-1b",
        "",
        "198.51.100.10:3333",
        "pool.bad.example",
        "198.51.100.11",
        "# Reference: https://example.org/report-2",
        "http://203.0.113.5",
        "198.51.100.10:99999",
        "MinePool.Bad.Example",
    ]
    res = parse_list_lines(lines, "auto", name="m")
    assert res.fmt == "maltrail"
    assert detect_format(["pool.example", "other.example"]) == "domains"
    assert detect_format(["192.0.2.1", "192.0.2.0/24"]) == "ips"
    got = [(e.kind, e.value, e.port, e.reference) for e in res.entries]
    assert got == [
        ("ip", "198.51.100.10", 3333, "https://example.org/report-1"),
        ("domain", "pool.bad.example", None, "https://example.org/report-1"),
        ("ip", "198.51.100.11", None, "https://example.org/report-1"),
        ("ip", "203.0.113.5", None, "https://example.org/report-2"),
        ("domain", "minepool.bad.example", None, "https://example.org/report-2"),
    ]
    assert res.rejects == [(11, "198.51.100.10:99999", "bad port")]


def test_ndpi_and_ips_and_domains_formats():
    nd = parse_list_lines(
        ["# c", "coinhive.example\t99", "bad line here", "x.example\tNaN"], "ndpi", name="n"
    )
    assert detect_format(["a.example\t99", "b.example\t99", "junk"]) == "ndpi"
    assert nd.fmt == "ndpi" and [e.value for e in nd.entries] == ["coinhive.example"]
    assert [ln for ln, _, _ in nd.rejects] == [3, 4]
    ips = parse_list_lines(
        ["# ips", "192.0.2.1", "192.0.2.0/24", "2001:db8::/48", "pool.example", "1.2.3"], "ips", name="i"
    )
    assert [(e.kind, e.value) for e in ips.entries] == [
        ("ip", "192.0.2.1"), ("cidr", "192.0.2.0/24"), ("cidr", "2001:db8::/48"),
    ]  # fmt: skip
    assert [(ln, r) for ln, _, r in ips.rejects] == [
        (5, "a name in an address list"),
        (6, "malformed IPv4 address"),
    ]
    dom = parse_list_lines(["pool.example", "POOL.example", "*.wild.example", "com", "github.io", "192.0.2.1",
                            "myètherwället.example"], "domains", name="d")  # fmt: skip
    assert [e.value for e in dom.entries][:2] == ["pool.example", "wild.example"]
    idn = dom.entries[2].value
    assert idn.startswith("xn--") and idn.endswith(".example") and idn.isascii()
    assert dom.duplicates == 1
    assert [r for _, _, r in dom.rejects] == [
        "single-label name (a TLD or local name)",
        "shared-hosting or public suffix: would match every tenant",
        "an address in a domain list",
    ]


def test_unknown_format_and_missing_file(tmp_path):
    with pytest.raises(InputError, match="unknown list format"):
        parse_list_lines([], "csv", name="x")
    with pytest.raises(InputError) as exc:
        read_list(tmp_path / "nope.txt")
    assert "nope.txt" in str(exc.value)


def test_non_utf8_line_is_rejected_with_its_number(tmp_path):
    p = tmp_path / "l.txt"
    p.write_bytes(b"pool.example\n\xff\xfe.example\nmine.example\n")
    res = read_list(p, "domains")
    assert [e.value for e in res.entries] == ["pool.example", "mine.example"]
    assert res.rejects == [(2, "", "not UTF-8 text")]


def test_imported_matching_rules():
    intel = PoolIntel()
    res = parse_list_lines(
        ["badpool.example", "miner-proxy-01.now.sh", "198.51.100.10:3333", "198.51.100.11", "203.0.113.0/28"],
        "maltrail", name="feed",
    )  # fmt: skip
    intel.add_list(res)
    m = intel.match_host("eu.badpool.example")
    assert m is not None and m.source == "feed" and not m.is_builtin and m.entry == "badpool.example"
    # an entry on a shared-hosting suffix matches only itself, not its siblings' subdomains
    assert intel.match_host("miner-proxy-01.now.sh") is not None
    assert intel.match_host("x.miner-proxy-01.now.sh") is None
    assert intel.match_host("other.now.sh") is None
    assert intel.match_ip("198.51.100.10", 3333).entry == "198.51.100.10:3333"
    assert intel.match_ip("198.51.100.10", 443) is None
    assert intel.match_ip("198.51.100.10") is not None
    assert intel.match_ip("198.51.100.11", 443).entry == "198.51.100.11"
    assert intel.match_ip("203.0.113.9", 80).entry == "203.0.113.0/28"
    assert intel.match_ip("203.0.113.16") is None
    assert intel.match_ip("::ffff:1") is None and intel.match_ip("junk") is None
    intel.remove_list("feed")
    assert intel.match_host("eu.badpool.example") is None and intel.match_ip("198.51.100.11") is None


def test_builtin_beats_an_imported_entry_at_any_depth(builtin):
    intel = PoolIntel.builtin()
    intel.add_list(parse_list_lines(["xmr-eu1.nanopool.org"], "domains", name="feed"))
    m = intel.match_host("xmr-eu1.nanopool.org")
    assert m.is_builtin and m.pool == "Nanopool"
    assert [x.source for x in intel.match_host_all("xmr-eu1.nanopool.org")] == ["feed", "builtin"]


# --- keyword heuristic --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "strength"),
    [
        ("xmr.pool.example.net", 1.0),
        ("stratum-eu1.example.org", 0.6),
        ("eth-eu2.example.com", 0.4),
        ("mining.example", 0.6),
        ("btc3.example.com", 0.4),
    ],
)
def test_keywords_hit(name, strength):
    k = pool_keywords(name)
    assert k is not None and k.strength == strength


@pytest.mark.parametrize(
    "name",
    [
        "carpool.example",
        "minecraft.net",
        "examine.example.com",
        "www.ethz.ch",
        "liverpool.com",
        "example.eth",
        "pool",
    ],
)
def test_keywords_miss(name):
    assert pool_keywords(name) is None


# --- sub-scores -----------------------------------------------------------------------------------
def test_subscores_builtin_domain_and_port(builtin):
    sub, ev = intel_subscores("xmr-eu1.nanopool.org", None, "192.0.2.1", 14444, builtin)
    assert sub == {"pool_domain": 40.0, "known_pool_port": 5.0}
    assert [e.code for e in ev] == ["intel.pool_domain", "intel.known_pool_port"]
    assert "Nanopool" in ev[0].text and "built-in" in ev[0].text
    assert ev[0].text_zh and "内置" in ev[0].text_zh
    assert ev[0].data["coins"] and ev[0].data["builtin"] is True


def test_subscores_tls_port_and_sni(builtin):
    sub, ev = intel_subscores(None, "pool.supportxmr.com", "192.0.2.1", 9000, builtin)
    assert sub["pool_domain"] == 40.0 and sub["known_pool_port"] == 5.0
    assert "TLS SNI" in ev[0].text and ev[1].data["tls"] is True


def test_subscores_unpublished_port_and_keyword_only(builtin):
    sub, _ = intel_subscores("btc.f2pool.com", None, None, 22, builtin)
    assert sub == {"pool_domain": 40.0}
    sub, ev = intel_subscores("stratum.xmr.example.net", None, None, 3333, builtin)
    assert sub == {"pool_keyword": 15.0, "known_pool_port": 2.0}
    assert ev[0].code == "intel.pool_keyword" and ev[0].text_zh
    assert intel_subscores("www.example.com", None, None, 3333, builtin) == ({}, [])


def test_subscores_imported_ip_port():
    intel = PoolIntel.builtin()
    intel.add_list(parse_list_lines(["198.51.100.10:3333", "198.51.100.11"], "maltrail", name="feed"))
    sub, ev = intel_subscores(None, None, "198.51.100.10", 3333, intel)
    assert sub["pool_ip"] == 30.0 and "feed" in ev[0].text
    sub, _ = intel_subscores(None, None, "198.51.100.11", 443, intel)
    assert sub == {"pool_ip": 20.0}


# --- shared lists --------------------------------------------------------------------------------------
def _sha_ok(shared: Path, rel: str) -> bool:
    """The file is the one SOURCES.csv describes (only then do the README's exact counts apply)."""
    with open(shared / "SOURCES.csv", newline="") as f:
        want = {r["relpath"]: r["sha256"] for r in csv.DictReader(f)}.get(rel)
    return want is not None and hashlib.sha256((shared / rel).read_bytes()).hexdigest() == want


#: entries per file as the shared README counts them (data lines, duplicates included)
README_ENTRIES = {
    "pools/ndpi_mining_hosts.txt": ("ndpi", 246),
    "pools/maltrail_crypto_mining.txt": ("maltrail", 1185),
    "pools/coinblockerlists_list.txt": ("domains", 5837),
    "pools/coinblockerlists_list_optional.txt": ("domains", 296),
    "pools/coinblockerlists_list_browser.txt": ("domains", 1705),
    "pools/coinblockerlists_MiningServerIPList.txt": ("ips", 1026),
}


@pytest.mark.shared
@pytest.mark.parametrize("rel", sorted(README_ENTRIES))
def test_shared_lists_parse(shared, rel):
    fmt, entries = README_ENTRIES[rel]
    res = read_list(shared / rel)
    assert res.fmt == fmt
    # nearly everything is kept; what is not, is explained line by line
    assert res.accepted >= 0.9 * entries
    assert res.rejected <= 0.02 * entries
    lines = (shared / rel).read_text(encoding="utf-8", errors="replace").splitlines()
    for line, text, reason in res.rejects:
        assert reason and lines[line - 1].strip().startswith(text[:40].strip())
    if _sha_ok(shared, rel):
        # every data line is accounted for: kept, rejected with a reason, or folded as a duplicate
        assert res.accepted + res.rejected + res.duplicates == entries


@pytest.mark.shared
def test_shared_maltrail_keeps_references_and_ports(shared):
    res = read_list(shared / "pools/maltrail_crypto_mining.txt")
    c = res.counts()
    assert c["ip_port"] > 500 and c["domain"] > 300
    assert sum(1 for e in res.entries if e.reference) > 0.9 * res.accepted


@pytest.mark.shared
def test_no_benign_capture_host_matches(shared):
    """Benign flows' SNI / host names must hit neither the lists nor the keyword heuristic. (This reads
    labels.csv to check for false matches; no detector sees it.)"""
    intel = PoolIntel.builtin()
    for rel in README_ENTRIES:
        intel.import_list(shared / rel)
    hosts: set[str] = set()
    with open(shared / "pcap/labels.csv", newline="") as f:
        for r in csv.DictReader(f):
            if r["label"] != "benign" or "related=" in r["notes"]:
                continue
            hosts.update(t[5:] for t in r["notes"].split(";") if t.startswith("host="))
    assert len(hosts) > 50
    hits = {h: intel.match_host(h) for h in hosts}
    assert {h: m.entry for h, m in hits.items() if m} == {}
    assert {h for h in hosts if pool_keywords(h)} == set()


@pytest.mark.parametrize(("host", "port", "pool", "tls"), [
    ("aleo.hk.zk.work", 10003, "ZKWork", False),  # Aleo provers (binary protocol: names and timing only)
    ("iron.hk.zk.work", 50005, "ZKWork", True),
    ("ghostrider.eu.mine.zergpool.com", 5354, "Zergpool", False),
    ("stratum-na.rplant.xyz", 17075, "Rplant", True),
    ("sg.vipor.net", 5040, "Vipor", False),
])
def test_gpu_and_cpu_coin_pools_of_2024_are_named(builtin, host, port, pool, tls):
    m = builtin.match_host(host)
    assert m is not None and m.pool == pool
    sub, ev = intel_subscores(host, None, "192.0.2.9", port, builtin)
    assert sub["pool_domain"] == 40.0 and sub["known_pool_port"] == 5.0
    assert ev[-1].data["tls"] is tls
