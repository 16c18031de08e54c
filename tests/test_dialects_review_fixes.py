"""Dissector fixes from the fourth capture review: what counts as a share, and what is not mining.

Each test names the defect it guards: getwork fetches counted as accepted shares (1), web-app and
job-queue `login`/`submit` taken for CryptoNote (2), any `mining.*` method taken for Stratum (3), a
pool backend's bare getblocktemplate polls called mining (4), `job` targets that are not hex (6),
and pipelined requests reusing one id losing a reply (7).
"""

from __future__ import annotations

import json

import pytest

from test_dialects_stratum import BTC, XMR, run

GETWORK_TARGET = "ff" * 28 + "00000000"  # 256-bit little-endian: difficulty 1


def http_req(body: dict, host: str = "pool.example.net:8332", ua: str = "cgminer/4.10.0", path: str = "/") -> bytes:
    b = json.dumps(body).encode()
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {ua}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(b)}\r\n\r\n"
    ).encode() + b


def http_resp(body: dict) -> bytes:
    b = json.dumps(body).encode()
    return f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(b)}\r\n\r\n".encode() + b


def reported(f) -> bool:
    return f.kind == "mining" and f.score >= 50


# ---------------------------------------------------------------------------------------------- 1 getwork
def getwork_session(fetches: int, results: list[bool]) -> list:
    msgs: list = []
    t = 0.0
    for i in range(fetches):
        msgs.append((0, t, http_req({"method": "getwork", "params": [], "id": i})))
        work = {"data": "00" * 128, "target": GETWORK_TARGET, "midstate": "00" * 32}
        msgs.append((1, t + 0.1, http_resp({"result": work, "error": None, "id": i})))
        t += 5.0
    for k, ok in enumerate(results):
        t = 100.0 + 60.0 * k
        msgs.append((0, t, http_req({"method": "getwork", "params": ["ab" * 128], "id": 100 + k})))
        msgs.append((1, t + 0.1, http_resp({"result": ok, "error": None, "id": 100 + k})))
    return msgs


def test_getwork_fetches_are_not_shares_and_their_target_gives_the_difficulty():
    f = run(getwork_session(3, [True, True, False, True]), chunk=50, dport=8332)
    assert (f.kind, f.variant) == ("mining", "getwork-http")
    # 4 submits, 3 accepted, 1 rejected: the 3 work fetches are not shares
    assert (f.submitted, f.shares_accepted, f.shares_rejected) == (4, 3, 1)
    assert f.share_difficulty == pytest.approx(1.0)
    # accepted at t=100, 160, 280: the last two carry 2 x 2^32 hashes over 180 s
    assert f.hashrate is not None
    assert f.hashrate.hashrate_hs == pytest.approx(2 * 2**32 / 180.0)
    assert f.pool_host == "pool.example.net"  # the Host header names the pool of a reported session


def test_getwork_fetch_only_session_with_one_rejected_share():
    f = run(getwork_session(5, [False]), dport=8332)
    assert (f.submitted, f.shares_accepted, f.shares_rejected) == (1, 0, 1)
    assert f.share_difficulty == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------------- 2 CryptoNote login
def test_web_app_login_is_not_mining_and_its_host_is_no_pool():
    msgs = [
        (0, 0.0, http_req({"jsonrpc": "2.0", "id": 1, "method": "login",
                           "params": {"login": "alice@example.com", "pass": "hunter2"}},
                          host="app.example.com", ua="Mozilla/5.0", path="/api")),
        (1, 0.1, http_resp({"jsonrpc": "2.0", "id": 1, "result": {"token": "abc", "status": "OK"}})),
    ]  # fmt: skip
    for i in range(3):
        msgs.append((0, 1.0 + i, http_req({"jsonrpc": "2.0", "id": 2 + i, "method": "listInvoices",
                                           "params": {"page": i}}, host="app.example.com", ua="Mozilla/5.0")))
        msgs.append((1, 1.1 + i, http_resp({"jsonrpc": "2.0", "id": 2 + i, "result": []})))
    f = run(msgs, chunk=40, dport=8080)
    assert not reported(f), (f.kind, f.subscores)
    assert f.subscores.get("protocol", 0) <= 30
    assert f.pool_host is None


