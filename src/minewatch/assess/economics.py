"""Money: hashprice, revenue, electricity cost, break-even tariff and payback.

Why everything goes through hashprice (USD per TH/s per day): it folds subsidy, fees, difficulty and BTC
price into one number, so a site's revenue is just its hashrate times it, and the break-even tariff is
the price at which one TH/s's electricity costs exactly one hashprice (CBECI's profitability threshold is
the same equation solved for efficiency).
"""

from __future__ import annotations

from minewatch.assess.energy import Factor, check_factor
from minewatch.i18n import tr

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


def fx_factor(currency: str, factors: dict, rate: float | None = None) -> Factor:
    """Currency units per USD, from the user or the factors file (checked alike: finite and > 0)."""
    cur = currency.upper()
    if rate is not None:
        return Factor(f"fx_{cur}_per_USD", check_factor("fx", rate), f"{cur}/USD", "given by the user", "", "由用户给定")
    try:
        f = factors["fx"][cur]
    except KeyError as e:
        raise ValueError(tr(f"no exchange rate for {cur}; give --fx", f"没有 {cur} 的汇率；请给出 --fx")) from e
    return Factor(f"fx_{cur}_per_USD", check_factor(f"fx.{cur}.value", f.get("value")), f"{cur}/USD",
                  str(f.get("source", "")), str(f.get("as_of", "")), str(f.get("source_zh", "")))  # fmt: skip
