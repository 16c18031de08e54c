"""Every dialect in both directions, chunked arbitrarily, with gaps and mid-session starts; negatives."""

from __future__ import annotations

import gzip
import json
import os
import struct
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minewatch.net.stratum import MAX_LINE, SessionAnalyzer, refine_with_pool_name
from minewatch.net.tls import parse_client_hello

XMR = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A"
BTC = "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"


def info(dport: int = 3333, sport: int = 50000, certain: bool = True, transport: str = "tcp"):
    return SimpleNamespace(
        src_ip="10.1.2.7",
        src_port=sport,
        dst_ip="203.0.113.5",
        dst_port=dport,
        transport=transport,
        first_ts=0.0,
        direction_certain=certain,
    )


def run(msgs, chunk: int = 7, **kw):
    """msgs: (direction, ts, bytes | dict | 'GAP'); dicts are sent as one JSON line."""
    a = SessionAnalyzer(info(**kw))
    for d, ts, m in msgs:
        if m == "GAP":
            a.gap(d, ts)
            continue
        data = (json.dumps(m) + "\n").encode() if isinstance(m, dict) else m
        for i in range(0, len(data), chunk):
            a.feed(d, ts, data[i : i + chunk])
    a.close()
    return a.facts()


def stratum_v1_session(n_shares: int = 6, diff: float = 1024.0):
    msgs = [
        (0, 0.0, {"id": 1, "method": "mining.subscribe", "params": ["cgminer/4.10.0"]}),
        (
            1,
            0.1,
            {"id": 1, "result": [[["mining.notify", "ae6812eb4cd7735a"]], "08000002", 4], "error": None},
        ),
        (0, 0.2, {"id": 2, "method": "mining.authorize", "params": [f"{BTC}.rig07", "x"]}),
        (1, 0.3, {"id": 2, "result": True, "error": None}),
        (1, 0.4, {"id": None, "method": "mining.set_difficulty", "params": [diff]}),
        (
            1,
            0.5,
            {
                "id": None,
                "method": "mining.notify",
                "params": ["j1", "00" * 32, "c1", "c2", [], "20000000", "1d00ffff", "5f5e1000", True],
            },
        ),
        (
            1,
            30.0,
            {
                "id": None,
                "method": "mining.notify",
                "params": ["j2", "00" * 32, "c1", "c2", [], "20000000", "1d00ffff", "5f5e1001", False],
            },
        ),
    ]
    for i in range(n_shares):
        t = 10.0 + 40.0 * i
        msgs.append(
            (
                0,
                t,
                {
                    "params": [f"{BTC}.rig07", "j1", "00000001", "5f5e1000", "abcdef01"],
                    "id": 100 + i,
                    "method": "mining.submit",
                },
            )
        )
        ok = i != 2
        msgs.append(
            (
                1,
                t + 0.05,
                {"id": 100 + i, "result": ok, "error": None if ok else [23, "Low difficulty share", None]},
            )
        )
    return msgs


@pytest.mark.parametrize("chunk", [1, 3, 64, 100000])
def test_stratum_v1_full_session(chunk):
    f = run(stratum_v1_session(), chunk=chunk)
    assert (f.kind, f.variant) == ("mining", "stratum-v1")
    assert f.agent == "cgminer/4.10.0"
    assert (f.wallet, f.worker, f.wallet_type) == (BTC, "rig07", "bitcoin-p2pkh")
    assert (f.submitted, f.shares_accepted, f.shares_rejected) == (6, 5, 1)
    assert f.share_difficulty == 1024.0
    assert f.client_is_src is True
    assert f.coin == "bitcoin" and f.algorithm == "sha256d"  # from the wallet; cgminer alone names no coin
    assert f.subscores["protocol"] == 60.0 and f.subscores["both_directions"] == 15.0
    assert f.score >= 90
    # 5 accepted shares at t=10,50,130,170,210 -> shares 2..5 carry 4 x 1024 x 2^32 over 200 s
    assert f.hashrate is not None
    assert f.hashrate.hashrate_hs == pytest.approx(4 * 1024 * 2**32 / 200.0)
    rejected = [e for e in f.share_events if e[2] is False]
    assert len(rejected) == 1 and rejected[0][0] == 90.0
    auth = [e for e in f.evidence if e.code == "net.msg.mining.authorize"]
    assert auth and "10.1.2.7 sent mining.authorize for worker 'rig07'" in auth[0].text
    assert auth[0].text.split(" at ")[0].endswith("to 203.0.113.5:3333") and auth[0].text_zh and "矿工名" in auth[0].text_zh
    assert auth[0].text.endswith(f" at {auth[0].ts:%Y-%m-%d %H:%M:%S} UTC")  # when, as an inspector needs it
    assert auth[0].data["raw"].startswith("{")


