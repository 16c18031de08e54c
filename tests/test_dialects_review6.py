"""Capture fixes from the sixth (dialects and look-alikes) review, built with the project's generators.

Each test names the defect it guards (D1 ... D13 in the review): a weak content verdict switching the
timing detector off (D1), generic JSON-RPC names making a node (D11), proxies (D2, D9), NiceHash's
algorithm (D3), the hashrate family (D4), lone probes (D5), log shipping and Redis (D6), dialects that
echo `method` in replies (D7), wallets that cannot be checked (D8) and coin attribution (D12, D13).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from minewatch.model import Finding
from minewatch.net.pipeline import CaptureScanner
from minewatch.store.intel_tables import load_intel
from minewatch.synth.dialects_more import grin_stratum, rename_methods, with_keepalive
from minewatch.synth.pcapwriter import write_capture
from minewatch.synth.tcp import C2S, S2C, Msg, tcp_session
from test_dialects_stratum import run

T0 = 1_717_200_000.0
CLIENT = ("10.1.2.3", 50123)
SERVER = ("198.51.100.20", 3333)
#: The review's unknown dialect: Grin's session with every method renamed (nothing the parser knows).
UNKNOWN = {"login": "auth", "getjobtemplate": "template", "job": "work", "submit": "share", "keepalive": "alive"}


def scan_msgs(tmp_path: Path, *flows: tuple[list[Msg], tuple[str, int], tuple[str, int]], seed: int = 1) -> list[Finding]:
    """Write TCP flows (client, server) carrying `msgs` into a pcap and scan it like `minewatch scan`."""
    rng = random.Random(seed)
    pkts = []
    for msgs, cl, sv in flows:
        pkts.extend(tcp_session(cl, sv, sorted(msgs, key=lambda m: m[0]), T0, rng))
    pkts.sort(key=lambda p: p.ts_ns)
    path = write_capture(tmp_path / "cap.pcap", pkts)
    return CaptureScanner(load_intel(None)).scan_file(path)


def jl(obj: dict) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


# ---------------------------------------------------------------------------------------------- D1
def test_d1_login_shape_under_the_threshold_is_still_judged_by_timing(tmp_path):
    # A login with nothing specific to mining (30 points + both directions) and a work/share stream in
    # a dialect the parser does not know: the old pipeline dropped it and never asked the timing detector.
    s = grin_stratum(3600.0, random.Random(5), agent=None, keepalive=300.0)
    msgs = rename_methods(s.messages, {k: v for k, v in UNKNOWN.items() if k != "login"})
    (f,) = scan_msgs(tmp_path, (msgs, CLIENT, SERVER))
    assert f.kind == "mining" and f.score >= 50
    assert "net.behavior" in f.detector and "net.stratum" in f.detector
    assert f.worker is not None and "rig8" in f.worker  # the weak content verdict keeps its facts


def test_d1_generic_ping_keepalive_does_not_make_a_miner_a_node(tmp_path):
    s = grin_stratum(3600.0, random.Random(6), agent=None)
    msgs = rename_methods(s.messages, UNKNOWN)
    msgs = with_keepalive(msgs, 300.0, jl({"jsonrpc": "2.0", "method": "ping", "id": 99}), 3600.0)
    found = scan_msgs(tmp_path, (msgs, CLIENT, SERVER))
    assert [f.kind for f in found] == ["mining"]
    assert found[0].score >= 50 and found[0].detector == "net.behavior"


def test_d1_one_specific_node_call_in_a_miner_stream_does_not_hide_it(tmp_path):
    s = grin_stratum(3600.0, random.Random(7), agent=None)
    msgs = rename_methods(s.messages, UNKNOWN)
    msgs = with_keepalive(msgs, 600.0, jl({"jsonrpc": "2.0", "method": "getblockcount", "id": 98}), 3600.0)
    found = scan_msgs(tmp_path, (msgs, CLIENT, SERVER))
    assert [f.kind for f in found] == ["mining"]


# ---------------------------------------------------------------------------------------------- D11
def _app_rpc(methods: list[str]) -> list:
    msgs: list = [(0, 0.0, {"jsonrpc": "2.0", "id": 1, "method": "login",
                            "params": {"login": "alice@example.com", "pass": "pw"}}),
                  (1, 0.1, {"jsonrpc": "2.0", "id": 1, "result": {"token": "t"}})]  # fmt: skip
    for i, m in enumerate(methods, start=2):
        msgs.append((0, float(i), {"jsonrpc": "2.0", "id": i, "method": m, "params": {}}))
        msgs.append((1, i + 0.1, {"jsonrpc": "2.0", "id": i, "result": {"ok": True}}))
    return msgs


def test_d11_generic_json_rpc_names_alone_are_not_a_node():
    f = run(_app_rpc(["ping", "get_info", "transfer", "get_balance", "help", "tools/list"]))
    assert f.kind != "node"
    assert f.kind is None or f.score < 50  # the web-app log-in shape alone stays under the threshold


def test_d11_a_specific_node_method_still_makes_a_node_with_the_generic_ones_as_context():
    f = run(_app_rpc(["getblockchaininfo", "ping", "getbestblockhash"]))
    assert f.kind == "node" and f.variant == "node-jsonrpc"


def test_d11_node_rpc_polling_stays_node_when_timing_runs(tmp_path):
    msgs: list[Msg] = []
    for i in range(400):
        t = 10.0 * i
        msgs.append((t, C2S, jl({"jsonrpc": "1.0", "id": i, "method": "getblockcount", "params": []})))
        msgs.append((t + 0.01, S2C, jl({"result": 840000 + i // 60, "error": None, "id": i})))
    found = scan_msgs(tmp_path, (msgs, CLIENT, ("10.9.9.9", 8332)))
    assert [f.kind for f in found] == ["node"]


# ---------------------------------------------------------------------------------------------- D2, D9
PROXY = ("10.0.0.8", 3128)


def _xmrig(seed: int = 11, duration: float = 960.0):
    from minewatch.synth.dialects import xmrig

    return xmrig(duration, random.Random(seed), hashrate=9000.0, difficulty=50000.0, worker="node-12")


def test_d2_tls_mining_through_http_connect_names_the_pool(tmp_path):
    from minewatch.synth.dialects import over_tls
    from minewatch.synth.dialects_more import via_http_connect

    s = over_tls(_xmrig(), "pool.supportxmr.com", random.Random(1), port=443)
    (f,) = scan_msgs(tmp_path, (via_http_connect(s.messages, "pool.supportxmr.com:443"), CLIENT, PROXY))
    assert f.kind == "mining" and f.score >= 50
    assert f.pool_host == "pool.supportxmr.com" and f.sni == "pool.supportxmr.com"
    assert "pool_domain" in f.subscores
    assert any(e.code == "net.proxy.tunnel" and e.text_zh for e in f.evidence)


def test_d2_tls_mining_through_socks5_by_domain(tmp_path):
    from minewatch.synth.dialects import over_tls
    from minewatch.synth.dialects_more import via_socks5

    s = over_tls(_xmrig(12), "pool.supportxmr.com", random.Random(2), port=443)
    (f,) = scan_msgs(tmp_path, (via_socks5(s.messages, "pool.supportxmr.com", 443), CLIENT, ("10.0.0.8", 1080)))
    assert f.kind == "mining" and f.score >= 50
    assert f.pool_host == "pool.supportxmr.com"


def test_d9_plaintext_xmrig_through_http_connect_keeps_times_and_hashrate(tmp_path):
    from minewatch.synth.dialects_more import via_http_connect

    s = _xmrig(13, 1800.0)
    (f,) = scan_msgs(tmp_path, (via_http_connect(s.messages, "xmr.example-pool.net:3333"), CLIENT, PROXY))
    assert (f.kind, f.variant) == ("mining", "cryptonote-login")
    assert f.pool_host == "xmr.example-pool.net"
    assert f.shares_accepted == s.shares - s.rejected
    assert f.hashrate_hs is not None and abs(f.hashrate_hs / s.hashrate - 1) < 0.5
    # the pool's messages keep their own times (the old parser stamped them all at the session's end)
    login_reply = next(e for e in f.evidence if e.code == "net.msg.login (reply)")
    assert login_reply.ts is not None and login_reply.ts.timestamp() < T0 + 5


def test_d9_plaintext_xmrig_through_socks5_keeps_its_login(tmp_path):
    from minewatch.synth.dialects_more import via_socks5

    s = _xmrig(14, 1800.0)
    (f,) = scan_msgs(tmp_path, (via_socks5(s.messages, "xmr.example-pool.net", 3333), CLIENT, ("10.0.0.8", 1080)))
    assert (f.kind, f.variant) == ("mining", "cryptonote-login")
    assert (f.wallet, f.worker) == (s.wallet, "node-12")
    assert f.agent is not None and f.agent.startswith("XMRig")
    assert f.pool_host == "xmr.example-pool.net"


def test_d9_socks4a_and_proxy_protocol_v2_preambles():
    from test_dialects_stratum import stratum_v1_session

    socks4a = b"\x04\x01\x0d\x05\x00\x00\x00\x01user\x00btc.example-pool.net\x00"
    v2 = b"\r\n\r\n\x00\r\nQUIT\n" + b"\x21\x11\x00\x0c" + bytes([10, 1, 2, 7, 203, 0, 113, 5]) + b"\xc3\x50\x0d\x05"
    for pre_c, pre_s in ((socks4a, b"\x00\x5a\x0d\x05\x00\x00\x00\x00"), (v2, b"")):
        msgs = [(0, 0.0, pre_c)] + ([(1, 0.0, pre_s)] if pre_s else []) + stratum_v1_session()
        f = run(msgs, chunk=5)
        assert (f.kind, f.agent) == ("mining", "cgminer/4.10.0")
        assert f.worker == "rig07"


# ---------------------------------------------------------------------------------------------- D3, D4
def _as_run(msgs: list[Msg]) -> list:
    return [(0 if d == C2S else 1, t, b) for t, d, b in sorted(msgs, key=lambda m: m[0])]


def test_d3_nicehash_host_label_names_the_algorithm_not_the_btc_payout_wallet():
    from minewatch.net.coins import infer_coin

    for host, algo, family in (("kawpow.auto.nicehash.com", "kawpow", "kawpow"),
                               ("kheavyhash.auto.nicehash.com", "kheavyhash", "kheavyhash"),
                               ("scrypt.auto.nicehash.com", "scrypt", "scrypt"),
                               ("daggerhashimoto.eu.nicehash.com", "ethash", "ethash")):  # fmt: skip
        g = infer_coin(wallet_coin="bitcoin", hosts=(host,), variant="ethstratum-1")
        assert (g.coin, g.algorithm, g.family) == (None, algo, family), host
    # an ordinary BTC pool keeps its wallet's coin
    assert infer_coin(wallet_coin="bitcoin", hosts=("btc.example-pool.net",)).coin == "bitcoin"


def test_d3_nicehash_name_from_dns_replaces_the_wallet_coin_and_the_family():
    from minewatch.net.stratum import refine_with_pool_name
    from minewatch.synth.dialects import btc_bech32, stratum_v1

    rng = random.Random(21)
    s = stratum_v1(900.0, rng, flavor="nicehash", wallet=btc_bech32(rng), worker="gpu1",
                   hashrate=50e12, difficulty=32768.0)  # fmt: skip
    f = run(_as_run(s.messages), chunk=400)
    assert f.coin == "bitcoin"  # nothing but the BTC address so far
    refine_with_pool_name(f, "kheavyhash.auto.nicehash.com")
    assert (f.coin, f.algorithm) == (None, "kheavyhash")
    assert f.hashrate is not None and "[kheavyhash]" in f.hashrate.formula


def test_d4_cgminer_agent_does_not_claim_sha256d_and_a_later_pool_name_recomputes_the_hashrate():
    from minewatch.net.stratum import refine_with_pool_name
    from minewatch.synth.dialects import stratum_v1

    # a scrypt ASIC (cgminer-based firmware) with an account login: the generator's `hashrate` is the
    # Bitcoin-convention figure, so the scrypt truth is 2^16 times smaller
    s = stratum_v1(3600.0, random.Random(22), flavor="cgminer", wallet="alice", worker="l7",
                   hashrate=9.5e9 * 2**16, difficulty=2.0**21, block_time=150.0)  # fmt: skip
    truth = 9.5e9
    f = run(_as_run(s.messages), chunk=400)
    assert f.algorithm is None and f.coin is None
    assert f.hashrate is not None and any("assumed" in a for a in f.hashrate.assumptions)
    refine_with_pool_name(f, "us.litecoinpool.org")
    assert (f.coin, f.algorithm) == ("litecoin", "scrypt")
    assert f.hashrate is not None and "[scrypt]" in f.hashrate.formula
    assert abs(f.hashrate.hashrate_hs / truth - 1) < 0.35
    assert f.share_difficulty == 2.0**21


def test_d4_a_named_algorithm_without_a_known_convention_claims_no_family():
    from minewatch.net.stratum import refine_with_pool_name
    from minewatch.synth.dialects import stratum_v1

    s = stratum_v1(1800.0, random.Random(23), flavor="cgminer", wallet="bob", worker="cpu",
                   hashrate=1e6 * 2**16, difficulty=256.0)  # fmt: skip
    f = run(_as_run(s.messages), chunk=400)
    refine_with_pool_name(f, "yespower.example-pool.net")
    assert f.algorithm == "yespower"
    assert f.hashrate is None or "[sha256d]" not in f.hashrate.formula


# ---------------------------------------------------------------------------------------------- D5
def test_d5_a_lone_unsolicited_subscribe_is_no_mining_session(tmp_path):
    hello = jl({"id": 1, "method": "mining.subscribe", "params": []})
    reply = jl({"id": 1, "result": [[["mining.notify", "ab"]], "00", 4], "error": None})
    scanner = ("192.0.2.77", 40001)
    flows = [
        ([(0.0, C2S, hello)], scanner, ("10.20.0.6", 443)),  # a scanner, no answer
        ([(0.0, C2S, hello), (0.1, S2C, b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")],
         scanner, ("10.20.0.7", 80)),  # an internal web server answers with an error page
    ]  # fmt: skip
    for k in range(5):  # an uptime monitor: subscribe, the pool's answer, close, every minute
        flows.append(([(60.0 * k, C2S, hello), (60.0 * k + 0.05, S2C, reply)], ("10.30.0.9", 41000 + k), SERVER))
    assert scan_msgs(tmp_path, *flows) == []
    # the analyser marks such flows, and says so
    f = run([(0, 0.0, {"id": 1, "method": "mining.subscribe", "params": []})])
    assert f.probe_only


def test_d5_a_miner_trying_its_pool_list_keeps_its_lone_hellos(tmp_path):
    from minewatch.synth.dialects import stratum_v1

    s = stratum_v1(600.0, random.Random(31), flavor="cgminer", worker="r1", difficulty=8192.0, hashrate=14e12)
    hello = jl({"id": 1, "method": "mining.subscribe", "params": ["cgminer/4.10.0"]})
    found = scan_msgs(tmp_path, (s.messages, CLIENT, SERVER),
                      ([(0.0, C2S, hello)], (CLIENT[0], 50200), ("198.51.100.99", 3333)))  # fmt: skip
    assert sorted(f.dst_ip for f in found if f.kind == "mining") == ["198.51.100.20", "198.51.100.99"]
    lone = next(f for f in found if f.dst_ip == "198.51.100.99")
    assert any(e.code == "net.stratum.hello_of_a_miner" and e.text_zh for e in lone.evidence)


def test_d5_minewatch_own_probe_is_no_mining_session_even_when_a_pool_sends_work():
    from minewatch.net.probe import PROBE_AGENT

    job = {"blob": "0" * 152, "job_id": "1", "target": "b88d0600"}
    f = run([(0, 0.0, {"id": 1, "jsonrpc": "2.0", "method": "login",
                       "params": {"login": "minewatch-probe", "pass": "x", "agent": PROBE_AGENT, "algo": ["rx/0"]}}),
             (1, 0.1, {"id": 1, "jsonrpc": "2.0", "error": None, "result": {"id": "x", "job": job, "status": "OK"}})])  # fmt: skip
    assert f.score < 50


def test_d5_a_real_session_keeps_its_score():
    from test_dialects_stratum import stratum_v1_session

    assert run(stratum_v1_session()).score >= 90
    # a log-in and work but the capture ended before the first share: still mining
    f = run(stratum_v1_session(n_shares=0))
    assert f.kind == "mining" and f.score >= 75


# ---------------------------------------------------------------------------------------------- D6
def test_d6_json_log_records_naming_stratum_methods_are_not_mining():
    msgs = []
    for i in range(30):
        rec = {"time": f"2024-06-01T00:{i:02d}:00Z", "level": "info", "msg": "share accepted",
               "method": "mining.submit", "worker": "rig3", "diff": 65536}  # fmt: skip
        msgs.append((0, 60.0 * i, rec))
        msgs.append((0, 60.0 * i + 1, {"time": "t", "level": "debug", "method": "mining.notify", "job": "j"}))
    f = run(msgs)
    assert f.kind is None or f.score < 50


def _resp(*parts: bytes) -> bytes:
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


def test_d6_redis_publish_of_stratum_json_is_not_mining():
    msgs = []
    for i in range(20):
        sub = json.dumps({"id": i, "method": "mining.submit", "params": ["acct.rig1", "j1", "00", "5f5e1000", "ab"]})
        note = json.dumps({"id": None, "method": "mining.notify", "params": ["j1", "00" * 32, "c1", "c2", [], "2", "1", "5", True]})
        msgs.append((0, 10.0 * i, _resp(b"PUBLISH", b"shares", sub.encode())))
        msgs.append((1, 10.0 * i + 0.001, b":1\r\n"))
        msgs.append((0, 10.0 * i + 1, _resp(b"PUBLISH", b"jobs", note.encode())))
        msgs.append((1, 10.0 * i + 1.001, b":3\r\n"))
    f = run(msgs)
    assert f.kind is None or f.score < 50


# ---------------------------------------------------------------------------------------------- D8, D12, D13
def _ergo_p2pk(rng: random.Random) -> str:
    import hashlib

    from minewatch.synth.dialects import b58encode

    body = b"\x01" + b"\x02" + rng.randbytes(32)  # mainnet P2PK, a compressed public key
    return b58encode(body + hashlib.blake2b(body, digest_size=32).digest()[:4])


def _salvium(rng: random.Random) -> str:
    from minewatch.synth.dialects import keccak256, monero_b58

    prefix, n = bytearray(), 0x3EF318  # Salvium's public address prefix (varint)
    while n >= 0x80:
        prefix.append(n & 0x7F | 0x80)
        n >>= 7
    body = bytes(prefix) + bytes([n]) + rng.randbytes(64)
    return monero_b58(body + keccak256(body)[:4])


def test_d8_ergo_alephium_salvium_addresses_are_wallets_not_checksum_failures():
    from minewatch.net.wallets import split_login, validate_address
    from minewatch.synth.dialects import b58encode

    rng = random.Random(41)
    ergo, salvium = _ergo_p2pk(rng), _salvium(rng)
    alephium = b58encode(b"\x00" + rng.randbytes(32))
    assert ergo.startswith("9") and salvium.startswith("SaLv") and alephium.startswith("1")
    for addr, coin in ((ergo, "ergo"), (alephium, "alephium"), (salvium, "salvium")):
        a = validate_address(addr)
        assert a is not None and a.coin == coin, addr
        p = split_login(f"{addr}.rig5")
        assert (p.wallet, p.worker, p.invalid_candidate) == (addr, "rig5", None)
    assert validate_address(alephium).checked == "format"  # no checksum exists: said so
    broken = ergo[:-2] + ("1" if ergo[-2] != "1" else "2") + ergo[-1]
    assert validate_address(broken) is None


def test_d8_an_address_of_an_unknown_form_is_unchecked_not_invalid():
    from minewatch.net.wallets import split_login

    rng = random.Random(42)
    from minewatch.synth.dialects import b58encode

    unknown = b58encode(b"\x07" + rng.randbytes(40))  # base58 of a form no coin here uses
    p = split_login(f"{unknown}.rig1")
    assert p.invalid_candidate is None and p.unchecked_candidate == unknown and p.worker == "rig1"
    f = run([(0, 0.0, {"id": 1, "method": "mining.authorize", "params": [f"{unknown}.rig1", "x"]})])
    assert not any(e.code == "net.wallet.invalid" for e in f.evidence)
    assert any(e.code == "net.wallet.unchecked" and e.text_zh for e in f.evidence)
    # a Bitcoin-form address with a broken checksum is still called so
    assert split_login("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb.rig").invalid_candidate is not None


def test_d8_xmrig_rx0_with_a_salvium_wallet_is_not_monero():
    s = _xmrig(43, 600.0)
    sal = _salvium(random.Random(44))
    msgs = [(t, d, b.replace(s.wallet.encode(), sal.encode())) for t, d, b in s.messages]
    f = run(_as_run(msgs), chunk=500)
    assert (f.coin, f.wallet) == ("salvium", sal)


def test_d13_cashaddr_and_conflux_addresses_are_wallets_and_the_rest_is_the_worker():
    from minewatch.net.wallets import split_login

    # public test vectors: the CashAddr specification and Conflux CIP-37
    bch = "bitcoincash:qpm2qsznhks23z7629mms6s4cwef74vcwvy22gdx6a"
    cfx = "cfx:aak2rra2njvd77ezwjvx04kkds9fzagfe6ku8scz91"
    p = split_login(f"{bch}.s9")
    assert (p.wallet, p.coin, p.worker) == (bch, "bitcoin-cash", "s9")
    p = split_login(f"{cfx}.rig10")
    assert (p.wallet, p.coin, p.worker) == (cfx, "conflux", "rig10")
    assert split_login(bch[:-1] + "b").wallet is None


def test_d13_p2pool_placeholder_login_with_difficulty_has_no_worker():
    from minewatch.net.wallets import split_login

    assert split_login("x+50000").worker is None
    assert split_login("rig3+50000").worker == "rig3"


def test_d13_a_t1_address_on_a_flux_pool_mines_flux():
    from minewatch.net.coins import infer_coin

    g = infer_coin(wallet_coin="zcash", hosts=("flux.example-pool.net",))
    assert (g.coin, g.algorithm) == ("flux", "zelhash")
    assert infer_coin(wallet_coin="zcash", hosts=("zec.example-pool.net",)).coin == "zcash"


# ---------------------------------------------------------------------------------------------- D7
def test_d7_grin_session_with_replies_that_echo_the_method():
    s = grin_stratum(900.0, random.Random(51), reject_rate=0.2, keepalive=120.0)
    f = run(_as_run(s.messages), chunk=300)
    assert (f.kind, f.coin, f.algorithm) == ("mining", "grin", "cuckatoo32")
    assert f.score >= 75
    assert (f.submitted, f.shares_accepted, f.shares_rejected) == (s.shares, s.shares - s.rejected, s.rejected)
    assert f.hashrate is None  # graphs per second: not derived, and not claimed in hashes


def test_d7_beam_stratum_top_level_fields_and_result_codes():
    rng = random.Random(52)
    msgs: list = [(0, 0.0, {"method": "login", "api_key": "a" * 64, "id": "login", "jsonrpc": "2.0"}),
                  (1, 0.1, {"method": "result", "id": "login", "code": 0, "description": "Login successful",
                            "jsonrpc": "2.0"})]  # fmt: skip
    for j in range(6):
        jid = str(100 + j)
        msgs.append((1, 1.0 + 60 * j, {"difficulty": 92000000, "id": jid, "input": rng.randbytes(32).hex(),
                                       "jsonrpc": "2.0", "method": "job", "height": 1_900_000 + j}))  # fmt: skip
        msgs.append((0, 30.0 + 60 * j, {"id": jid, "method": "solution", "nonce": rng.randbytes(8).hex(),
                                        "output": rng.randbytes(104).hex(), "jsonrpc": "2.0"}))  # fmt: skip
        ok = j != 3
        msgs.append((1, 30.1 + 60 * j, {"method": "result", "id": jid, "code": 0 if ok else -32003,
                                        "description": "accepted" if ok else "stale", "jsonrpc": "2.0"}))  # fmt: skip
    f = run(msgs)
    assert (f.kind, f.coin) == ("mining", "beam") and f.score >= 75
    assert (f.submitted, f.shares_accepted, f.shares_rejected) == (6, 5, 1)


def test_d7_alephium_reference_pool_submit_with_named_params_and_method_in_the_reply():
    from minewatch.synth.dialects import b58encode

    addr = b58encode(b"\x00" + random.Random(53).randbytes(32))
    msgs: list = [(1, 0.0, {"id": None, "method": "mining.set_difficulty", "params": [1.0]})]
    for j in range(5):
        jobs = [{"jobId": f"{j}-{g}", "fromGroup": g // 4, "toGroup": g % 4, "headerBlob": "00" * 40,
                 "txsBlob": "", "targetBlob": "00ff" + "ff" * 30, "height": 100 + j} for g in range(16)]  # fmt: skip
        msgs.append((1, 1.0 + 40 * j, {"id": None, "method": "mining.notify", "params": jobs}))
        msgs.append((0, 20.0 + 40 * j, {"id": 10 + j, "method": "mining.submit",
                                        "params": {"jobId": f"{j}-3", "fromGroup": 0, "toGroup": 3,
                                                   "nonce": "ab" * 24, "worker": f"{addr}.rig6"}}))  # fmt: skip
        msgs.append((1, 20.1 + 40 * j, {"id": 10 + j, "method": "mining.submit_result", "result": True}))
    f = run(msgs)
    assert (f.coin, f.wallet, f.worker) == ("alephium", addr, "rig6")
    assert (f.submitted, f.shares_accepted) == (5, 5)


# ---------------------------------------------------------------------------------------------- D12, D14
def test_d12_conflux_rejections_and_the_boundary_in_notify():
    rng = random.Random(61)
    boundary = 2**256 // 2**30  # difficulty 2^30 hashes per share, written without leading zeros
    msgs: list = [(0, 0.0, {"id": 1, "method": "mining.subscribe", "params": ["cfxmine", ""]}),
                  (1, 0.1, {"id": 1, "result": True})]  # fmt: skip
    t = 1.0
    for j in range(12):
        msgs.append((1, t, {"jsonrpc": "2.0", "method": "mining.notify",
                            "params": ["0x" + rng.randbytes(32).hex(), "0x" + rng.randbytes(32).hex(), hex(boundary)]}))  # fmt: skip
        msgs.append((0, t + 5, {"id": 10 + j, "method": "mining.submit",
                                "params": ["cfxmine", "0x" + rng.randbytes(8).hex(), "0x" + rng.randbytes(8).hex()]}))  # fmt: skip
        res = ["false", "invalid nonce"] if j % 3 == 0 else True
        msgs.append((1, t + 5.1, {"id": 10 + j, "result": res}))
        t += 30.0
    f = run(msgs)
    assert (f.shares_accepted, f.shares_rejected) == (8, 4)
    # accepted shares at t = 36 ... 336 (the first at 6 is rejected): 7 intervals of 2^30 hashes
    assert f.hashrate is not None
    assert abs(f.hashrate.hashrate_hs / (7 * 2**30 / 300.0) - 1) < 0.15


def test_d14_kawpow_target_only_in_notify_params():
    rng = random.Random(62)
    target = "00000000ffff" + "0" * 52  # 2^256 / target = 2^32 / 0.99998: difficulty about 1
    msgs: list = [(0, 0.0, {"id": 1, "method": "mining.subscribe", "params": ["T-Rex/0.26.8"]}),
                  (1, 0.1, {"id": 1, "result": [None, "a1b2"], "error": None})]  # fmt: skip
    for j in range(10):
        t = 1.0 + 20 * j
        msgs.append((1, t, {"id": None, "method": "mining.notify",
                            "params": [f"{j:x}", rng.randbytes(32).hex(), rng.randbytes(32).hex(), target, True, 3_000_000 + j, "1b00ffff"]}))  # fmt: skip
        msgs.append((0, t + 10, {"id": 100 + j, "method": "mining.submit", "params": ["rig3", f"{j:x}", "0x" + rng.randbytes(8).hex()]}))
        msgs.append((1, t + 10.1, {"id": 100 + j, "result": True, "error": None}))
    f = run(msgs)
    assert f.share_difficulty is not None and abs(f.share_difficulty - 1.0) < 0.01
    assert f.hashrate is not None
    # a bitcoin-style notify (prevhash little-endian, no target) is not read as one
    from test_dialects_stratum import stratum_v1_session

    g = run([m for m in stratum_v1_session() if not (isinstance(m[2], dict) and m[2].get("method") == "mining.set_difficulty")])
    assert g.share_difficulty is None


# ---------------------------------------------------------------------------------------------- D10
def test_d10_stratum_tunnelled_in_websocket_frames(tmp_path):
    from minewatch.synth.dialects import stratum_v1
    from minewatch.synth.dialects_more import via_websocket

    s = stratum_v1(1200.0, random.Random(71), flavor="cgminer", worker="r1", difficulty=8192.0, hashrate=14e12)
    (f,) = scan_msgs(tmp_path, (via_websocket(s.messages, "ws.example.net:8080", random.Random(1)), CLIENT,
                                ("198.51.100.30", 8080)))  # fmt: skip
    assert (f.kind, f.variant, f.worker) == ("mining", "stratum-v1", "r1")
    assert f.shares_accepted == s.shares - s.rejected
    assert f.hashrate_hs is not None and abs(f.hashrate_hs / s.hashrate - 1) < 0.5


def test_d10_browser_miner_type_keyed_messages_in_websocket_frames():
    from minewatch.synth.dialects_more import ws_frame

    rng = random.Random(72)
    up = (b"GET /proxy HTTP/1.1\r\nHost: ws.example-cdn.net\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          b"Sec-WebSocket-Version: 13\r\nUser-Agent: Mozilla/5.0\r\n\r\n")  # fmt: skip
    msgs: list = [(0, 0.0, up), (1, 0.05, b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"),
                  (0, 0.1, ws_frame(jl({"type": "auth", "params": {"site_key": "SK1", "type": "anonymous", "user": None}}), rng, True))]  # fmt: skip
    for j in range(4):
        job = {"job_id": f"j{j}", "blob": "0e0e" + rng.randbytes(74).hex(), "target": "ffffff00", "algo": "cn/r"}
        msgs.append((1, 1.0 + 60 * j, ws_frame(jl({"type": "job", "params": job}), rng, False)))
        for k in range(2):
            t = 20.0 + 60 * j + 20 * k
            sub = {"job_id": f"j{j}", "nonce": rng.randbytes(4).hex(), "result": rng.randbytes(32).hex()}
            msgs.append((0, t, ws_frame(jl({"type": "submit", "params": sub}), rng, True)))
            msgs.append((1, t + 0.05, ws_frame(jl({"type": "hash_accepted", "params": {"hashes": 256}}), rng, False)))
    f = run(msgs, chunk=11)
    assert (f.kind, f.variant) == ("mining", "cryptonote-login") and f.score >= 75
    assert (f.submitted, f.shares_accepted) == (8, 8)
    assert abs(f.share_difficulty - 256.0) < 0.01  # target ffffff00: 2^32 / 0x00ffffff


def test_d10_web3_subscription_over_websocket_is_node_traffic_with_the_client_as_source():
    from minewatch.synth.dialects_more import ws_frame

    rng = random.Random(73)
    up = b"GET / HTTP/1.1\r\nHost: node.example:8546\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    msgs: list = [(0, 0.0, up), (1, 0.01, b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"),
                  (0, 0.1, ws_frame(jl({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["newHeads"]}), rng, True)),
                  (1, 0.2, ws_frame(jl({"jsonrpc": "2.0", "id": 1, "result": "0x9ce5"}), rng, False))]  # fmt: skip
    for k in range(20):
        head = {"subscription": "0x9ce5", "result": {"number": hex(19_000_000 + k), "hash": "0x" + rng.randbytes(32).hex()}}
        msgs.append((1, 12.0 * (k + 1), ws_frame(jl({"jsonrpc": "2.0", "method": "eth_subscription", "params": head}), rng, False)))
    f = run(msgs)
    assert f.kind == "node" and f.client_is_src is True


# ---------------------------------------------------------------------------------------------- D14 (minor)
def test_d14_getwork_long_poll_connection_is_mining():
    work = {"midstate": "00" * 32, "data": "01" * 128, "hash1": "00" * 64, "target": "ff" * 28 + "00000000"}
    body = json.dumps({"result": work, "error": None, "id": 0}).encode()
    get = (b"GET /LP HTTP/1.1\r\nHost: pool.example.net:8332\r\nUser-Agent: bfgminer/5.5.0\r\n"
           b"X-Mining-Extensions: longpoll midstate rollntime submitold\r\n\r\n")  # fmt: skip
    msgs = [
        (0, 0.0, get),
        (1, 300.0, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body),
    ]
    f = run(msgs)
    assert (f.kind, f.variant) == ("mining", "getwork-http") and f.score >= 50
    assert f.share_difficulty is not None and abs(f.share_difficulty - 1.0) < 1e-6


def test_d14_string_ids_echoed_as_numbers_still_match():
    from test_dialects_stratum import stratum_v1_session

    msgs = []
    for d, t, m in stratum_v1_session():
        if isinstance(m, dict) and isinstance(m.get("id"), int):
            m = dict(m, id=str(m["id"])) if d == 0 else m
        msgs.append((d, t, m))
    f = run(msgs)
    assert (f.shares_accepted, f.shares_rejected) == (5, 1)  # as with matching ids


def test_d2_a_connect_refused_with_407_then_retried_still_opens_the_tunnel(tmp_path):
    """After a 407 the proxy state stayed 'connect': the retried CONNECT was not recognised, the TLS
    handshake was read as text and the pool's name was lost (review 6 diff)."""
    from minewatch.synth.dialects import over_tls
    from minewatch.synth.dialects_more import via_http_connect

    s = over_tls(_xmrig(), "pool.supportxmr.com", random.Random(1), port=443)
    msgs = via_http_connect(s.messages, "pool.supportxmr.com:443")
    t0 = msgs[0][0] - 0.5
    body = b"<html><body>Proxy Authentication Required</body></html>\n"
    refused = [
        (t0, C2S, b"CONNECT pool.supportxmr.com:443 HTTP/1.1\r\nHost: pool.supportxmr.com:443\r\n\r\n"),
        (t0 + 0.02, S2C, b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n"
                         b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body),
    ]
    (f,) = scan_msgs(tmp_path, (refused + msgs, CLIENT, PROXY))
    assert f.kind == "mining" and f.sni == "pool.supportxmr.com" and f.pool_host == "pool.supportxmr.com"
