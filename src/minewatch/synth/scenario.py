"""Mix mining, node and benign sessions into one capture with ground-truth labels.

Why a spec rather than fixed fixtures: each test states the traffic it needs (which dialect, which
TCP impairments, which link layer) and gets the exact truth back, including the hashrate the
shares were drawn from, so detectors and estimators are checked against numbers, not eyeballs.
Everything is deterministic from the spec's seed.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from minewatch.synth import benign
from minewatch.synth.dialects import DIALECTS, Session, over_tls
from minewatch.synth.pcapwriter import LinkSpec, Pkt, write_capture
from minewatch.synth.tcp import TcpOptions, tcp_session, udp_session

BENIGN: dict[str, Callable[..., Session]] = {
    "http": lambda d, r, **kw: benign.http_browsing(r, **kw),
    "tls": lambda d, r, **kw: benign.tls_browsing(r, **kw),
    "eth-node-rpc": lambda d, r, **kw: benign.eth_node_rpc(r, duration=d, **kw),
    "bitcoin-rpc": lambda d, r, **kw: benign.bitcoin_rpc(r, duration=d, **kw),
    "lsp": lambda d, r, **kw: benign.lsp_session(r, duration=d, **kw),
    "json-api": lambda d, r, **kw: benign.json_api(r, duration=d, **kw),
    "bitcoin-p2p": lambda d, r, **kw: benign.bitcoin_p2p(r, duration=d, **kw),
    "monero-levin": lambda d, r, **kw: benign.monero_levin(r, duration=d, **kw),
    "websocket-tls": lambda d, r, **kw: benign.websocket_tls(r, duration=d, **kw),
    "mqtt-tls": lambda d, r, **kw: benign.mqtt_tls(r, duration=d, **kw),
    "ssh": lambda d, r, **kw: benign.ssh_session(r, duration=d, **kw),
}

DEFAULT_T0 = 1_718_000_000.0  # 2024-06-10T06:13:20Z


@dataclass(slots=True)
class SessionSpec:
    """One session. kind: a key of dialects.DIALECTS or BENIGN, or "dns" (kwargs: name, ips).

    tls_sni: wrap a mining dialect in TLS with this SNI ("" for TLS without SNI).
    dns_name: precede the session by a DNS lookup of this name answering `server` (through `resolver`).
    """

    kind: str
    client: str
    server: str
    start: float = 0.0
    duration: float = 300.0
    server_port: int | None = None
    client_port: int | None = None
    tls_sni: str | None = None
    dns_name: str | None = None
    resolver: str = "10.20.0.53"
    tcp: TcpOptions | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ScenarioSpec:
    sessions: list[SessionSpec]
    seed: int = 0
    t0: float = DEFAULT_T0


@dataclass(slots=True)
class Label:
    """Ground truth of one flow; the 5-tuple is written from the client's side."""

    src_ip: str
    src_port: int
    dst_ip: str
    dst_port: int
    proto: str
    label: str
    variant: str
    coin: str | None
    worker: str | None
    wallet: str | None
    agent: str | None
    sni: str | None
    true_hashrate_hs: float | None
    difficulty: float | None
    hashes_per_share: float | None
    shares: int | None
    rejected: int | None
    start_ts: float
    end_ts: float
    packets: int
    bytes: int
    host: str | None = None

    def key(self) -> tuple[str, int, str, int, str]:
        return (self.src_ip, self.src_port, self.dst_ip, self.dst_port, self.proto)


class _Ports:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[tuple[str, int]] = set()

    def take(self, ip: str, want: int | None = None) -> int:
        if want is not None and (ip, want) not in self.used:
            self.used.add((ip, want))
            return want
        while True:
            p = self.rng.randint(32768, 60999)
            if (ip, p) not in self.used:
                self.used.add((ip, p))
                return p


def make_session(spec: SessionSpec, rng: random.Random) -> Session:
    if spec.kind == "dns":
        return benign.dns_lookup(rng, spec.kwargs["name"], list(spec.kwargs["ips"]), spec.kwargs.get("cname"))
    if spec.kind in DIALECTS:
        s = DIALECTS[spec.kind](spec.duration, rng, **spec.kwargs)
        if spec.tls_sni is not None:
            s = over_tls(s, spec.tls_sni or None, rng)
        return s
    if spec.kind in BENIGN:
        return BENIGN[spec.kind](spec.duration, rng, **spec.kwargs)
    raise ValueError(f"unknown session kind {spec.kind!r}")


def _label(s: Session, c: tuple[str, int], sv: tuple[str, int], proto: str, pkts: Sequence[Pkt]) -> Label:
    return Label(
        c[0],
        c[1],
        sv[0],
        sv[1],
        proto,
        s.label,
        s.variant,
        s.coin,
        s.worker,
        s.wallet,
        s.agent,
        s.sni,
        s.hashrate,
        s.difficulty,
        s.hashes_per_share,
        s.shares,
        s.rejected,
        pkts[0].ts_ns / 1e9 if pkts else 0.0,
        pkts[-1].ts_ns / 1e9 if pkts else 0.0,
        len(pkts),
        sum(len(p.data) for p in pkts),
        s.host,
    )


