"""Money: hashprice, revenue, electricity cost, break-even tariff and payback.

Why everything goes through hashprice (USD per TH/s per day): it folds subsidy, fees, difficulty and BTC
price into one number, so a site's revenue is just its hashrate times it, and the break-even tariff is
the price at which one TH/s's electricity costs exactly one hashprice (CBECI's profitability threshold is
the same equation solved for efficiency).
"""

from __future__ import annotations

import csv
import io
from functools import lru_cache

from minewatch.assess.energy import Factor, check_factor
from minewatch.i18n import tr
from minewatch.paths import package_data

SECONDS_PER_DAY = 86400


def hashprice_from_revenue(revenue_usd_per_day: float, hashrate_ths: float) -> float:
    """USD per TH/s per day = miner revenue per day / network hashrate."""
    if hashrate_ths <= 0:
        raise ValueError("hashrate must be > 0")
    return revenue_usd_per_day / hashrate_ths


def hashprice_from_difficulty(
    difficulty: float, reward_btc_per_block: float, price_usd: float
) -> float:
    """USD per TH/s per day from first principles: blocks one TH/s expects per day times the reward.

    One TH/s does 1e12*86400 hashes a day; a block takes difficulty*2^32 hashes on average.
    `reward_btc_per_block` is subsidy plus mean fees per block.
    """
    blocks_per_day = 1e12 * SECONDS_PER_DAY / (difficulty * 2**32)
    return blocks_per_day * reward_btc_per_block * price_usd


def revenue_per_day(hashrate_ths: float, hashprice_usd: float, fx: float = 1.0) -> float:
    """Site revenue per day in the target currency (`fx` = currency units per USD)."""
    return hashrate_ths * hashprice_usd * fx


def electricity_cost_per_day(kw: float, tariff: float, uptime: float = 1.0) -> float:
    """Cost per day in the tariff's currency (tariff per kWh)."""
    return kw * 24.0 * uptime * tariff


def break_even_tariff(j_per_th: float, hashprice_usd: float, pue: float = 1.0, fx: float = 1.0) -> float:
    """Electricity price (currency/kWh) at which a machine's revenue equals its electricity cost.

    A machine of e J/TH uses e*PUE*24/1000 kWh per TH/s per day, so the break-even price is
    hashprice / (e*PUE*24/1000).
    """
    kwh_per_th_day = j_per_th * pue * 24.0 / 1000.0
    return hashprice_usd * fx / kwh_per_th_day


def profitability_threshold_j_per_gh(revenue_usd_per_day: float, hashrate_ths: float, price_usd_kwh: float) -> float:
    """CBECI's threshold: the least efficient machine (J/GH) that still covers its electricity at `price`.

    (revenue per TH hashed) / (price of one joule) / 1000, with a kWh = 3.6e6 J.
    """
    rev_per_th = revenue_usd_per_day / (hashrate_ths * SECONDS_PER_DAY)
    return rev_per_th / (price_usd_kwh / 3.6e6) / 1000.0


def payback_days(capex: float | None, profit_per_day: float | None) -> float | None:
    """Days to earn back a purchase; None when the price is unknown or the machine does not make a profit."""
    if capex is None or profit_per_day is None or profit_per_day <= 0:
        return None
    return capex / profit_per_day


@lru_cache(maxsize=1)
def fx_table() -> dict[tuple[str, int], tuple[float, str, str]]:
    """(currency, year) -> (annual average units per USD, source, Chinese source), from `data/fx_annual.csv`.

    Why a table by year: a 2021 site's revenue at the 2023-24 rate (7.2 CNY/USD, 2021's average was 6.45) is
    overstated by 12 % in yuan, and revenue since an onset years ago spans several rates (review 12)."""
    out: dict[tuple[str, int], tuple[float, str, str]] = {}
    text = package_data("fx_annual.csv").read_text(encoding="utf-8")
    rows = csv.DictReader(line for line in io.StringIO(text) if not line.startswith("#"))
    for r in rows:
        out[(r["currency"].strip().upper(), int(r["year"]))] = (float(r["per_usd"]), r["source"], r.get("source_zh") or "")
    return out


def fx_factor(currency: str, factors: dict, rate: float | None = None, year: int | None = None) -> Factor:
    """Currency units per USD: the user's, else the annual average of `year` from `fx_table`, else the factors
    file's fixed rate (checked alike: finite and > 0), with a warning when the table has the currency but not
    the year (as for stale network data: the figure is of another time's rate)."""
    cur = currency.upper()
    if rate is not None:
        return Factor(f"fx_{cur}_per_USD", check_factor("fx", rate), f"{cur}/USD", "given by the user", "", "由用户给定")
    table = fx_table()
    from minewatch.assess.energy import _builtin

    # a rate set in a --factors file is the user's, and wins over the table as --fx does
    own = (factors.get("fx") or {}).get(cur) != (_builtin().get("fx") or {}).get(cur)
    if year is not None and (cur, year) in table and not own:
        v, src, src_zh = table[(cur, year)]
        return Factor(f"fx_{cur}_per_USD", v, f"{cur}/USD", f"{src} (annual average of {year}, data/fx_annual.csv)",
                      str(year), f"{src_zh}（{year} 年年平均，data/fx_annual.csv）")  # fmt: skip
    try:
        f = factors["fx"][cur]
    except KeyError as e:
        raise ValueError(tr(f"no exchange rate for {cur}; give --fx", f"没有 {cur} 的汇率；请给出 --fx")) from e
    warn: tuple[tuple[str, str], ...] = ()
    years = sorted(y for c, y in table if c == cur)
    if year is not None and years and not own:
        # the fixed rate is the factors file's, not a year's (review 13: "the fixed rate 7.2 of 2024" where the
        # table's 2024 average is 7.1217)
        warn = ((f"no annual average {cur} per USD for {year} (the table covers {years[0]}-{years[-1]}): the fixed "
                 f"rate {f.get('value')} of factors.yaml is used; give --fx for that year's rate",
                 f"汇率表中没有 {year} 年的 {cur} 对美元年平均汇率（表中为 {years[0]}-{years[-1]} 年）：按 factors.yaml 的"
                 f"固定汇率 {f.get('value')} 计算；可用 --fx 给出该年汇率"),)  # fmt: skip
    return Factor(f"fx_{cur}_per_USD", check_factor(f"fx.{cur}.value", f.get("value")), f"{cur}/USD",
                  str(f.get("source", "")), str(f.get("as_of", "")), str(f.get("source_zh", "")), warn)  # fmt: skip
