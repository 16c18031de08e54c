"""XMRig's keepalive timer restarts on every line it *receives* (`Client::parse` calls `startTimeout()`), so a
slow miner's `keepalived` goes out 60 s after the last job push or reply, not 60 s after its own last send.

Why this matters: with a pool pushing a job after each block, the gap since the client's last send is then
anything, the keepalive cluster went unrecognised, and the keepalives were read as the share stream: their
gaps repeat 60 s, which `clocked_requests` (review 10) calls a timer, so the session lost 20 points."""

from __future__ import annotations

import numpy as np

from minewatch.evaluate.encrypted import wire_packets
from minewatch.net import behavior

OVERHEAD = 22
SUBMIT, SUBMIT_REPLY = 190 + OVERHEAD, 47 + OVERHEAD
KEEPALIVE, KEEPALIVE_REPLY = 104 + OVERHEAD, 54 + OVERHEAD
JOB = 390 + OVERHEAD


def _xmrig_slow(seed: int, duration: float = 3 * 3600.0, share_s: float = 600.0, block_s: float = 60.0,
                rtt: float = 0.05) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Messages (t, dir, bytes) of a slow XMRig miner whose keepalive follows the last received line."""
    rng = np.random.default_rng(seed)
    pushes = np.cumsum(rng.exponential(block_s, 400))
    pushes = pushes[pushes < duration]
    shares = np.cumsum(rng.exponential(share_s, 400))
    shares = shares[(shares > 1.0) & (shares < duration)]
    msgs: list[tuple[float, int, int]] = [(0.0, 0, 150 + OVERHEAD), (rtt, 1, 600 + OVERHEAD)]
    msgs += [(float(p), 1, JOB) for p in pushes]
    received = [rtt, *pushes.tolist()]
    for s in shares:
        msgs += [(float(s), 0, SUBMIT), (float(s) + rtt, 1, SUBMIT_REPLY)]
        received.append(float(s) + rtt)
    received.sort()
    # the keepalive timer: 60 s after the last received line, restarted by every line received since
    t_last, i, kas = 0.0, 0, []
    while True:
        while i < len(received) and received[i] <= t_last + behavior.KEEPALIVE_S:
            t_last = max(t_last, received[i])
            i += 1
        fire = t_last + behavior.KEEPALIVE_S
        if fire >= duration:
            break
        kas.append(fire)
        received.insert(i, fire + rtt)  # its reply, a received line too
        t_last = fire + rtt
        i += 1
    for k in kas:
        msgs += [(k, 0, KEEPALIVE), (k + rtt, 1, KEEPALIVE_REPLY)]
    msgs.sort()
    mt = np.array([m[0] for m in msgs]) + 1.7e9
    md = np.array([m[1] for m in msgs], dtype=np.int8)
    ml = np.array([m[2] for m in msgs], dtype=np.int64)
    return wire_packets(mt, md, ml, rtt)


def test_keepalive_after_last_received_line_is_a_keepalive_not_a_share_clock() -> None:
    found = 0
    for seed in range(4):  # a job a minute on average (RVN blocks, or a pool refresh): the keepalive seldom 60 s after a send
        t, d, ln = _xmrig_slow(seed)
        r = behavior.score_timeline(t, d, ln)
        assert r is not None
        assert "clocked_requests" not in r.subscores, (seed, r.subscores, r.stats)
        found += "keepalive_60s" in r.subscores
    assert found == 4


def test_keepalive_after_last_send_still_recognised() -> None:
    """The other timer (MQTT's PINGREQ, the generator's XMRig): 60 s after the client's own last send."""
    rng = np.random.default_rng(3)
    shares = np.cumsum(rng.exponential(300.0, 100))
    shares = shares[shares < 7200]
    sends: list[tuple[float, str]] = []
    last = 0.0
    for s in shares:
        while s - last > behavior.KEEPALIVE_S:
            last += behavior.KEEPALIVE_S
            sends.append((last, "ka"))
        sends.append((float(s), "share"))
        last = float(s)
    msgs: list[tuple[float, int, int]] = []
    for s, tag in sends:
        msgs += [(s, 0, KEEPALIVE if tag == "ka" else SUBMIT), (s + 0.05, 1, KEEPALIVE_REPLY if tag == "ka" else SUBMIT_REPLY)]
    msgs += [(float(p), 1, JOB) for p in np.cumsum(rng.exponential(120.0, 80)) if p < 7200]
    msgs.sort()
    mt = np.array([m[0] for m in msgs]) + 1.7e9
    t, d, ln = wire_packets(mt, np.array([m[1] for m in msgs], dtype=np.int8), np.array([m[2] for m in msgs]), 0.05)
    r = behavior.score_timeline(t, d, ln)
    assert r is not None and "keepalive_60s" in r.subscores