def test_crlf_spaces_and_key_order():
    raw = b'  {"params" : ["bmminer/2.0.0"] , "method" : "mining.subscribe", "id" : 1}\r\n'
    f = run([(0, 0.0, raw), (1, 0.1, b'{"result":true,"id":1,"error":null}\r\n')])
    assert f.variant == "stratum-v1" and f.agent == "bmminer/2.0.0"


def test_mid_session_server_only_reversed_direction():
    """Capture starts mid-session; the engine guessed the pool as src (it sends mining.notify)."""
    notify = {
        "id": None,
        "method": "mining.notify",
        "params": ["j9", "00", "c1", "c2", [], "2", "1", "5", False],
    }
    tail = b'"partial line from before the capture"}\n'
    f = run([(0, 0.0, "GAP"), (0, 0.0, tail + (json.dumps(notify) + "\n").encode())], certain=False)
    assert (f.kind, f.variant) == ("mining", "stratum-v1")
    assert f.client_is_src is False
    assert f.lines_bad == 0  # the truncated fragment after the gap is not counted


def test_gap_inside_session_resyncs():
    msgs = stratum_v1_session(n_shares=2)
    msgs.insert(3, (0, 0.25, b'{"id": 77, "method": "mining.sub'))
    msgs.insert(4, (0, 0.26, "GAP"))
    f = run(msgs)
    assert f.variant == "stratum-v1" and f.worker == "rig07"


def test_overlong_line_dropped_and_counted():
    big = b'{"id": 5, "method": "mining.subscribe", "params": ["' + b"A" * (MAX_LINE + 10) + b'"]}\n'
    f = run(
        [(0, 0.0, big), (0, 1.0, {"id": 6, "method": "mining.authorize", "params": ["rig", "x"]})], chunk=4096
    )
    assert f.lines_overflow == 1
    assert f.variant == "stratum-v1" and f.worker == "rig"


def test_ethproxy_worker_first():
    msgs = [
        (
            0,
            0.0,
            b'{"worker": "eth1.0", "jsonrpc": "2.0", "params": ["0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed.rig1", "x"], "id": 2, "method": "eth_submitLogin"}\n',
        ),
        (1, 0.1, b'{"jsonrpc":"2.0","id":2,"result":true}\n'),
        (0, 1.0, b'{"worker": "", "jsonrpc": "2.0", "params": [], "id": 3, "method": "eth_getWork"}\n'),
        (
            1,
            1.1,
            (
                '{"jsonrpc":"2.0","id":0,"result":["0x'
                + "11" * 32
                + '","0x'
                + "22" * 32
                + '","0x00000000ffff'
                + "0" * 52
                + '"]}\n'
            ).encode(),
        ),
        (
            0,
            2.0,
            b'{"id":6,"jsonrpc":"2.0","method":"eth_submitHashrate","params":["0x1d08a61", "0x'
            + b"0" * 64
            + b'"]}\n',
        ),
    ]
    f = run(msgs, dport=9999)
    assert (f.kind, f.variant) == ("mining", "ethproxy")
    assert f.wallet == "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed" and f.wallet_type == "ethereum-account"
    assert f.worker == "rig1"
    assert f.reported_hashrate_hs == pytest.approx(0x1D08A61)
    assert f.share_work_hashes == pytest.approx(2**256 / int("00000000ffff" + "0" * 52, 16))
    assert f.subscores["wallet"] == 10.0  # mixed-case EIP-55 verified


