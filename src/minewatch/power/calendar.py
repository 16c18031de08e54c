"""The Spring Festival (Chinese New Year) calendar, for the festival test of the meter detector.

Why it matters: Chinese factories, workshops and most businesses stop for the Spring Festival (the
official holiday is about a week; many plants close for two or three), while a mining fleet keeps
hashing — a rig that stopped would earn nothing, and holidays are when nobody inspects. So a large
flat load that disappears over the festival is a 24-hour production line, not a rig. The date moves
with the lunisolar calendar, hence the table: first day of the first lunar month (正月初一), public
almanac dates.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

#: First day of the lunar year (春节, 正月初一) by Gregorian year.
SPRING_FESTIVAL: dict[int, date] = {
    2010: date(2010, 2, 14), 2011: date(2011, 2, 3), 2012: date(2012, 1, 23), 2013: date(2013, 2, 10),
    2014: date(2014, 1, 31), 2015: date(2015, 2, 19), 2016: date(2016, 2, 8), 2017: date(2017, 1, 28),
    2018: date(2018, 2, 16), 2019: date(2019, 2, 5), 2020: date(2020, 1, 25), 2021: date(2021, 2, 12),
    2022: date(2022, 2, 1), 2023: date(2023, 1, 22), 2024: date(2024, 2, 10), 2025: date(2025, 1, 29),
    2026: date(2026, 2, 17), 2027: date(2027, 2, 6), 2028: date(2028, 1, 26), 2029: date(2029, 2, 13),
    2030: date(2030, 2, 3), 2031: date(2031, 1, 23), 2032: date(2032, 2, 11), 2033: date(2033, 1, 31),
    2034: date(2034, 2, 19), 2035: date(2035, 2, 8),
}  # fmt: skip

#: The days every business that closes for the festival is closed: New Year's Day and the five days
#: after it. The official holiday is 7-9 days around it (eve included in some years), and factories
#: close longer, so these six days are inside every closure.
CORE_DAYS = 6


def festival_mask(day0: date, n_days: int, core_days: int = CORE_DAYS) -> np.ndarray:
    """Which of the n_days starting at day0 are core Spring Festival days (years outside the table: none)."""
    mask = np.zeros(max(n_days, 0), dtype=bool)
    if n_days <= 0:
        return mask
    last = day0 + timedelta(days=n_days - 1)
    for year in range(day0.year, last.year + 1):
        first = SPRING_FESTIVAL.get(year)
        if first is None:
            continue
        a = (first - day0).days
        lo, hi = max(a, 0), min(a + core_days, n_days)
        if lo < hi:
            mask[lo:hi] = True
    return mask


def factory_closure(year: int) -> tuple[date, date] | None:
    """A typical plant closure for the festival, [start, end): from three days before New Year's Day to
    twelve days after (workers travel home and return late). Used by the evaluation generator."""
    first = SPRING_FESTIVAL.get(year)
    if first is None:
        return None
    return first - timedelta(days=3), first + timedelta(days=12)