def build_scenario(spec: ScenarioSpec) -> tuple[list[Pkt], list[Label]]:
    """All packets (time-sorted, L3) and one Label per flow."""
    rng = random.Random(spec.seed)
    ports = _Ports(rng)
    packets: list[Pkt] = []
    labels: list[Label] = []
    for ss in spec.sessions:
        srng = random.Random(rng.getrandbits(64))
        start = spec.t0 + ss.start
        if ss.dns_name:
            d = benign.dns_lookup(srng, ss.dns_name, [ss.server])
            d.label, d.coin = ("mining", None) if ss.kind in DIALECTS else (d.label, None)
            c = (ss.client, ports.take(ss.client))
            pk = udp_session(c, (ss.resolver, 53), d.messages, start - 0.08)
            packets.extend(pk)
            labels.append(_label(d, c, (ss.resolver, 53), "udp", pk))
        s = make_session(ss, srng)
        sport = ss.server_port or s.server_port
        c = (ss.client, ports.take(ss.client, ss.client_port))
        if s.transport == "udp":
            pk = udp_session(c, (ss.server, sport), s.messages, start)
            proto = "udp"
        else:
            pk = tcp_session(c, (ss.server, sport), s.messages, start, srng, ss.tcp)
            proto = "tcp"
        packets.extend(pk)
        labels.append(_label(s, c, (ss.server, sport), proto, pk))
    packets.sort(key=lambda p: p.ts_ns)
    return packets, labels


LABEL_FIELDS = [f for f in Label.__dataclass_fields__]


def labels_csv(labels: Sequence[Label], path: Path) -> Path:
    """Ground truth as CSV (one row per flow; empty cells are unknown, never zero)."""
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=LABEL_FIELDS)
        w.writeheader()
        for lab in labels:
            w.writerow({k: ("" if v is None else v) for k, v in asdict(lab).items()})
    return path


def read_labels_csv(path: Path) -> list[dict[str, str]]:
    with Path(path).open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def demo_spec(seed: int = 7) -> ScenarioSpec:
    """A 15-minute office/campus network: seven hidden miners in five dialects among ordinary traffic."""
    m = 900.0
    S = SessionSpec
    sessions = [
        S(
            "stratum1-asic",
            "10.20.1.15",
            "203.0.113.10",
            5,
            m,
            3333,
            dns_name="btc.f2pool.com",
            kwargs={"worker": "rack3", "hashrate": 110e12, "difficulty": 131072.0},
        ),
        S(
            "xmrig",
            "10.20.1.16",
            "203.0.113.21",
            12,
            m,
            3333,
            dns_name="pool.supportxmr.com",
            kwargs={"worker": "lab-pc16", "hashrate": 9500.0, "difficulty": 60000.0},
        ),
        S(
            "xmrig",
            "10.20.2.31",
            "203.0.113.22",
            20,
            m,
            14433,
            tls_sni="xmr-eu1.nanopool.org",
            dns_name="xmr-eu1.nanopool.org",
            kwargs={"worker": "dorm231", "hashrate": 6200.0, "difficulty": 40000.0},
        ),
        S(
            "xmrig-noagent",
            "10.20.2.44",
            "198.51.100.77",
            30,
            m,
            10128,
            kwargs={"worker": "x", "hashrate": 3000.0, "difficulty": 20000.0},
        ),
        S(
            "ethstratum2",
            "10.20.3.7",
            "203.0.113.30",
            8,
            m,
            1010,
            dns_name="etc.2miners.com",
            kwargs={
                "worker": "gpu7",
                "hashrate": 420e6,
                "share_hashes": 8e9,
                "host": "etc.2miners.com",
                "port": 1010,
            },
        ),
        S(
            "ethstratum1",
            "10.20.3.8",
            "203.0.113.31",
            40,
            m,
            3353,
            kwargs={"worker": "gpu8", "hashrate": 300e6, "difficulty": 2.0},
        ),
        S(
            "stratum2",
            "10.20.4.2",
            "198.51.100.40",
            15,
            m,
            34254,
            kwargs={"worker": "s19", "hashrate": 95e12, "difficulty": 131072.0},
        ),
        # benign and node traffic
        S("http", "10.20.1.50", "198.51.100.80", 3, 60, kwargs={"host": "news.example.cn", "pages": 3}),
        S("tls", "10.20.1.51", "198.51.100.81", 9, 60, kwargs={"sni": "www.gov.example.cn", "requests": 3}),
        S("tls", "fd00:20::52", "2001:db8::443", 50, 60, kwargs={"sni": "mail.example.cn", "requests": 3}),
        S("eth-node-rpc", "10.20.5.9", "10.20.5.20", 0, 300, kwargs={"every": 8.0}),
        S("bitcoin-rpc", "10.20.5.9", "10.20.5.21", 2, 600),
        S("bitcoin-p2p", "10.20.5.21", "198.51.100.9", 1, m),
        S("monero-levin", "10.20.5.22", "198.51.100.18", 1, m),
        S("lsp", "10.20.6.3", "10.20.6.4", 100, 300),
        S("json-api", "10.20.6.5", "198.51.100.90", 60, 300, dns_name="api.weather.example.cn"),
        S("websocket-tls", "10.20.6.6", "198.51.100.91", 0, m),
        S("mqtt-tls", "10.20.7.100", "198.51.100.92", 0, m, 8883),
        S("ssh", "10.20.6.7", "10.20.9.1", 4, m),
    ]
    return ScenarioSpec(sessions, seed=seed)


def write_demo_capture(path: Path, seed: int = 7) -> Path:
    """Write the demo pcap (Ethernet, microseconds) and `<stem>.labels.csv` beside it; returns the pcap."""
    path = Path(path)
    pkts, labels = build_scenario(demo_spec(seed))
    write_capture(path, pkts, "pcap", LinkSpec())
    labels_csv(labels, path.with_suffix(".labels.csv"))
    return path
