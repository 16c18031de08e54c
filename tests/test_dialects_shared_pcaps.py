"""The analyser on the real public captures in ../shared/data/pcap, checked against labels.csv."""

from __future__ import annotations

import csv
import hashlib
from collections import Counter

import pytest

from minewatch.net.stratum import SessionAnalyzer

FILES = [
    "nesfit__eth-eu1.nanopool.org.pcapng",
    "nesfit__pool.eth.pp.ua.pcapng",
    "nesfit__xmr-eu1.nanopool.org.pcapng",
    "nesfit__xmr.suprnova.cc.pcapng",
    "nesfit__zec-eu.suprnova.cc.pcapng",
    "nesfit__zec-eu1.nanopool.org.pcapng",
    "nesfit__cgminer.s2.pcapng",
    "ndpi__bitcoin.pcap",
    "ndpi__monero.pcap",
    "peafowl__ethereum-js-http.pcap",
]
#: labels.csv names HTTP getblocktemplate sessions "getwork-http"; our finer split maps back.
SAME = {"getblocktemplate-http": "getwork-http", "discovery-udp": "devp2p"}


def _scan(path):
    engine_mod = pytest.importorskip("minewatch.net.engine")
    pcap_mod = pytest.importorskip("minewatch.sources.pcap")
    out: dict[tuple, object] = {}
    live: dict[int, SessionAnalyzer] = {}

    def consumer(info):
        if info.transport in ("tcp", "udp"):
            a = SessionAnalyzer(info)
            live[id(info)] = a
            return a
        return None

    def end(summary):
        a = live.pop(id(summary.info), None)
        if a is not None:
            i = summary.info
            key = frozenset({(i.src_ip, i.src_port), (i.dst_ip, i.dst_port)})
            out[key] = a.facts()

    eng = engine_mod.FlowEngine(consumer, on_flow_end=end)
    eng.process(pcap_mod.open_capture(path))
    eng.finish()
    return out


@pytest.mark.shared
@pytest.mark.parametrize("name", FILES)
def test_labelled_sessions(shared, name):
    path = shared / "pcap" / name
    if not path.exists():
        pytest.skip(f"{name} absent from the shared data")
    with open(shared / "pcap" / "labels.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["file_name"] == name]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if rows and rows[0]["file_sha256"] != digest:
        pytest.skip(f"{name} differs from the labelled version")
    facts = _scan(path)
    checked = Counter()
    for r in rows:
        if r["label"] not in ("mining", "node") or r["variant"] in (
            "",
            "unknown",
            "nano-p2p",
            "zug-consensus",
        ):
            continue
        key = frozenset({(r["src_ip"], int(r["src_port"])), (r["dst_ip"], int(r["dst_port"]))})
        f = facts.get(key)
        assert f is not None, f"flow {r['src_ip']}:{r['src_port']} not seen"
        assert f.kind == r["label"], (key, f.kind, f.variant)
        assert SAME.get(f.variant, f.variant) == r["variant"]
        if f.kind == "mining":
            assert f.client_is_src is not False and f.score >= 50
        checked[r["label"]] += 1
    assert sum(checked.values()) > 0
    # Nothing else in these files is called mining.
    labelled_mining = {
        frozenset({(r["src_ip"], int(r["src_port"])), (r["dst_ip"], int(r["dst_port"]))})
        for r in rows
        if r["label"] == "mining"
    }
    for key, f in facts.items():
        if f.kind == "mining":
            assert key in labelled_mining


@pytest.mark.shared
def test_session_facts_from_real_captures(shared):
    p = shared / "pcap"
    if not (p / "nesfit__zec-eu1.nanopool.org.pcapng").exists():
        pytest.skip("nesfit captures absent")
    (z,) = _scan(p / "nesfit__zec-eu1.nanopool.org.pcapng").values()
    assert (z.coin, z.agent, z.worker) == ("zcash", "equihashminer", "kvetak")
    assert z.wallet_type == "zcash-p2pkh" and z.pool_host == "zec-eu1.nanopool.org"
    assert z.hashrate is not None and z.hashrate.unit == "Sol/s"
    (x,) = _scan(p / "nesfit__xmr-eu1.nanopool.org.pcapng").values()
    assert (x.variant, x.agent, x.wallet_type) == ("cryptonote-login", "xmr/1.0", "monero-standard")
    assert x.share_difficulty == pytest.approx(2**32 / 0xBA69)
    (e,) = _scan(p / "nesfit__eth-eu1.nanopool.org.pcapng").values()
    assert (e.variant, e.worker) == ("ethproxy", "kvetak.worker1")
    assert e.wallet == "0x9c99d212f7e5daa18ab50810e0fd255d1f04303b"