def test_job_queue_login_and_submit_are_not_mining():
    msgs = [
        (0, 0.0, {"jsonrpc": "2.0", "id": 1, "method": "login",
                  "params": {"login": "svc-backup", "pass": "s3cret", "agent": "backupd/2.1"}}),
        (1, 0.1, {"jsonrpc": "2.0", "id": 1, "result": {"session": "x1", "status": "OK"}, "error": None}),
        (0, 1.0, {"jsonrpc": "2.0", "id": 2, "method": "submit",
                  "params": {"job_id": "nightly-42", "nonce": "7f3a", "result": "done"}}),
        (1, 1.1, {"jsonrpc": "2.0", "id": 2, "result": {"status": "OK"}, "error": None}),
    ]  # fmt: skip
    f = run(msgs, dport=7000)
    assert not reported(f), (f.kind, f.subscores)
    assert not f.submitted


@pytest.mark.parametrize(
    ("params", "protocol"),
    [
        ({"login": XMR, "pass": "x"}, 40.0),  # a valid wallet, no agent
        ({"login": "bob.rig1", "pass": "x", "agent": "XMRig/6.21.0"}, 50.0),  # a miner agent, pool account
        ({"login": "bob", "pass": "x", "agent": "svc/1.0", "algo": ["rx/0", "cn/r"]}, 50.0),  # XMRig algorithms
        ({"login": XMR, "pass": "x", "agent": "SysUpdate/2.1"}, 50.0),  # a dropper's own agent, a wallet
    ],
)
def test_cryptonote_login_with_mining_evidence_is_still_reported(params, protocol):
    msgs = [
        (0, 0.0, {"id": 1, "jsonrpc": "2.0", "method": "login", "params": params}),
        (1, 0.1, {"id": 1, "jsonrpc": "2.0", "error": None, "result": {"status": "OK"}}),
    ]
    f = run(msgs, dport=10128)
    assert (f.kind, f.variant) == ("mining", "cryptonote-login")
    assert f.subscores["protocol"] == protocol and f.subscores["both_directions"] == 15.0
    assert f.score >= 50


def test_cryptonote_login_shape_alone_is_lifted_by_a_real_job():
    login = {"id": 1, "jsonrpc": "2.0", "method": "login", "params": {"login": "alice@example.com", "pass": "x"}}
    job = {"blob": "0707" + "ab" * 72, "job_id": "j1", "target": "b88d0600"}
    bare = run([(0, 0.0, login), (1, 0.1, {"id": 1, "jsonrpc": "2.0", "error": None, "result": {"status": "OK"}})])
    assert bare.subscores["protocol"] == 30.0 and not reported(bare)
    assert any("nothing in it is specific to mining" in e.text for e in bare.evidence)
    lifted = run([(0, 0.0, login),
                  (1, 0.1, {"id": 1, "jsonrpc": "2.0", "error": None, "result": {"id": "s", "job": job}})])  # fmt: skip
    assert reported(lifted) and lifted.subscores["protocol"] == 55.0  # MinerGate-style e-mail login


# ---------------------------------------------------------------------------------------------- 3 mining.* names
def test_unknown_mining_namespace_method_is_not_stratum():
    msgs = []
    for i in range(3):
        msgs.append((0, float(i), http_req({"jsonrpc": "2.0", "id": i, "method": "mining.runQuery",
                                            "params": [{"dataset": "sales", "algo": "apriori"}]},
                                           host="app.example.com", ua="Mozilla/5.0", path="/rpc")))  # fmt: skip
        msgs.append((1, i + 0.1, http_resp({"jsonrpc": "2.0", "id": i, "result": {"rules": []}})))
    f = run(msgs, dport=9000)
    assert f.kind is None and f.variant is None and f.pool_host is None


@pytest.mark.parametrize(
    "method", ["mining.extranonce.subscribe", "mining.suggest_difficulty", "mining.configure", "mining.capabilities"]
)
def test_documented_stratum_extensions_still_score(method):
    f = run([(0, 0.0, {"id": 1, "method": method, "params": []}), (1, 0.1, {"id": 1, "result": True, "error": None})])
    assert (f.kind, f.variant) == ("mining", "stratum-v1") and f.score >= 50


def test_server_ping_is_a_known_stratum_message():
    f = run([(1, 0.0, {"id": 7, "method": "mining.ping", "params": []}), (0, 0.1, {"id": 7, "result": "pong"})])
    assert f.variant == "stratum-v1" and f.client_is_src is True


