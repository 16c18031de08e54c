"""Estimate a miner's hashrate from the shares it submits, with an honest error bar.

Why from shares: a pool sets a share target so that a miner of hashrate H finds, on average, one
share per `difficulty x K` hashes (K depends on the algorithm family's difficulty-1 convention).
Shares are a Poisson process, so counting them over time measures H; with n shares the relative
standard error is about 1/sqrt(n), which is why fewer than 3 shares or less than a minute gives
no estimate at all. The formulas and their assumptions are written out in docs/hashrate.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

TWO32 = float(2**32)
TWO16 = float(2**16)
TWO64 = float(2**64)
TWO256 = float(2**256)

#: Expected hashes per share at Stratum difficulty 1, per algorithm family (see docs/hashrate.md).
HASHES_PER_DIFF1: dict[str, float] = {
    "sha256d": TWO32,  # Bitcoin diff-1 target 0x00000000FFFF... => 2^32 hashes (the 0xFFFF/0x10000 factor ignored)
    "scrypt": TWO16,  # scrypt pools' diff-1 target is 0x0000FFFF... (2^16 times easier than Bitcoin's)
    "ethash": TWO32,  # EthereumStratum/1.0.0: diff 1 = target 0x00000000FFFF0000...
    "kawpow": TWO32,  # same convention as EthereumStratum/1.0.0
    "kheavyhash": TWO32,  # Kaspa pools use the Bitcoin convention
    "autolykos2": TWO32,
    "equihash": 8192.0,  # Zcash pools' diff-1 target 0x0007ffff... = about 2^13 solutions per share
    "cuckoo": 1.0,  # cuckoo-cycle pools state difficulty in graphs
    "cryptonote": 1.0,  # CryptoNote difficulty is already a hash count
}

#: Unit of the estimate per family: Equihash and Cuckoo count solutions/graphs, not hashes.
UNITS: dict[str, str] = {"equihash": "Sol/s", "cuckoo": "G/s"}

def unit_of(algorithm: str | None = None, coin: str | None = None) -> str:
    """The unit a rate of this algorithm (or coin) is counted in: "H/s", "Sol/s" (Equihash), "G/s" (Cuckoo)."""
    from minewatch.net.coins import family_of

    return UNITS.get(family_of(algorithm, coin) or "", "H/s")


def peak_concurrent_rate(sessions: Iterable[tuple[float | None, float | None, float]]) -> float | None:
    """The highest total rate of sessions running at the same time: max over t of the sum of the
    rates of the (start, end, rate) sessions open at t.

    Why not a plain sum: a host's sessions one after the other (a miner that moved from one pool to
    the next, or reconnected) are the same machines measured twice; adding them doubles the host.
    Sessions that overlap in time are different work (a rig split across pools, or several miners
    behind one address) and do add. A session that ends when another starts does not overlap it.
    A session without a start or an end is placed nowhere in time: it is compared, never added.
    """
    events: list[tuple[float, int, float]] = []
    untimed: list[float] = []
    for start, end, rate in sessions:
        if not rate or not math.isfinite(rate) or rate <= 0:
            continue
        if start is None or end is None:
            untimed.append(rate)
            continue
        lo, hi = min(start, end), max(start, end)
        # at one instant: ends of earlier sessions (0), then starts (1), then ends of instant sessions (2)
        events += [(lo, 1, rate), (hi, 2 if hi == lo else 0, -rate)]
    if not events and not untimed:
        return None
    cur = peak = 0.0
    for _, _, delta in sorted(events, key=lambda e: (e[0], e[1])):
        cur += delta
        peak = max(peak, cur)
    return max([peak, *untimed])


def format_rate(rate: float | None, algorithm: str | None = None, coin: str | None = None) -> str:
    """A hashrate as people read it, in the unit of its algorithm's family: "106.05 TH/s", but
    "420.00 kSol/s" for Equihash (its shares count solutions, not hashes), "—" when unknown."""
    if not rate:
        return "—"
    base = unit_of(algorithm, coin)
    head, tail = base[:-2], base[-2:]  # "H" / "Sol" / "G" and "/s"
    for prefix, scale in (("E", 1e18), ("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if rate >= scale:
            return f"{rate / scale:,.2f} {prefix}{head}{tail}"
    return f"{rate:,.0f} {base}"


#: Two-sided 95 % normal quantile used for the interval.
Z95 = 1.96


def hashes_per_share(family: str | None, difficulty: float) -> float | None:
    """Expected hashes for one share at `difficulty` expressed in the family's Stratum units."""
    if family is None or difficulty is None or not math.isfinite(difficulty) or difficulty <= 0:
        return None
    k = HASHES_PER_DIFF1.get(family)
    return None if k is None else difficulty * k