def test_ethstratum_1():
    msgs = [
        (
            0,
            0.0,
            {"id": 1, "method": "mining.subscribe", "params": ["ethminer/0.19.0", "EthereumStratum/1.0.0"]},
        ),
        (
            1,
            0.1,
            {
                "id": 1,
                "result": [["mining.notify", "ae6812eb4cd7735a", "EthereumStratum/1.0.0"], "080c"],
                "error": None,
            },
        ),
        (
            0,
            0.2,
            {
                "id": 2,
                "method": "mining.authorize",
                "params": ["0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB.w1", "x"],
            },
        ),
        (1, 0.3, {"id": None, "method": "mining.set_difficulty", "params": [0.5]}),
    ]
    f = run(msgs)
    assert f.variant == "ethstratum-1" and f.algorithm == "ethash"
    assert f.share_work_hashes == pytest.approx(0.5 * 2**32)


def _gz(obj) -> bytes:
    return gzip.compress((json.dumps(obj) + "\n").encode())


@pytest.mark.parametrize("chunk", [5, 1000])
def test_ethstratum_2_gzip(chunk):
    msgs = [
        (
            0,
            0.0,
            {
                "id": 0,
                "method": "mining.hello",
                "params": {
                    "agent": "ethminer-0.19",
                    "host": "eu1.examplepool.org",
                    "port": "d05",
                    "proto": "EthereumStratum/2.0.0",
                },
            },
        ),
        (
            1,
            0.1,
            {
                "id": 0,
                "result": {
                    "proto": "EthereumStratum/2.0.0",
                    "encoding": "gzip",
                    "resume": "1",
                    "timeout": "b4",
                    "maxerrors": "5",
                    "node": "Geth/v1.8.18",
                },
            },
        ),
        (0, 0.2, _gz({"id": 1, "method": "mining.subscribe"})),
        (1, 0.3, _gz({"id": 1, "result": "s-12345"})),
        (
            0,
            0.4,
            _gz(
                {
                    "id": 2,
                    "method": "mining.authorize",
                    "params": ["0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359.rig9", "x"],
                }
            ),
        ),
        (
            1,
            0.5,
            _gz({"id": 2, "result": "w1"})
            + _gz({"method": "mining.set", "params": {"algo": "etchash", "target": "0x00000001"}}),
        ),
    ]
    for i in range(4):
        msgs.append(
            (
                0,
                10.0 + 30 * i,
                _gz(
                    {
                        "id": 10 + i,
                        "method": "mining.submit",
                        "params": ["bf0488aa", "0xa60b68765fccd712", "w1"],
                    }
                ),
            )
        )
        msgs.append((1, 10.1 + 30 * i, _gz({"id": 10 + i})))
    f = run(msgs, chunk=chunk)
    assert f.variant == "ethstratum-2" and f.gzip_switched
    assert f.agent == "ethminer-0.19" and f.pool_host == "eu1.examplepool.org"
    assert f.wallet == "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359" and f.worker == "rig9"
    assert f.coin == "ethereum-classic"
    assert (f.submitted, f.shares_accepted, f.shares_rejected) == (4, 4, 0)
    assert any(e.code == "net.ethstratum2.gzip" for e in f.evidence)
    assert f.hashrate is not None and f.hashrate.hashrate_hs == pytest.approx(3 * 2**256 / 1 / 90.0)


