"""A >= 1 GB benchmark capture, written fast: a few mining sessions hidden in bulk benign traffic.

Why templates: building every packet in Python runs at a few MB/s. Instead each benign flow kind is
generated once (several variants) with the real TCP builder, then stamped out many times with
NumPy: timestamps, client address and port are patched into tiled copies of the template's pcap
records, and the IPv4 and TCP/UDP checksums are updated incrementally (RFC 1624), so every packet
still verifies. Flows are grouped in time windows and each window is sorted, so the file is in
time order like a real capture. Mining, node and long-lived sessions (the needles, with ground
truth) are built individually with the full generator and merged in.

Addresses: clients in 10.0.0.0/8, bulk servers in 198.18.0.0/15 (the RFC 2544 benchmarking range),
so no real pool address can appear by accident.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from minewatch.synth import benign
from minewatch.synth.dialects import Session
from minewatch.synth.pcapwriter import LinkSpec, Pkt
from minewatch.synth.scenario import Label, ScenarioSpec, SessionSpec, build_scenario, labels_csv
from minewatch.synth.tcp import C2S, S2C, Msg, TcpOptions, tcp_session, udp_session

_TPL_CLIENT = ("10.255.255.1", 40000)
_TPL_SERVER_IP = "198.18.255.1"
# fixed offsets inside one pcap record: 16-byte record header, 14-byte Ethernet, 20-byte IPv4 header
_IP = 30
_OFF_IPCK, _OFF_SRC, _OFF_DST = _IP + 10, _IP + 12, _IP + 16
_OFF_SPORT, _OFF_DPORT = _IP + 20, _IP + 22
_OFF_TCPCK, _OFF_UDPCK = _IP + 20 + 16, _IP + 20 + 6


@dataclass(slots=True)
class _Template:
    kind: str
    buf: np.ndarray  # uint8, the flow's pcap records with zero timestamps
    rec_off: np.ndarray  # int64 (k,)
    rel_ns: np.ndarray  # int64 (k,)
    c2s: np.ndarray  # bool (k,)
    l4ck_off: np.ndarray  # int64 (k,) offset of the TCP or UDP checksum
    old_ipck: np.ndarray  # int64 (k,)
    old_l4ck: np.ndarray  # int64 (k,)
    is_udp: bool
    duration_ns: int
    nbytes: int = field(init=False)

    def __post_init__(self) -> None:
        self.nbytes = int(self.buf.size)


def _records(pkts: list[Pkt], link: LinkSpec) -> tuple[bytes, list[int]]:
    out = bytearray()
    offs = []
    for p in pkts:
        fr = link.frame(p.data)
        offs.append(len(out))
        out += struct.pack("<IIII", 0, 0, len(fr), len(fr)) + fr
    return bytes(out), offs


def _make_template(kind: str, pkts: list[Pkt]) -> _Template:
    t0 = pkts[0].ts_ns
    raw, offs = _records(pkts, LinkSpec())
    buf = np.frombuffer(raw, dtype=np.uint8).copy()
    rec = np.array(offs, dtype=np.int64)
    is_udp = pkts[0].data[9] == 17
    c2s = np.array([p.data[12:16] == bytes([10, 255, 255, 1]) for p in pkts])
    l4 = rec + (_OFF_UDPCK if is_udp else _OFF_TCPCK)
    ipck = (buf[rec + _OFF_IPCK].astype(np.int64) << 8) | buf[rec + _OFF_IPCK + 1]
    l4ck = (buf[l4].astype(np.int64) << 8) | buf[l4 + 1]
    rel = np.array([p.ts_ns - t0 for p in pkts], dtype=np.int64)
    return _Template(kind, buf, rec, rel, c2s, l4, ipck, l4ck, is_udp, int(rel[-1]))


def _template_sessions(rng: random.Random) -> list[tuple[str, float, Callable[[random.Random], Session]]]:
    """(kind, weight in flows, builder). Bulk downloads carry the bytes; DNS and small TLS the flow count."""

    def bulk(r: random.Random) -> Session:
        size = int(r.choice([150e3, 300e3, 600e3, 1.2e6]))
        msgs: list[Msg] = [
            (
                0.0,
                C2S,
                benign._http_get(
                    "cdn.example.cn", f"/pkg/{r.getrandbits(32):x}.bin", "Debian APT-HTTP/1.3 (2.6.1)"
                ),
            ),
            (0.03, S2C, benign._http_resp(r.randbytes(size), "application/octet-stream")),
        ]
        return Session(msgs, "benign", "http-download", server_port=80)

    def dns(r: random.Random) -> Session:
        name = f"{r.choice(benign._WORDS)}{r.randint(1, 99)}.example.cn"
        return benign.dns_lookup(r, name, [f"198.18.{r.randint(0, 255)}.{r.randint(1, 254)}"])

    return [
        ("http-download", 0.003, bulk),
        (
            "tls",
            0.09,
            lambda r: benign.tls_browsing(
                r, sni=f"www{r.randint(1, 50)}.example.cn", requests=r.randint(1, 2), max_response=6000
            ),
        ),
        ("http", 0.03, lambda r: benign.http_browsing(r, pages=1, think=2.0)),
        ("json-api", 0.05, lambda r: benign.json_api(r, duration=8.0)),
        ("dns", 0.827, dns),
    ]


def _build_templates(rng: random.Random, variants: int) -> tuple[list[_Template], np.ndarray]:
    tpls: list[_Template] = []
    weights: list[float] = []
    for kind, w, make in _template_sessions(rng):
        for _ in range(variants):
            s = make(rng)
            if s.transport == "udp":
                pk = udp_session(_TPL_CLIENT, (_TPL_SERVER_IP, s.server_port), s.messages, 0.0)
            else:
                pk = tcp_session(
                    _TPL_CLIENT,
                    (_TPL_SERVER_IP, s.server_port),
                    s.messages,
                    0.0,
                    rng,
                    TcpOptions(rtt=rng.uniform(0.005, 0.08)),
                )
            tpls.append(_make_template(kind, pk))
            weights.append(w / variants)
    return tpls, np.array(weights)


def _words(ip_u32: np.ndarray) -> np.ndarray:
    return (ip_u32 >> 16) + (ip_u32 & 0xFFFF)


def _fold(x: np.ndarray) -> np.ndarray:
    x = (x & 0xFFFF) + (x >> 16)
    x = (x & 0xFFFF) + (x >> 16)
    return (x & 0xFFFF) + (x >> 16)


def _put(flat: np.ndarray, idx: np.ndarray, value: np.ndarray, nbytes: int, big: bool) -> None:
    """Write integer `value` (same shape as idx) as nbytes at flat[idx...]."""
    for b in range(nbytes):
        shift = 8 * (nbytes - 1 - b) if big else 8 * b
        flat[idx + b] = (value >> shift) & 0xFF


def _stamp(
    t: _Template, start_ns: np.ndarray, cip: np.ndarray, cport: np.ndarray, sip: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n copies of template t; returns (flat bytes, record offsets (n*k), timestamps (n*k))."""
    n = start_ns.size
    flat = np.tile(t.buf, n)
    base = (np.arange(n, dtype=np.int64) * t.nbytes)[:, None]
    rec = base + t.rec_off[None, :]  # (n, k)
    ts = start_ns[:, None] + t.rel_ns[None, :]
    _put(flat, rec, ts // 1_000_000_000, 4, False)
    _put(flat, rec + 4, (ts // 1000) % 1_000_000, 4, False)
    c2s = t.c2s[None, :]
    cip_b = np.broadcast_to(cip[:, None], rec.shape)
    sip_b = np.broadcast_to(sip[:, None], rec.shape)
    _put(flat, rec + _OFF_SRC, np.where(c2s, cip_b, sip_b), 4, True)
    _put(flat, rec + _OFF_DST, np.where(c2s, sip_b, cip_b), 4, True)
    cport_b = np.broadcast_to(cport[:, None], rec.shape)
    _put(flat, np.where(c2s, rec + _OFF_SPORT, rec + _OFF_DPORT), cport_b, 2, True)
    old_c, old_s = 0x0AFFFF01, 0xC612FF01
    d_ip = (
        (0x1FFFE - _words(np.int64(old_c))) + (0x1FFFE - _words(np.int64(old_s))) + _words(cip) + _words(sip)
    )
    d_l4 = d_ip + (0xFFFF - _TPL_CLIENT[1]) + cport
    ipck = _fold((0xFFFF - t.old_ipck)[None, :] + d_ip[:, None])
    _put(flat, rec + _OFF_IPCK, 0xFFFF - ipck, 2, True)
    l4 = 0xFFFF - _fold((0xFFFF - t.old_l4ck)[None, :] + d_l4[:, None])
    if t.is_udp:
        l4 = np.where(l4 == 0, 0xFFFF, l4)
    _put(flat, base + t.l4ck_off[None, :], l4, 2, True)
    return flat, rec.ravel(), ts.ravel()


@dataclass(slots=True)
class BigStats:
    path: Path
    labels_path: Path
    bytes: int
    packets: int
    flows: int
    mining_flows: int
    seconds: float
    mb_per_s: float


def _needles(rng: random.Random, duration: float, n_mining: int, t0: float) -> ScenarioSpec:
    kinds = [
        "stratum1-asic",
        "stratum1-cgminer",
        "stratum1-nicehash",
        "xmrig",
        "xmrig-custom",
        "xmrig-noagent",
        "ethstratum1",
        "ethstratum2",
        "eth-proxy",
        "stratum2",
        "getwork",
    ]
    ss: list[SessionSpec] = []
    for i in range(n_mining):
        kind = kinds[i % len(kinds)]
        start = rng.uniform(0, duration * 0.5)
        tls = "pool.example.net" if kind.startswith("xmrig") and rng.random() < 0.3 else None
        ss.append(
            SessionSpec(
                kind,
                f"10.{rng.randint(1, 200)}.{rng.randint(0, 255)}.{rng.randint(2, 254)}",
                f"203.0.113.{rng.randint(1, 254)}",
                start,
                duration - start - 5,
                server_port=rng.choice([3333, 4444, 5555, 7777, 14444, 443]),
                tls_sni=tls,
            )
        )
    for kind in ("ssh", "mqtt-tls", "websocket-tls", "bitcoin-p2p", "monero-levin", "eth-node-rpc"):
        for _ in range(3):
            start = rng.uniform(0, duration * 0.3)
            ss.append(
                SessionSpec(
                    kind,
                    f"10.{rng.randint(1, 200)}.{rng.randint(0, 255)}.{rng.randint(2, 254)}",
                    f"198.51.100.{rng.randint(1, 254)}",
                    start,
                    duration - start - 5,
                )
            )
    return ScenarioSpec(ss, seed=rng.getrandbits(32), t0=t0)


def write_big_capture(
    path: Path,
    size_bytes: int,
    seed: int = 0,
    duration: float = 1800.0,
    n_mining: int = 24,
    window: float = 30.0,
    variants: int = 8,
) -> BigStats:
    """Write a time-ordered Ethernet/microsecond pcap of at least `size_bytes` and, beside it,
    `<stem>.labels.csv` with the ground truth of the mining/node/long-lived sessions (every flow not
    listed there is benign bulk traffic)."""
    import time

    t_begin = time.perf_counter()
    path = Path(path)
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    t0 = 1_718_000_000.0
    tpls, weights = _build_templates(rng, variants)
    weights = weights / weights.sum()
    avg = float(sum(w * t.nbytes for w, t in zip(weights, tpls, strict=True)))
    needle_spec = _needles(rng, duration, n_mining, t0)
    npk, labels = build_scenario(needle_spec)
    link = LinkSpec()
    n_frames = [link.frame(p.data) for p in npk]
    needle_ts = np.array([p.ts_ns for p in npk], dtype=np.int64)
    needle_rec = [
        struct.pack("<IIII", p.ts_ns // 1_000_000_000, (p.ts_ns // 1000) % 1_000_000, len(f), len(f)) + f
        for p, f in zip(npk, n_frames, strict=True)
    ]
    needle_bytes = sum(len(r) for r in needle_rec)
    need = size_bytes - 24 - needle_bytes
    sizes = np.array([t.nbytes for t in tpls], dtype=np.int64)
    tpl_ids = nrng.choice(len(tpls), size=int(max(0, need) / avg) + 1, p=weights)
    while int(sizes[tpl_ids].sum()) < need:  # top up until the file is at least size_bytes
        more = nrng.choice(len(tpls), size=max(16, int((need - sizes[tpl_ids].sum()) / avg) + 1), p=weights)
        tpl_ids = np.concatenate([tpl_ids, more])
    n_flows = int(tpl_ids.size)
    max_dur = max(t.duration_ns for t in tpls)
    span_ns = int(duration * 1e9) - max_dur - 1
    starts = np.sort(nrng.integers(0, max(span_ns, 1), size=n_flows)) + int(t0 * 1e9)
    hosts = (10 << 24) | nrng.integers(1 << 8, 1 << 20, size=4000)
    servers = (198 << 24) | (18 << 16) | nrng.integers(0, 1 << 17, size=30000)
    cip = hosts[nrng.integers(0, hosts.size, size=n_flows)]
    sip = servers[nrng.integers(0, servers.size, size=n_flows)]
    for i, t in enumerate(tpls):  # DNS goes to a few resolvers
        if t.kind == "dns":
            m = tpl_ids == i
            sip[m] = (10 << 24) | (0 << 16) | (0 << 8) | 53 + nrng.integers(0, 3, size=int(m.sum()))
    cport = nrng.integers(32768, 61000, size=n_flows)

    win_ns = int(window * 1e9)
    written = 24
    packets = 0
    carry_buf = np.zeros(0, dtype=np.uint8)
    carry_off = np.zeros(0, dtype=np.int64)
    carry_ts = np.zeros(0, dtype=np.int64)
    ni = 0
    with path.open("wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        w_start = int(t0 * 1e9)
        lo = 0
        end_all = int((t0 + duration) * 1e9) + max_dur + win_ns
        while w_start < end_all:
            w_end = w_start + win_ns
            hi = int(np.searchsorted(starts, w_end))
            bufs = [carry_buf]
            offs = [carry_off]
            tss = [carry_ts]
            base = carry_buf.size
            sel = np.arange(lo, hi)
            for i, t in enumerate(tpls):
                m = sel[tpl_ids[lo:hi] == i]
                if m.size == 0:
                    continue
                flat, rec, ts = _stamp(t, starts[m], cip[m], cport[m], sip[m])
                bufs.append(flat)
                offs.append(rec + base)
                tss.append(ts)
                base += flat.size
            lo = hi
            buf = np.concatenate(bufs)
            off = np.concatenate(offs)
            ts = np.concatenate(tss)
            order = np.argsort(ts, kind="stable")
            off, ts = off[order], ts[order]
            cut = int(np.searchsorted(ts, w_end))
            ends = np.empty_like(off)
            # record length = 16 + incl_len, read from the records themselves
            inc = (
                buf[off[:, None] + np.arange(8, 12)[None, :]].astype(np.int64)
                if off.size
                else np.zeros((0, 4), np.int64)
            )
            ends = off + 16 + (inc[:, 0] | (inc[:, 1] << 8) | (inc[:, 2] << 16) | (inc[:, 3] << 24))
            mv = memoryview(buf)
            n_hi = int(np.searchsorted(needle_ts, w_end))
            parts = [mv[a:b] for a, b in zip(off[:cut].tolist(), ends[:cut].tolist(), strict=True)]
            if n_hi > ni:  # merge needle packets of this window by timestamp
                merged_ts = np.concatenate([ts[:cut], needle_ts[ni:n_hi]])
                allp = parts + needle_rec[ni:n_hi]
                parts = [allp[j] for j in np.argsort(merged_ts, kind="stable").tolist()]
                ni = n_hi
            data = b"".join(parts)
            f.write(data)
            written += len(data)
            packets += len(parts)
            rest = [mv[a:b] for a, b in zip(off[cut:].tolist(), ends[cut:].tolist(), strict=True)]
            carry_buf = (
                np.frombuffer(b"".join(rest), dtype=np.uint8).copy() if rest else np.zeros(0, np.uint8)
            )
            lens = ends[cut:] - off[cut:]
            carry_off = (
                np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
                if rest
                else np.zeros(0, np.int64)
            )
            carry_ts = ts[cut:].copy()
            w_start = w_end
        if ni < len(needle_rec):
            data = b"".join(needle_rec[ni:])
            f.write(data)
            written += len(data)
            packets += len(needle_rec) - ni
    lab_path = labels_csv(labels, path.with_suffix(".labels.csv"))
    secs = time.perf_counter() - t_begin
    mining = sum(1 for lab in labels if lab.label == "mining" and lab.proto == "tcp")
    return BigStats(
        path, lab_path, written, packets, n_flows + len(labels), mining, secs, written / 1e6 / secs
    )


__all__ = ["BigStats", "Label", "write_big_capture"]
