"""`minewatch watch` on a real interface: a veth pair into a network namespace this test creates.

A Stratum v1 pool, an XMRig pool and a web server run inside the namespace on 10.199.N.2 (private
addresses on the test's own veth link, nothing else can reach them); the miner and the web client
run as a separate process on the host end 10.199.N.1, so every packet crosses the veth that
`minewatch watch` captures on. The miner's finding must reach the store while its session is open;
the web exchange must not become a finding; SIGTERM must stop the watcher cleanly with everything
written.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.tools]

SERVERS = r"""
import sys, threading, time, http.server, socketserver
from minewatch.net.pool_emulator import PoolEmulator
host = sys.argv[1]
stratum = PoolEmulator(host=host, port=3333, protocol="stratum")
xmr = PoolEmulator(host=host, port=5555, protocol="xmrig")
stratum.start(); xmr.start()
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"<html><body>intranet status: ok</body></html>"
        self.send_response(200); self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
web = socketserver.TCPServer((host, 8080), H)
threading.Thread(target=web.serve_forever, daemon=True).start()
print("ready", flush=True)
sys.stdin.read()  # run until the test closes our stdin
"""

CLIENTS = r"""
import json, socket, sys, time, urllib.request
from minewatch.net import pool_emulator as pe
host, worker, wallet = sys.argv[1], sys.argv[2], sys.argv[3]

def lines(sock, n, timeout=5.0):
    sock.settimeout(timeout); buf = b""; out = []
    while len(out) < n:
        chunk = sock.recv(65536)
        if not chunk: break
        buf += chunk
        while b"\n" in buf:
            l, buf = buf.split(b"\n", 1); out.append(json.loads(l))
    return out

# benign web exchange first
with urllib.request.urlopen(f"http://{host}:8080/status", timeout=5) as r:
    assert b"intranet" in r.read()
# XMRig-style login, one share
x = socket.create_connection((host, 5555), timeout=5)
x.sendall(pe.xmrig_login(wallet)); res = lines(x, 1)[0]["result"]
x.sendall(pe.xmrig_submit(2, res["id"], res["job"]["job_id"])); lines(x, 1)
# Stratum v1 miner: subscribe, authorize, shares; the session stays open
s = socket.create_connection((host, 3333), timeout=5)
s.sendall(pe.stratum_subscribe("cgminer/4.12.1")); lines(s, 1)
s.sendall(pe.stratum_authorize(worker)); got = lines(s, 3)
job = next(m["params"][0] for m in got if m.get("method") == "mining.notify")
for i in range(4):
    time.sleep(0.3)
    s.sendall(pe.stratum_submit(worker, job, 10 + i)); lines(s, 1)
x.close()
print("mining", flush=True)
sys.stdin.readline()  # the test says when to end the session
for i in range(2):
    s.sendall(pe.stratum_submit(worker, job, 20 + i)); lines(s, 1)