def test_cryptonote_xmrig_and_agentless():
    login = {
        "id": 1,
        "jsonrpc": "2.0",
        "method": "login",
        "params": {"login": XMR, "pass": "rig42", "agent": "XMRig/6.21.0 (Linux x86_64)", "algo": ["rx/0"]},
    }
    job = {
        "blob": "0707" + "ab" * 38,
        "job_id": "j1",
        "target": "b88d0600",
        "algo": "rx/0",
        "height": 3000000,
        "seed_hash": "00" * 32,
    }
    msgs = [
        (0, 0.0, login),
        (
            1,
            0.1,
            {
                "id": 1,
                "jsonrpc": "2.0",
                "error": None,
                "result": {"id": "s1", "job": job, "extensions": ["algo", "keepalive"], "status": "OK"},
            },
        ),
    ]
    for i in range(4):
        msgs.append(
            (
                0,
                20.0 + 40 * i,
                {
                    "id": 2 + i,
                    "jsonrpc": "2.0",
                    "method": "submit",
                    "params": {"id": "s1", "job_id": "j1", "nonce": "deadbeef", "result": "ab" * 32},
                },
            )
        )
        msgs.append(
            (1, 20.1 + 40 * i, {"id": 2 + i, "jsonrpc": "2.0", "error": None, "result": {"status": "OK"}})
        )
    msgs.append((0, 200.0, {"id": 9, "jsonrpc": "2.0", "method": "keepalived", "params": {"id": "s1"}}))
    f = run(msgs, dport=10128)
    assert (f.kind, f.variant, f.coin, f.algorithm) == ("mining", "cryptonote-login", "monero", "randomx")
    assert f.wallet == XMR and f.wallet_type == "monero-standard" and f.worker == "rig42"
    diff = 2**32 / int.from_bytes(bytes.fromhex("b88d0600"), "little")
    assert f.share_difficulty == pytest.approx(diff)
    assert f.hashrate is not None and f.hashrate.hashrate_hs == pytest.approx(3 * diff / 120.0)
    # method-first login from an unknown agent-less client, job pushed by the server
    f2 = run(
        [
            (
                0,
                0.0,
                b'{"method": "login", "params": {"login": "' + XMR.encode() + b'", "pass": "x"}, "id": 1}\n',
            ),
            (1, 1.0, ('{"jsonrpc":"2.0","method":"job","params":' + json.dumps(job) + "}\n").encode()),
        ]
    )
    assert f2.variant == "cryptonote-login" and f2.agent is None and f2.wallet == XMR


def test_getwork_http_and_basic_auth():
    body = b'{"method": "getwork", "params": [], "id": 0}'
    req = (
        b"POST / HTTP/1.1\r\nAuthorization: Basic "
        + __import__("base64").b64encode(f"{BTC}.w3:x".encode())
        + b"\r\nHost: pool.example.net:8332\r\nUser-Agent: bfgminer/5.5.0\r\nX-Mining-Extensions: midstate rollntime\r\n"
        + b"Content-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )
    rbody = (
        b'{"result": {"data": "00", "target": "'
        + b"ff" * 28
        + b'00000000", "midstate": "00"}, "error": null, "id": 0}'
    )
    resp = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Stratum: stratum+tcp://stratum.example.net:3333\r\n\r\n"
        + hex(len(rbody))[2:].encode()
        + b"\r\n"
        + rbody
        + b"\r\n0\r\n\r\n"
    )
    f = run([(0, 0.0, req), (1, 0.1, resp)], dport=8332)
    assert (f.kind, f.variant) == ("mining", "getwork-http")
    assert f.pool_host == "pool.example.net" and f.agent == "bfgminer/5.5.0"
    assert f.wallet == BTC and f.worker == "w3"
    assert f.subscores["mining_header"] == 10.0 and f.score >= 70