# ---------------------------------------------------------------------------------------------- 4 getblocktemplate
def gbt_poll(params: list, ua: str = "python-requests/2.31", n: int = 4) -> list:
    msgs = []
    for i in range(n):
        req = {"jsonrpc": "1.0", "id": i, "method": "getblocktemplate", "params": params}
        tmpl = {"version": 536870912, "previousblockhash": "00" * 32, "transactions": [],
                "coinbasevalue": 625000000, "target": "00" * 8 + "ff" * 24, "bits": "1703a30c", "height": 840000}
        msgs.append((0, 30.0 * i, http_req(req, host="10.1.3.10", ua=ua)))
        msgs.append((1, 30.0 * i + 0.1, http_resp({"result": tmpl, "error": None, "id": i})))  # fmt: skip
    return msgs


def test_pool_backend_polling_its_node_is_node_traffic():
    f = run(gbt_poll([{"rules": ["segwit"]}]), dport=8332)
    assert (f.kind, f.variant) == ("node", "node-jsonrpc-http")
    assert f.submitted is None and f.pool_host is None


@pytest.mark.parametrize(
    ("params", "ua"),
    [
        ([{"capabilities": ["coinbasetxn", "workid", "coinbase/append"], "rules": ["segwit"]}], "python-requests/2.31"),
        ([{"rules": ["segwit"]}], "cgminer/4.10.0"),
    ],
)
def test_solo_miner_getblocktemplate_is_still_mining(params, ua):
    f = run(gbt_poll(params, ua=ua), dport=8332)
    assert (f.kind, f.variant) == ("mining", "getblocktemplate-http") and f.score >= 50


# ---------------------------------------------------------------------------------------------- 6 CryptoNote job shape
@pytest.mark.parametrize(
    ("blob", "target", "mining"),
    [
        ("deadbeef", "dragon", False),  # a game's quest
        ("0707" + "ab" * 74, "dragon", False),  # a word is no target
        ("0707" + "ab" * 74, "b88d060", False),  # 7 hex digits
        ("0707" + "ab" * 74, "00" * 32, False),  # a 256-bit target is not CryptoNote's
        ("deadbeef", "b88d0600", False),  # a 4-byte blob holds no block header
        ("0707" + "ab" * 74, "b88d0600", True),  # 4-byte compact target
        ("0707" + "ab" * 74, "b88d060000000000", True),  # 8-byte target
    ],
)
def test_cryptonote_job_needs_hex_target_and_a_header_sized_blob(blob, target, mining):
    msgs = [
        (0, 0.0, {"id": 1, "method": "getjob", "params": {"id": "player7"}}),
        (1, 0.1, {"jsonrpc": "2.0", "method": "job", "params": {"blob": blob, "job_id": "quest-1", "target": target}}),
    ]
    f = run(msgs, dport=27015)
    assert reported(f) is mining, (f.kind, f.subscores)


# ---------------------------------------------------------------------------------------------- 7 pipelined ids
def _submit(i: int, t: float) -> tuple:
    return (0, t, {"id": i, "method": "mining.submit", "params": [f"{BTC}.rig7", "j1", "00000001", "5f5e1000", "ab"]})


def test_pipelined_submits_with_one_id_each_get_their_reply():
    msgs = [
        (0, 0.0, {"id": 1, "method": "mining.authorize", "params": [f"{BTC}.rig7", "x"]}),
        (1, 0.1, {"id": 1, "result": True, "error": None}),
        (1, 0.2, {"id": None, "method": "mining.set_difficulty", "params": [1024]}),
        _submit(99, 10.0),
        _submit(99, 10.001),  # sent before the first reply came back
        (1, 10.1, {"id": 99, "result": True, "error": None}),
        (1, 10.2, {"id": 99, "result": False, "error": [23, "Low difficulty share", None]}),
    ]
    f = run(msgs)
    assert (f.submitted, f.shares_accepted, f.shares_rejected) == (2, 1, 1)
    # replies come back in order: the first submit was accepted, the second rejected
    assert [ok for _, _, ok in f.share_events] == [True, False]


def test_a_request_never_answered_does_not_take_a_later_reply():
    msgs = [
        (0, 0.0, {"id": 1, "method": "mining.authorize", "params": [f"{BTC}.rig7", "x"]}),
        (1, 0.1, {"id": 1, "result": True, "error": None}),
        _submit(40, 10.0),  # its reply was lost
        _submit(40, 200.0),
        (1, 200.1, {"id": 40, "result": True, "error": None}),
    ]
    f = run(msgs)
    assert (f.submitted, f.shares_accepted) == (2, 1)
    assert [ok for _, _, ok in f.share_events] == [None, True]