s.close()
print("done", flush=True)
"""


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, check=check, timeout=30)


def _netns_usable() -> str | None:
    if os.geteuid() != 0:
        return "needs root to create a network namespace and capture"
    for tool in ("ip", "dumpcap"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (iproute2 / tshark)"
    if _run("ip", "netns", "list", check=False).returncode != 0:
        return "`ip netns` is not available here"
    return None


def _free_subnet() -> int:
    routes = _run("ip", "-4", "route", "show").stdout + _run("ip", "-4", "addr", "show").stdout
    rng = random.Random(os.getpid() ^ time.time_ns())
    for _ in range(50):
        n = rng.randrange(1, 254)
        if f"10.199.{n}." not in routes:
            return n
    pytest.skip("no free 10.199.x.0/30 subnet for the test link")


def _findings(db: Path) -> list[Any]:
    """Read the store the watcher writes to; it holds the file only while writing, so retry briefly."""
    import duckdb

    from minewatch.store import Store

    for _ in range(20):
        if not db.exists():
            return []
        try:
            with Store(db, read_only=True) as st:
                return st.findings()
        except duckdb.Error:
            time.sleep(0.1)
    return []


def test_watch_live_on_a_veth_pair(tmp_path: Path) -> None:
    why = _netns_usable()
    if why:
        pytest.skip(why)
    tag = f"{os.getpid() % 100000}{random.randrange(100)}"
    ns, vh, vn = f"mwt{tag}", f"mwh{tag}", f"mwn{tag}"
    n = _free_subnet()
    host_ip, ns_ip = f"10.199.{n}.1", f"10.199.{n}.2"
    db = tmp_path / "live.duckdb"
    env = {**os.environ, "MINEWATCH_HOME": str(tmp_path / "home"), "PYTHONUNBUFFERED": "1"}
    (tmp_path / "servers.py").write_text(SERVERS)
    (tmp_path / "clients.py").write_text(CLIENTS)
    procs: list[subprocess.Popen[str]] = []
    watch_err: list[str] = []
    try:
        _run("ip", "netns", "add", ns)
        _run("ip", "link", "add", vh, "type", "veth", "peer", "name", vn)
        _run("ip", "link", "set", vn, "netns", ns)
        _run("ip", "addr", "add", f"{host_ip}/30", "dev", vh)
        _run("ip", "link", "set", vh, "up")
        _run("ip", "netns", "exec", ns, "ip", "addr", "add", f"{ns_ip}/30", "dev", vn)
        _run("ip", "netns", "exec", ns, "ip", "link", "set", vn, "up")
        _run("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")

        servers = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, str(tmp_path / "servers.py"), ns_ip],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        procs.append(servers)
        assert servers.stdout is not None and servers.stdout.readline().strip() == "ready"

        minewatch = str(Path(sys.executable).with_name("minewatch"))
        rot = tmp_path / "rot"
        watcher = subprocess.Popen(
            [minewatch, "watch", "--interface", vh, "--bpf", "tcp or udp", "--duration", "120",
             "--db", str(db), "--format", "jsonl", "--idle-timeout", "30", "--stats-every", "1",
             "--rotate-mb", "1", "--rotate-keep", "2", "--rotate-dir", str(rot)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        procs.append(watcher)
        assert watcher.stderr is not None
        t_err = threading.Thread(target=lambda: watch_err.extend(watcher.stderr), daemon=True)  # type: ignore[arg-type]
        t_err.start()
        deadline = time.monotonic() + 20
        while not any(line.startswith("[watch]") for line in watch_err):  # first stats line: capturing
            assert watcher.poll() is None, "".join(watch_err)
            assert time.monotonic() < deadline, "watch did not start: " + "".join(watch_err)
            time.sleep(0.1)

        worker = f"nsrig{tag}.w1"
        from minewatch.synth.dialects import monero_address

        wallet = monero_address(random.Random(7))
        clients = subprocess.Popen(
            [sys.executable, str(tmp_path / "clients.py"), ns_ip, worker, wallet],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        procs.append(clients)
        assert clients.stdout is not None and clients.stdin is not None
        assert clients.stdout.readline().strip() == "mining", clients.stderr.read() if clients.stderr else ""

        # the Stratum session is still open: its finding must reach the store anyway
        deadline = time.monotonic() + 15
        open_rows: list[Any] = []
        while time.monotonic() < deadline and not open_rows:
            open_rows = [f for f in _findings(db) if f.worker == worker]
            time.sleep(0.3)
        assert open_rows, "no finding while the session was open; watch said: " + "".join(watch_err)
        assert open_rows[0].extra.get("live_state") == "open"
        assert open_rows[0].dst_ip == ns_ip and open_rows[0].dst_port == 3333 and open_rows[0].src_ip == host_ip
        assert clients.poll() is None  # really still running

        clients.stdin.write("end\n")
        clients.stdin.flush()
        assert clients.stdout.readline().strip() == "done"
        clients.wait(timeout=10)
        time.sleep(1.0)  # the last packets reach the capture
        watcher.send_signal(signal.SIGTERM)
        out, _ = watcher.communicate(timeout=30)
        t_err.join(timeout=5)
        assert watcher.returncode == 0, "".join(watch_err)

        rows = _findings(db)
        by_port = {f.dst_port: f for f in rows}
        assert 8080 not in by_port, "benign web exchange became a finding"
        st = by_port[3333]
        assert st.worker == worker and st.kind == "mining" and st.extra.get("live_state") == "closed"
        assert st.finding_id == open_rows[0].finding_id  # the open row was replaced, not duplicated
        assert (st.shares_accepted or 0) >= 4
        xm = by_port[5555]
        assert xm.kind == "mining" and xm.wallet == wallet and (xm.agent or "").startswith("XMRig")
        assert sum(1 for f in rows if f.dst_port == 3333) == 1

        printed = [json.loads(line) for line in out.splitlines() if line.strip()]
        assert {r["dst_port"] for r in printed} == {3333, 5555}
        assert {r["worker"] for r in printed if r["dst_port"] == 3333} == {worker}
        (pcap,) = list(rot.iterdir())  # the tee: a capture of the same traffic
        from minewatch.sources.pcap import open_capture

        with open_capture(pcap) as r:
            assert sum(len(b) for b in r) > 20
    finally:
        for p in procs:
            if p.poll() is None:
                if p.stdin is not None:
                    with contextlib.suppress(OSError):
                        p.stdin.close()
                p.terminate()
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.kill()
        _run("ip", "netns", "del", ns, check=False)
        _run("ip", "link", "del", vh, check=False)