def test_getblocktemplate_context_decides():
    def gbt(params, extra=b""):
        body = json.dumps({"id": 0, "method": "getblocktemplate", "params": params}).encode()
        return (
            b"POST / HTTP/1.1\r\nHost: 127.0.0.1:8332\r\n"
            + extra
            + b"Content-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )

    mining = run(
        [(0, 0.0, gbt([{"capabilities": ["coinbasetxn", "workid", "coinbase/append"]}]))], dport=8332
    )
    assert (mining.kind, mining.variant, mining.subscores["protocol"]) == (
        "mining",
        "getblocktemplate-http",
        55.0,
    )
    body2 = json.dumps({"id": 1, "method": "getblockchaininfo", "params": []}).encode()
    node_req = (
        gbt([{"rules": ["segwit"]}])
        + b"POST / HTTP/1.1\r\nContent-Length: "
        + str(len(body2)).encode()
        + b"\r\n\r\n"
        + body2
    )
    node = run([(0, 0.0, node_req)], dport=8332)
    assert (node.kind, node.variant) == ("node", "node-jsonrpc-http")
    bare = run([(0, 0.0, gbt([{"rules": ["segwit"]}]))], dport=8332)
    # a bare template poll is how a pool backend asks its own node: node RPC, as with getblockchaininfo
    assert (bare.kind, bare.variant) == ("node", "node-jsonrpc-http")


def sv2_frame(msg_type: int, payload: bytes, ext: int = 0) -> bytes:
    return struct.pack("<HB", ext, msg_type) + len(payload).to_bytes(3, "little") + payload


def s0(s: str) -> bytes:
    return bytes([len(s)]) + s.encode()


def test_stratum_v2_plaintext():
    setup = (
        bytes([0])
        + struct.pack("<HHI", 2, 2, 0)
        + s0("pool.example.org")
        + struct.pack("<H", 34254)
        + s0("Bitmain")
        + s0("S19")
        + s0("fw1.0")
        + s0("dev1")
    )
    open_ch = struct.pack("<I", 1) + s0(f"{BTC}.rig5") + struct.pack("<f", 1.1e14) + b"\xff" * 32
    target = (2**256 // (2**32 * 1000)).to_bytes(32, "little")
    succ = struct.pack("<II", 1, 7) + target + bytes([0]) + struct.pack("<I", 0)
    submit = struct.pack("<IIIIII", 7, 1, 1, 123, 456, 0x20000000)
    msgs = [
        (0, 0.0, sv2_frame(0x00, setup)),
        (1, 0.1, sv2_frame(0x01, struct.pack("<HI", 2, 0))),
        (0, 0.2, sv2_frame(0x10, open_ch)),
        (1, 0.3, sv2_frame(0x11, succ)),
    ]
    for i in range(4):
        msgs.append((0, 10.0 + 50 * i, sv2_frame(0x1A, submit, ext=0x8000)))
    msgs.append((1, 200.0, sv2_frame(0x1C, struct.pack("<IIIQ", 7, 4, 4, 4000), ext=0x8000)))
    f = run(msgs, dport=34254)
    assert (f.kind, f.variant, f.encrypted) == ("mining", "stratum-v2", False)
    assert f.subscores["protocol"] == 65.0
    assert f.pool_host == "pool.example.org" and f.agent == "Bitmain fw1.0"
    assert f.wallet == BTC and f.worker == "rig5"
    assert (f.submitted, f.shares_accepted) == (4, 4)
    assert f.share_difficulty == pytest.approx(1000, rel=1e-6)
    assert f.reported_hashrate_hs == pytest.approx(1.1e14, rel=1e-6)


def test_stratum_v2_noise_is_weaker():
    rnd = os.urandom
    msgs = [(0, 0.0, rnd(64)), (1, 0.1, rnd(234)), (0, 0.2, rnd(90)), (1, 0.3, rnd(120)), (0, 10.0, rnd(80))]
    f = run(msgs, chunk=1000, dport=34254)
    assert (f.kind, f.variant, f.encrypted) == ("mining", "stratum-v2", True)
    assert f.subscores == {"protocol": 35.0, "sv2_reply": 15.0, "sv2_frames": 5.0}
    assert f.subscores["protocol"] < 65.0  # plaintext SetupConnection is stronger evidence
    wrong_reply = run([(0, 0.0, rnd(64)), (1, 0.1, rnd(200)), (0, 0.2, rnd(90))], chunk=1000)
    assert wrong_reply.score < 50  # a lone 64-byte message needs pool intelligence to be reported
    low_entropy = run([(0, 0.0, b"A" * 64), (1, 0.1, rnd(234))], chunk=1000)
    assert low_entropy.kind is None


def client_hello(sni: str, alpn: list[str]) -> bytes:
    def ext(t: int, body: bytes) -> bytes:
        return struct.pack(">HH", t, len(body)) + body

    name = sni.encode()
    sni_ext = ext(0, struct.pack(">H", len(name) + 3) + b"\x00" + struct.pack(">H", len(name)) + name)
    protos = b"".join(bytes([len(p)]) + p.encode() for p in alpn)
    alpn_ext = ext(16, struct.pack(">H", len(protos)) + protos)
    exts = sni_ext + alpn_ext + ext(0x0A0A, b"")
    body = (
        b"\x03\x03"
        + os.urandom(32)
        + b"\x00"
        + struct.pack(">H", 4)
        + b"\x13\x01\x13\x02"
        + b"\x01\x00"
        + struct.pack(">H", len(exts))
        + exts
    )
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    # split the handshake over two TLS records
    half = len(hs) // 2
    return (
        b"\x16\x03\x01"
        + struct.pack(">H", half)
        + hs[:half]
        + b"\x16\x03\x01"
        + struct.pack(">H", len(hs) - half)
        + hs[half:]
    )


def test_tls_client_hello_across_records_and_segments():
    ch = client_hello("xmr.pool.example.com", ["h2", "http/1.1"])
    hello = parse_client_hello(ch)
    assert hello is not None and hello.sni == "xmr.pool.example.com" and hello.alpn == ["h2", "http/1.1"]
    assert parse_client_hello(ch[:-3]) is None
    a = SessionAnalyzer(info(dport=443))
    for i in range(0, len(ch), 13):
        assert a.wants_more()
        a.feed(0, 0.0, ch[i : i + 13])
    assert not a.wants_more()  # nothing more to learn from the encrypted stream
    f = a.facts()
    assert (f.kind, f.variant, f.encrypted, f.sni) == (None, "tls", True, "xmr.pool.example.com")
    assert f.pool_host == "xmr.pool.example.com" and f.ja3
    assert f.evidence[0].code == "net.tls.client_hello"


# ----------------------------------------------------------------------------- negatives


def test_ethereum_node_rpc_is_node():
    body = b'{"jsonrpc":"2.0","method":"eth_blockNumber","params":[],"id":1}'
    req = (
        b"POST / HTTP/1.1\r\nHost: localhost:8545\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
        % (len(body), body)
    )
    resp_body = b'{"jsonrpc":"2.0","id":1,"result":"0x10d4f"}'
    resp = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(resp_body), resp_body)
    f = run([(0, 0.0, req), (1, 0.1, resp)], dport=8545)
    assert (f.kind, f.variant) == ("node", "node-jsonrpc-http")
    assert f.submitted is None and f.hashrate is None


def test_bitcoin_rpc_raw_is_node():
    f = run(
        [(0, 0.0, {"jsonrpc": "1.0", "id": "c", "method": "getrawtransaction", "params": ["ab" * 32, True]})]
    )
    assert (f.kind, f.variant) == ("node", "node-jsonrpc")


def test_lsp_is_not_mining():
    body = json.dumps(
        {
            "jsonrpc": "2.0",
            "method": "textDocument/didOpen",
            "params": {"textDocument": {"uri": "file:///a.py"}},
        }
    ).encode()
    framed = b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    a = SessionAnalyzer(info(dport=2087))
    a.feed(0, 0.0, framed * 3)
    f = a.facts()
    assert f.kind is None and not a.wants_more()


def test_json_web_api_and_logs_are_not_mining():
    api = [
        (0, 0.0, {"jsonrpc": "2.0", "method": "login", "params": {"user": "bob", "password": "pw"}, "id": 1}),
        (1, 0.1, {"jsonrpc": "2.0", "result": {"token": "abc"}, "id": 1}),
        (0, 0.2, {"jsonrpc": "2.0", "method": "submit", "params": {"form": 1}, "id": 2}),
        (0, 0.3, {"level": "info", "msg": "mining.notify sent", "method": "GET"}),
        (0, 0.4, b'2024-01-01 INFO "method":"mining.subscribe" appears in a log line\n'),
    ]
    f = run(api)
    assert f.kind is None


def test_bitcoin_p2p_and_levin_are_node():
    payload = b"\x7f\x11\x01\x00" + b"\x00" * 20
    import hashlib

    chk = hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    msg = (
        bytes.fromhex("f9beb4d9")
        + b"version".ljust(12, b"\x00")
        + struct.pack("<I", len(payload))
        + chk
        + payload
    )
    f = run([(0, 0.0, msg)], dport=8333, chunk=5)
    assert (f.kind, f.variant) == ("node", "bitcoin-p2p") and f.subscores["protocol"] == 85.0
    bad = (
        bytes.fromhex("f9beb4d9")
        + b"version".ljust(12, b"\x00")
        + struct.pack("<I", len(payload))
        + b"\x00" * 4
        + payload
    )
    # a wrong checksum never earns the verified-checksum points (the magic + command still count)
    assert run([(0, 0.0, bad)], dport=8333, chunk=100000).subscores.get("protocol", 0.0) < 85.0
    levin = (
        bytes.fromhex("0121010101010101")
        + struct.pack("<Q", 10)
        + b"\x01"
        + struct.pack("<IiII", 1001, 0, 1, 1)
        + b"\x00" * 10
    )
    f2 = run([(0, 0.0, b"\x00\x01" + levin)], dport=18080)
    assert (f2.kind, f2.variant) == ("node", "monero-p2p")


def test_devp2p_discovery_udp():
    from minewatch.net.wallets import keccak256

    body = os.urandom(65) + b"\x01" + b"\xc5\x04\x82\x00\x00\x80"
    pkt = keccak256(body) + body
    a = SessionAnalyzer(info(dport=30303, sport=30303, transport="udp"))
    a.datagram(0, 0.0, pkt)
    f = a.facts()
    assert (f.kind, f.variant) == ("node", "devp2p")
    b = SessionAnalyzer(info(dport=30303, sport=30303, transport="udp"))
    b.datagram(0, 0.0, b"\x00" * 32 + body)  # hash does not match
    assert b.facts().kind is None


def test_rlpx_handshake_shape():
    auth = b"\x04" + os.urandom(306)
    ack = b"\x04" + os.urandom(209)
    f = run([(0, 0.0, auth), (1, 0.1, ack), (0, 0.2, os.urandom(100))], chunk=1000, dport=30303)
    assert (f.kind, f.variant) == ("node", "devp2p")
    f2 = run([(0, 0.0, auth), (1, 0.1, b"\x00" * 50)], chunk=1000, dport=8080)
    assert f2.kind is None


def test_bulk_binary_stops_early():
    a = SessionAnalyzer(info(dport=9000))
    for i in range(100):
        if not a.wants_more():
            break
        a.feed(i % 2, float(i), os.urandom(1400))
    assert not a.wants_more()
    assert a.facts().kind is None


# ----------------------------------------------------------------------------- robustness


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 1),
            st.one_of(
                st.binary(max_size=300),
                st.sampled_from(
                    [
                        b'{"id":1,"method":"mining.subscribe","params":["x"]}\n',
                        b'{"id":1,"result":{"encoding":"gzip"}}\n',
                        b'{"id":0,"method":"mining.hello","params":{"agent":"a"}}\n',
                        b"\x1f\x8b\x08\x00",
                        b"\x16\x03\x01\x00\x05\x01\x00\x00\x01",
                        b"POST / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n",
                        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                        b'{"method":"login","params":{"login":"x","pass":"y"},"id":[1]}\n',
                        b'{"id":null,"method":"mining.set_difficulty","params":[1e400]}\n',
                        b"\x00\x00\x00\x0b\x00\x00\x00\x02\x00\x02\x00",
                    ]
                ),
            ),
            st.booleans(),
        ),
        max_size=25,
    )
)
def test_never_raises_on_arbitrary_bytes(events):
    a = SessionAnalyzer(info(certain=False))
    for d, data, gap in events:
        if gap:
            a.gap(d, 1.0)
        a.feed(d, 1.0, data)
        a.datagram(d, 1.0, data)
        a.wants_more()
    a.close()
    f = a.facts()
    assert f.kind in (None, "mining", "node")
    assert not any(flag.startswith("internal-error") for flag in a._flags)


def test_refine_with_dns_name():
    msgs = [
        (0, 0.0, {"id": 1, "method": "mining.subscribe", "params": ["cgminer/3.7.2"]}),
        (1, 0.1, {"id": 1, "result": [[["mining.notify", "1"]], "00", 4], "error": None}),
    ]
    f = run(msgs)
    # cgminer is also the firmware of scrypt ASICs: its name claims no algorithm (review 6, D4)
    assert f.coin is None and f.algorithm is None
    refine_with_pool_name(f, "us2.litecoinpool.org")
    assert (f.coin, f.algorithm, f.pool_host) == ("litecoin", "scrypt", "us2.litecoinpool.org")
    g = run(stratum_v1_session(n_shares=1))
    refine_with_pool_name(g, "ltc.example-pool.org")
    assert g.coin == "bitcoin"  # the flow's own evidence (a Bitcoin wallet) is not overridden