def cryptonote_target_difficulty(target_hex: str) -> float | None:
    """CryptoNote/XMRig `target`: 4 or 8 bytes little-endian hex; difficulty = 2^32/t32 or 2^64/t64.

    The difficulty of a CryptoNote share is the expected number of hashes to find it.
    """
    if not isinstance(target_hex, str):
        return None
    t = target_hex.strip().lower()
    if t.startswith("0x"):
        t = t[2:]
    if len(t) not in (8, 16):
        return None
    try:
        raw = bytes.fromhex(t)
    except ValueError:
        return None
    val = int.from_bytes(raw, "little")
    if val == 0:
        return None
    return (TWO32 if len(raw) == 4 else TWO64) / val


def target256_hashes(target_hex: str) -> float | None:
    """Expected hashes per share for a 256-bit big-endian target (eth-proxy getWork[2], Zcash
    mining.set_target, EthereumStratum/2.0.0 `target`): 2^256 / target.

    EIP-1571 targets may be sent without leading zeros; they are read as the integer they denote.
    """
    if not isinstance(target_hex, str):
        return None
    t = target_hex.strip().lower()
    if t.startswith("0x"):
        t = t[2:]
    if not t or len(t) > 64:
        return None
    try:
        val = int(t, 16)
    except ValueError:
        return None
    if val == 0:
        return None
    return TWO256 / val


def target256_hashes_left_aligned(target_hex: str) -> float | None:
    """Like `target256_hashes`, for targets written as the leading digits of a 64-digit number
    (zero-padded on the right), as EthereumStratum/2.0.0 pools send shortened targets."""
    if not isinstance(target_hex, str):
        return None
    t = target_hex.strip().lower()
    if t.startswith("0x"):
        t = t[2:]
    if not t or len(t) > 64:
        return None
    return target256_hashes(t.ljust(64, "0"))


@dataclass(slots=True)
class HashrateEstimate:
    """H with its 95 % interval, and what it rests on."""

    hashrate_hs: float
    low_hs: float
    high_hs: float
    n_shares: int
    span_s: float
    family: str | None
    unit: str
    formula: str
    assumptions: list[str] = field(default_factory=list)


@dataclass(slots=True)
class ShareAccumulator:
    """Running sums of share work so a long session needs constant memory.

    `add(ts, hashes)` takes the expected hashes of one counted share (difficulty x K already
    applied). The rate uses the renewal estimate: the work of shares 2..n divided by the time from
    share 1 to share n (the first share only marks the start of the clock).
    """

    n: int = 0
    work_total: float = 0.0
    work_first: float = 0.0
    t_first: float | None = None
    t_last: float | None = None

    def add(self, ts: float, hashes: float) -> None:
        if hashes is None or not math.isfinite(hashes) or hashes <= 0:
            return
        if self.t_first is None or ts < self.t_first:
            # The earliest share starts the clock (an out-of-order earlier one takes over).
            self.work_first = hashes
            self.t_first = ts
        if self.t_last is None or ts > self.t_last:
            self.t_last = ts
        self.n += 1
        self.work_total += hashes

    def estimate(
        self,
        family: str | None,
        *,
        min_shares: int = 3,
        min_span_s: float = 60.0,
        basis: str = "accepted shares",
    ) -> HashrateEstimate | None:
        if self.n < min_shares or self.t_first is None or self.t_last is None:
            return None
        span = self.t_last - self.t_first
        if span < min_span_s:
            return None
        work = self.work_total - self.work_first
        n_eff = self.n - 1
        h = work / span
        rel = Z95 / math.sqrt(n_eff)
        k = HASHES_PER_DIFF1.get(family or "")
        unit = UNITS.get(family or "", "H/s")
        if family == "cryptonote":
            formula = "H = sum(difficulty_i, i=2..n) / (t_n - t_1); CryptoNote difficulty = 2^32/target32 (or 2^64/target64)"
        elif k is not None:
            formula = f"H = sum(difficulty_i, i=2..n) x {_k_text(k)} / (t_n - t_1) [{family}]"
        else:
            formula = "H = sum(2^256/target_i, i=2..n) / (t_n - t_1)"
        return HashrateEstimate(
            hashrate_hs=h,
            low_hs=h * math.exp(-rel),
            high_hs=h * math.exp(rel),
            n_shares=self.n,
            span_s=span,
            family=family,
            unit=unit,
            formula=formula,
            assumptions=[
                f"counted {basis}; each share costs difficulty x K expected hashes",
                "shares arrive as a Poisson process; 95 % interval H x exp(+-1.96/sqrt(n-1))",
                "the miner worked for this pool only, at a constant rate, for the whole span",
            ],
        )


def _k_text(k: float) -> str:
    for name, v in (("2^32", TWO32), ("2^16", TWO16), ("2^13", 8192.0), ("1", 1.0)):
        if k == v:
            return name
    return f"{k:g}"


def estimate_hashrate(
    events: list[tuple[float, float]],
    family: str | None,
    *,
    min_shares: int = 3,
    min_span_s: float = 60.0,
) -> HashrateEstimate | None:
    """Hashrate from (ts, expected_hashes) pairs; a convenience over `ShareAccumulator`."""
    acc = ShareAccumulator()
    for ts, hashes in events:
        acc.add(ts, hashes)
    return acc.estimate(family, min_shares=min_shares, min_span_s=min_span_s)
