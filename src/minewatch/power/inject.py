"""The evaluation generator: real load curves plus injected mining rigs and honest look-alikes.

Why real curves: the hard part of finding rigs is the customer's own load (weekends, holidays,
weather, metering gaps), which no simple synthetic model captures. The shared set's SGSC household
and ETT transformer feeder curves are the base; on top of them we add either a rig fleet or one
of the honest loads that resemble one (cold room, server room, 24-h line, greenhouse lamps, heat
pump or storage boiler, EV chargers). Every assumption is a named constant here and in docs/power.md.

The generator returns the truth separately (`Truth`); the detector only gets the series, the
customer metadata and the weather (what an inspector has), never this module's parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np

from minewatch.power.calendar import factory_closure
from minewatch.power.readers import MeterMeta, MeterSeries, read_file

DAY = 86400
TARGET_START = datetime(2023, 3, 6, tzinfo=UTC)  #: windows are moved near here, by whole weeks
WINDOW_DAYS = 364
CONFOUNDERS = ("cold_storage", "data_centre", "factory_24h", "greenhouse", "heat_pump", "ev_charger",
               "plant_closure", "telecom_site", "pumping_station")
#: Review 6: share of fleets that run only in part of the day under a time-of-use tariff, and their schedules
#: (hours on): the valley 23-07 or 22-08, off in the morning and evening peaks (08-11, 17-22), or a daily
#: 6-h demand-response stop 16-22. Peak prices are 3-4x the valley price in China.
TOU_SHARE = 0.2
TOU_SCHEDULES = ("valley_23_07", "valley_22_08", "peak_off", "stop_16_22")
#: plants with their own meter that close: for the Spring Festival (from 1-5 days before New Year's Day,
#: 7-30 days) or, for continuous processes, a 10-21-day maintenance turnaround in July-October
PLANT_FEST_CLOSE_DAYS = (7, 30)
PLANT_TURNAROUND_DAYS = (10, 21)
#: declared businesses of the round-the-clock look-alikes (what a customer file would say)
TELECOM_DECL = ("telecom base station", "中国铁塔基站", "5G基站", "通信基站")
PUMPING_DECL = ("water supply", "供水泵站", "污水处理厂", "pumping station")
#: business customers' declared (tariff class, business), drawn for miners and plain customers alike
BUSINESS_DECL = (
    ("commercial", "retail"), ("commercial", "office"), ("industrial", "manufacturing"),
    ("agricultural", "farm"), ("commercial", "warehouse"),
)  # fmt: skip
AIR_SHARE = 0.85  #: share of fleets of air-cooled ASICs (hydro needs a water loop)
RAMP_MAX_DAYS = 7  #: machines are switched on over 0..this many days
FAIL_PER_DAY = 1 / 250  #: per-machine failure hazard
PRE_WINDOW_SHARE = 0.15  #: fleets already running when the window starts (no onset to find)


@dataclass(slots=True)
class Truth:
    meter_id: str
    label: int  # 1 = mining
    kind: str  # "mining", "plain" or a confounder name
    onset_s: int | None = None  # UTC seconds of the first machine; None = before the window or none
    machines: int | None = None
    model: str | None = None
    unit_kw: float | None = None
    mining_kw: float | None = None


@dataclass
class Population:
    series: list[MeterSeries]
    meta: dict[str, MeterMeta]
    temperature: dict[str, tuple[np.ndarray, np.ndarray]]  # meter -> hourly (ts, °C)
    truth: list[Truth] = field(default_factory=list)


def base_curves(shared: Path) -> list[tuple[str, str, int, np.ndarray]]:
    """(name, kind, start_s, hourly kW) of the real curves: 10 SGSC households, 6 ETT feeders."""
    out: list[tuple[str, str, int, np.ndarray]] = []
    from minewatch.power.features import hourly

    r = read_file(shared / "power" / "sgsc_smart_meter10.csv")
    for s in r.series:
        h, st, _ = hourly(s.kw, s.start_s, s.interval_s)
        out.append((f"sgsc{s.meter_id}", "household", st, h))
    for f in ("ETTh1.csv", "ETTh2.csv"):
        r = read_file(shared / "power" / f)
        for s in r.series:
            # feeders with more than a fifth of their hours missing/negative are left out
            if s.meter_id in ("HUFL", "MUFL", "LUFL") and np.isnan(s.kw).mean() < 0.2:
                out.append((f"{f[:5]}{s.meter_id}", "business", s.start_s, s.kw))
    return out


def _temperature(rng: np.random.Generator, start_s: int, n: int) -> np.ndarray:
    """Hourly ambient °C of a temperate site: seasonal and daily cycles plus AR(1) weather."""
    t = start_s + np.arange(n) * 3600
    doy = ((t // DAY) % 365.25) / 365.25
    hour = (t % DAY) / 3600
    mean = rng.uniform(10, 18)
    amp = rng.uniform(10, 15)
    days = n // 24 + 2
    w = np.zeros(days)
    e = rng.normal(0, 2.0, days)
    for i in range(1, days):
        w[i] = 0.8 * w[i - 1] + e[i]
    weather = np.repeat(w, 24)[:n]
    return mean - amp * np.cos(2 * np.pi * (doy - 0.04)) + 4 * np.sin(2 * np.pi * (hour - 9) / 24) + weather


def _ar(rng: np.random.Generator, n: int, rho: float, sd: float) -> np.ndarray:
    e = rng.normal(0, sd * np.sqrt(1 - rho**2), n)
    out = np.empty(n)
    acc = 0.0
    for i in range(n):
        acc = rho * acc + e[i]
        out[i] = acc
    return out


def _pick_model(rng: np.random.Generator, at: date) -> tuple[str, float]:
    from minewatch.assess.hardware import load_catalog

    cat = load_catalog()
    ms = [m for m in cat.available("sha256d", at) if m.release and (at - m.release).days < 3 * 365]
    air = [m for m in ms if m.cooling == "air"]
    hyd = [m for m in ms if m.cooling != "air"]
    pool = air if (rng.random() < AIR_SHARE or not hyd) else hyd
    m = pool[int(rng.integers(len(pool)))]
    return m.model, m.power_w / 1000.0


def mining_load(
    rng: np.random.Generator, n: int, start_s: int, onset_idx: int, machines: int, unit_kw: float
) -> np.ndarray:
    """Hourly kW of a fleet: ramp-up, per-machine spread, failures/repairs, curtailment, noise."""
    load = np.zeros(n)
    hours = np.arange(n)
    ramp_h = int(rng.integers(0, RAMP_MAX_DAYS + 1)) * 24
    starts = np.sort(onset_idx + rng.integers(0, ramp_h + 1, machines))
    starts[0] = onset_idx
    days = n // 24 + 1
    for j in range(machines):
        p = unit_kw * (1 + rng.normal(0, 0.02))
        on = hours >= starts[j]
        # failures: hazard per day, 1-7 days down, 20 % never repaired
        d = starts[j] // 24
        while True:
            d += int(rng.geometric(FAIL_PER_DAY))
            if d >= days:
                break
            if rng.random() < 0.2:
                on &= hours < d * 24
                break
            down = int(rng.integers(1, 8))
            on &= ~((hours >= d * 24) & (hours < (d + down) * 24))
            d += down
        load += p * on
    hod = ((start_s + hours * 3600) % DAY) // 3600
    dow = ((start_s // DAY + hours // 24 + 3) % 7)
    r = rng.random()
    if r < 0.3:  # peak-hour curtailment on weekdays (time-of-use tariff)
        frac = rng.uniform(0.5, 1.0)
        h0 = int(rng.integers(17, 20))
        mask = (hod >= h0) & (hod < h0 + 3) & (dow < 5)
        load[mask] *= 1 - frac
    elif r < 0.45:  # demand-response days
        for _ in range(int(rng.integers(5, 16))):
            d0 = int(rng.integers(0, days)) * 24 + int(rng.integers(8, 16))
            load[d0 : d0 + int(rng.integers(4, 13))] *= 0.5
    for _ in range(int(rng.integers(0, 6))):  # pool or network outages: rigs idle
        h = int(rng.integers(0, n))
        load[h : h + int(rng.integers(1, 4))] *= 0.1
    return load * (1 + rng.normal(0, 0.005, n))


def _festival_closure(days: np.ndarray) -> np.ndarray:
    """Hours (given as their datetime64[D] days) inside a plant's Spring Festival closure."""
    out = np.zeros(days.shape, dtype=bool)
    years = days.astype("datetime64[Y]").astype(np.int64) + 1970
    for y in np.unique(years):
        span = factory_closure(int(y))
        if span is not None:
            out |= (days >= np.datetime64(span[0])) & (days < np.datetime64(span[1]))
    return out


def confounder_load(
    rng: np.random.Generator, kind: str, n: int, start_s: int, temp: np.ndarray, base_mean: float
) -> tuple[np.ndarray, str | None]:
    """Hourly kW of one honest look-alike and the business it is usually declared as (or None)."""
    hours = np.arange(n)
    hod = ((start_s + hours * 3600) % DAY) // 3600
    dow = ((start_s // DAY + hours // 24 + 3) % 7)
    # calendar day of the year (0 = 1 January): the dates below (Spring Festival, heating season) are
    # calendar dates, so leap days must count (epoch days modulo 365 drift by a day every leap year)
    days = ((start_s + hours * 3600) // DAY).astype("datetime64[D]")
    doy = (days - days.astype("datetime64[Y]")).astype(np.int64)
    onset = np.ones(n, bool)
    if rng.random() < 0.5:
        onset = hours >= int(rng.integers(45 * 24, n - 60 * 24))
    if kind == "cold_storage":
        p = base_mean * rng.uniform(0.5, 2.0)
        duty = np.clip(0.45 + 0.03 * (temp - 15) + _ar(rng, n, 0.5, 0.15), 0.05, 1.0)
        duty[(hod % 8 == 2)] += 0.3  # defrost heaters
        decl = "cold storage" if rng.random() < 0.7 else "food processing"
        return p * duty * onset, decl
    if kind == "data_centre":
        p = base_mean * rng.uniform(0.5, 2.0)
        it = np.ones(n)
        for _ in range(int(rng.integers(1, 4))):  # racks added during the year
            it += rng.uniform(0.1, 0.3) * (hours >= int(rng.integers(0, n)))
        cool = 0.3 + 0.015 * np.clip(temp - 15, 0, None)
        decl = "data center" if rng.random() < 0.7 else "office"  # an undeclared server room
        return p * it * (1 + cool) * (1 + rng.normal(0, 0.02, n)) * onset, decl
    if kind == "factory_24h":
        p = base_mean * rng.uniform(0.5, 2.0)
        f = 1 + _ar(rng, n, 0.7, 0.08)
        f[np.isin(hod, (0, 8, 16))] *= 0.85  # shift changes
        f[(dow == 6) & (hod >= 8) & (hod < 16)] *= 0.3  # weekly maintenance
        f[_festival_closure(days)] *= 0.1  # Spring Festival shutdown (calendar.factory_closure)
        return p * np.clip(f, 0, None) * onset, "manufacturing"
    if kind == "greenhouse":
        p = base_mean * rng.uniform(0.5, 2.0)
        h0 = int(rng.integers(0, 6))
        length = int(rng.integers(14, 19))
        on = ((hod - h0) % 24) < length
        season = (doy >= 280) | (doy < 80)  # supplemental lighting in the dark half-year
        sunny = np.repeat(rng.random(n // 24 + 1) < 0.3, 24)[:n] & (hod >= 10) & (hod < 15)
        return p * on * season * np.where(sunny, 0.5, 1.0), "greenhouse"
    if kind == "heat_pump":
        p = base_mean * rng.uniform(0.5, 2.0)
        if rng.random() < 0.5:  # heat pump: follows the cold
            load = p * np.clip((16 - temp) / 20, 0, 1) * (1 + 0.15 * np.cos(2 * np.pi * (hod - 6) / 24))
        else:  # electric storage boiler: off-peak nights, harder on cold nights
            night = (hod >= 23) | (hod < 7)
            load = p * night * np.clip((16 - temp) / 15, 0, 1) * 1.5
        # district heating season start date (Nov 15) is a step on a fixed date
        season = (doy >= 318) | (doy < 90)
        return load * season * (1 + rng.normal(0, 0.03, n)), None
    if kind == "ev_charger":
        chargers = int(rng.integers(1, 6))
        p = rng.choice((7.0, 11.0, 22.0, 60.0))
        load = np.zeros(n)
        for d in range(n // 24):
            for _ in range(chargers):
                if rng.random() < 0.8:
                    s = d * 24 + int(rng.integers(18, 24))
                    load[s : s + int(rng.integers(3, 9))] += p
        ev_on = hours >= int(rng.integers(45 * 24, n - 60 * 24))
        return load * ev_on, None
    if kind == "plant_closure":
        # a 24-h plant on its own meter (replaces the feeder base, see generate): AR(1) load, day shift a
        # little higher, shift changes, Sunday maintenance; nothing is added, it closes and reopens
        p = base_mean * rng.uniform(1.0, 3.0)
        f = (1 + _ar(rng, n, 0.7, 0.06)) * (1 + 0.08 * ((hod >= 8) & (hod < 20)))
        f[hod % 8 == 0] *= 0.9
        f[(dow == 6) & (hod >= 8) & (hod < 16)] *= 0.75
        if rng.random() < 0.6:
            years = days.astype("datetime64[Y]").astype(np.int64) + 1970
            from minewatch.power.calendar import SPRING_FESTIVAL
            closed = np.zeros(n, bool)
            for y in np.unique(years):
                first = SPRING_FESTIVAL.get(int(y))
                if first is None:
                    continue
                a = np.datetime64(first) - np.timedelta64(int(rng.integers(1, 6)), "D")
                closed |= (days >= a) & (days < a + np.timedelta64(int(rng.integers(*PLANT_FEST_CLOSE_DAYS)) + 1, "D"))
        else:
            a = np.datetime64(f"{int(days[0].astype('datetime64[Y]').astype(np.int64)) + 1970}-07-01") \
                + np.timedelta64(int(rng.integers(0, 100)), "D")
            closed = (days >= a) & (days < a + np.timedelta64(int(rng.integers(PLANT_TURNAROUND_DAYS[0],
                                                                                PLANT_TURNAROUND_DAYS[1] + 1)), "D"))
        standby = 0.12 * (1 + rng.normal(0, 0.05, n))
        return p * np.where(closed, standby, np.clip(f, 0, None)), "manufacturing" if rng.random() < 0.6 else \
            "chemical plant"
    if kind == "telecom_site":
        # a tower site on its own meter: 1.5-3 kW of radios and rectifiers, air-conditioning above 24 °C,
        # and 5G AAUs of 2-3.5 kW added (a slight daily traffic swing) at the onset
        p0 = rng.uniform(1.5, 3.0)
        ac = np.clip((temp - 24) / 10, 0, 1) * rng.uniform(0.8, 1.5)
        g5 = rng.uniform(2.0, 3.5) * (1 + 0.12 * np.sin(2 * np.pi * (hod - 14) / 24)) * onset
        decl = TELECOM_DECL[int(rng.integers(len(TELECOM_DECL)))]
        return (p0 + ac + g5) * (1 + rng.normal(0, 0.02, n)), decl
    if kind == "pumping_station":
        # a water-supply or sewage station on its own meter: demand-following pumps (morning and evening
        # peaks, low at night) and a new 24-h booster pump or aeration blower (VFD) at the onset
        dem = 1 + 0.35 * np.exp(-((hod - 7.5) ** 2) / 3) + 0.3 * np.exp(-((hod - 19.5) ** 2) / 4) \
            - 0.25 * ((hod >= 1) & (hod < 5))
        dem = dem * (1 + 0.006 * (temp - 17)) * (1 + _ar(rng, n, 0.9, 0.04))
        pumps = base_mean * rng.uniform(0.5, 2.0) * dem
        new = float(rng.choice((30, 45, 55, 75, 90, 110))) * rng.uniform(0.7, 0.9) * (1 + 0.05 * (dem - 1))
        decl = PUMPING_DECL[int(rng.integers(len(PUMPING_DECL)))]
        return pumps + new * onset, decl
    raise ValueError(kind)


def tou_schedule(name: str, hod: np.ndarray) -> np.ndarray:
    """Hours a time-of-use fleet runs (True) for one of TOU_SCHEDULES, from the hour of day."""
    if name == "valley_23_07":
        return (hod >= 23) | (hod < 7)
    if name == "valley_22_08":
        return (hod >= 22) | (hod < 8)
    if name == "peak_off":
        return ~(((hod >= 8) & (hod < 11)) | ((hod >= 17) & (hod < 22)))
    if name == "stop_16_22":
        return ~((hod >= 16) & (hod < 22))
    raise ValueError(name)


def generate(shared: Path, n_meters: int = 300, seed: int = 7, mining_share: float = 0.5) -> Population:
    """A reproducible population of hourly meters with truth kept apart from the inputs."""
    rng = np.random.default_rng(seed)
    bases = base_curves(shared)
    households = [b for b in bases if b[1] == "household"]
    business = [b for b in bases if b[1] == "business"]
    pop = Population([], {}, {})
    n_mining = round(n_meters * mining_share)
    n_conf = round((n_meters - n_mining) * 0.6)
    kinds = ["mining"] * n_mining + [CONFOUNDERS[i % len(CONFOUNDERS)] for i in range(n_conf)]
    kinds += ["plain"] * (n_meters - len(kinds))
    rng.shuffle(kinds)
    n = WINDOW_DAYS * 24
    for i, kind in enumerate(kinds):
        home = kind in ("heat_pump", "ev_charger", "mining", "plain") and rng.random() < 0.4
        name, _bkind, st, curve = (households if home else business)[
            int(rng.integers(len(households) if home else len(business)))
        ]
        # a window of the real curve, rescaled; the window is moved by whole weeks to 2023
        off_days = int(rng.integers(0, max(1, curve.size // 24 - WINDOW_DAYS)))
        seg = curve[off_days * 24 : off_days * 24 + n].copy()
        if seg.size < n:
            seg = np.concatenate([seg, np.full(n - seg.size, np.nan)])
        seg[seg < 0] = np.nan
        t0 = st - st % DAY + off_days * DAY
        shift_weeks = round((TARGET_START.timestamp() - t0) / (7 * DAY))
        start_s = int(t0 + shift_weeks * 7 * DAY)
        scale = (rng.uniform(0.6, 1.6) if home else float(np.exp(rng.uniform(np.log(20), np.log(300)))))
        base = seg / np.nanmean(seg) * (np.nanmean(seg) * scale if home else scale)
        base_mean = float(np.nanmean(base))
        temp = _temperature(rng, start_s, n)
        mid = f"M{i:04d}"
        if home:
            tariff, biz = "residential", "household"
        else:
            tariff, biz = BUSINESS_DECL[int(rng.integers(len(BUSINESS_DECL)))]
        truth = Truth(mid, 1 if kind == "mining" else 0, kind)
        add = np.zeros(n)
        contract_base = base.copy()
        if kind == "mining":
            onset_idx = int(rng.integers(45 * 24, n - 75 * 24))
            pre = rng.random() < PRE_WINDOW_SHARE
            if pre:
                onset_idx = 0
            at = datetime.fromtimestamp(start_s + onset_idx * 3600, tz=UTC).date()
            model, unit_kw = _pick_model(rng, at)
            if home:
                machines = int(rng.integers(1, 5))
            else:
                ratio = float(np.exp(rng.uniform(np.log(0.15), np.log(1.5))))
                machines = max(1, round(ratio * base_mean / unit_kw))
            add = mining_load(rng, n, start_s, onset_idx, machines, unit_kw)
            truth.onset_s = None if pre else start_s + onset_idx * 3600
            truth.machines, truth.model, truth.unit_kw = machines, model, unit_kw
            truth.mining_kw = machines * unit_kw
            if rng.random() < TOU_SHARE:
                # a time-of-use fleet: the machines run in part of the day only; the kW the detector reports
                # is the energy average, so the truth is too (the machine count is unchanged)
                sched = TOU_SCHEDULES[int(rng.integers(len(TOU_SCHEDULES)))]
                on_h = tou_schedule(sched, ((start_s + np.arange(n) * 3600) % DAY) // 3600)
                add = add * on_h
                truth.kind = f"mining_{sched}"
                truth.mining_kw = machines * unit_kw * float(on_h.mean())
                if not pre:  # the first hour the machines actually run
                    first = onset_idx + int(np.argmax(on_h[onset_idx:]))
                    truth.onset_s = start_s + first * 3600
        elif kind != "plain":
            add, decl = confounder_load(rng, kind, n, start_s, temp, max(base_mean, 5.0))
            if kind in ("plant_closure", "telecom_site", "pumping_station"):
                # these have their own meter: the look-alike is the whole load (the feeder base is not added)
                base = np.zeros(n)
                home = False
            if decl is not None and not home:
                biz = decl
                tariff = {"greenhouse": "agricultural", "telecom_site": "commercial", "pumping_station": "industrial",
                          "plant_closure": "industrial"}.get(kind, tariff)
            contract_base = base + add
        kw = base + add
        contracted = float(np.nanmax(contract_base) * rng.uniform(1.3, 2.0)) if np.isfinite(
            np.nanmax(contract_base)) else None
        pop.series.append(MeterSeries(mid, start_s, 3600, kw, f"synthetic:{name}", "kw"))
        pop.meta[mid] = MeterMeta(mid, tariff_class=tariff, business=biz, contracted_kw=contracted)
        pop.temperature[mid] = (start_s + np.arange(n, dtype=np.int64) * 3600, temp)
        pop.truth.append(truth)
    return pop


# --- Transformer balance (meter bypass) ------------------------------------------------------------------
#: A distribution transformer's own meter sees its customers' load plus technical losses; a rig wired in
#: before the customer meters shows only there. Constants are named so docs/power.md can state them.
TX_CUSTOMERS = (3, 8)  #: customers per transformer (inclusive range)
TX_BUSINESS_MAX = 2  #: of which up to this many small businesses (ETT feeder curves at 10-60 kW mean)
TX_RATING_MARGIN = (1.2, 2.0)  #: rating (kVA) = peak customer kW / pf * this
TX_PF = 0.9  #: power factor used to turn kW into kVA for the copper losses
TX_NOLOAD_LOSS = (0.002, 0.005)  #: iron (no-load) loss, share of rating, constant
TX_LOAD_LOSS = (0.01, 0.02)  #: copper loss at rated load, share of rating, grows with (S / rating)^2
TX_LINE_LOSS = (0.01, 0.03)  #: LV line loss as a share of the mean load, grows with load^2
TX_COPPER_TEMP = 0.0039  #: copper resistance change per °C (the copper/line losses follow ambient)
TX_BIAS_SD = 0.003  #: each meter's calibration error (relative, constant)
TX_NOISE_SD = 0.002  #: hourly reading noise (relative)
TX_KINDS = ("bypass", "clean", "new_customer", "seasonal_loss")


def _aligned_window(rng: np.random.Generator, st: int, curve: np.ndarray, n: int) -> np.ndarray:
    """A 364-day window of a real curve that starts on TARGET_START's weekday.

    Customers under one transformer must share one clock; moving each window by whole weeks (as
    `generate` does) keeps its weekdays, and a shift of the offset by up to 3 days lines it up.
    """
    t_base = st - st % DAY
    span = max(1, curve.size // 24 - WINDOW_DAYS)
    off = int(rng.integers(0, span))
    t0 = t_base + off * DAY
    weeks = round((TARGET_START.timestamp() - t0) / (7 * DAY))
    off += round((TARGET_START.timestamp() - (t0 + weeks * 7 * DAY)) / DAY)
    if off < 0:
        off += 7
    seg = curve[off * 24 : off * 24 + n].copy()
    if seg.size < n:
        seg = np.concatenate([seg, np.full(n - seg.size, np.nan)])
    seg[seg < 0] = np.nan
    return seg


def _fill(x: np.ndarray) -> np.ndarray:
    """The load that flowed while a customer meter failed to report: it still loads the transformer."""
    ok = ~np.isnan(x)
    if not ok.any():
        return np.zeros_like(x)
    idx = np.arange(x.size)
    return np.interp(idx, idx[ok], x[ok])


def generate_transformers(
    shared: Path, n_transformers: int = 60, seed: int = 7, bypass_share: float = 0.4
) -> Population:
    """Transformers with metered customers, losses, noise, and in some a rig wired before the meters.

    Returned `Population.truth` holds one `Truth` per transformer (meter_id = the transformer's id,
    kind in TX_KINDS, label 1 = bypass); customers carry no truth (they are honest). The remaining
    transformers are split evenly between clean ones and the two look-alikes: a new customer
    connected mid-window with its own meter (reads 0 until its load is connected; it raises the
    losses as well as the load) and a seasonal loss change (LV line losses up 30-80 % for 60-150 days,
    e.g. a feeder temporarily re-routed or compensation switched off).
    """
    rng = np.random.default_rng(seed)
    bases = base_curves(shared)
    households = [b for b in bases if b[1] == "household"]
    business = [b for b in bases if b[1] == "business"]
    n = WINDOW_DAYS * 24
    start_s = int(TARGET_START.timestamp())
    n_bypass = round(n_transformers * bypass_share)
    rest = n_transformers - n_bypass
    kinds = ["bypass"] * n_bypass + [TX_KINDS[1 + i % 3] for i in range(rest)]
    rng.shuffle(kinds)
    pop = Population([], {}, {})
    hours = np.arange(n)
    for i, kind in enumerate(kinds):
        tid = f"T{i:04d}"
        temp = _temperature(rng, start_s, n)
        k = int(rng.integers(TX_CUSTOMERS[0], TX_CUSTOMERS[1] + 1))
        n_biz = int(rng.integers(0, min(TX_BUSINESS_MAX, k) + 1))
        readings: list[np.ndarray] = []
        true_loads: list[np.ndarray] = []
        decl: list[tuple[str, str]] = []
        for c in range(k):
            is_biz = c < n_biz
            _name, _bk, st, curve = (business if is_biz else households)[
                int(rng.integers(len(business) if is_biz else len(households)))
            ]
            seg = _aligned_window(rng, st, curve, n)
            mean = np.nanmean(seg) if np.isfinite(np.nanmean(seg)) else 1.0
            scale = float(np.exp(rng.uniform(np.log(10), np.log(60)))) if is_biz else rng.uniform(0.6, 1.6) * mean
            load = seg / mean * scale
            readings.append(load)
            true_loads.append(_fill(load))
            decl.append(BUSINESS_DECL[int(rng.integers(len(BUSINESS_DECL)))] if is_biz else ("residential",
                                                                                          "household"))
        truth = Truth(tid, 1 if kind == "bypass" else 0, kind)
        if kind == "new_customer":
            # a new business customer, metered from the day it is connected (its meter reads 0 before)
            _name, _bk, st, curve = business[int(rng.integers(len(business)))]
            seg = _aligned_window(rng, st, curve, n)
            total_mean = float(np.nanmean(np.sum(true_loads, axis=0)))
            load = seg / np.nanmean(seg) * total_mean * float(np.exp(rng.uniform(np.log(0.3), np.log(1.5))))
            on = hours >= int(rng.integers(45 * 24, n - 75 * 24))
            load = np.where(on, load, 0.0)
            readings.append(load)
            true_loads.append(_fill(load))
            decl.append(BUSINESS_DECL[int(rng.integers(len(BUSINESS_DECL)))])
        cust_kw = np.sum(true_loads, axis=0)
        rig = np.zeros(n)
        if kind == "bypass":
            onset_idx = int(rng.integers(45 * 24, n - 75 * 24))
            at = datetime.fromtimestamp(start_s + onset_idx * 3600, tz=UTC).date()
            model, unit_kw = _pick_model(rng, at)
            ratio = float(np.exp(rng.uniform(np.log(0.05), np.log(1.0))))
            machines = max(1, round(ratio * float(np.mean(cust_kw)) / unit_kw))
            rig = mining_load(rng, n, start_s, onset_idx, machines, unit_kw)
            truth.onset_s = start_s + onset_idx * 3600
            truth.machines, truth.model, truth.unit_kw = machines, model, unit_kw
            truth.mining_kw = machines * unit_kw
        # technical losses on everything the transformer carries (the rig included)
        through = cust_kw + rig
        rating = float(np.max(cust_kw)) / TX_PF * rng.uniform(*TX_RATING_MARGIN)
        p0 = rating * rng.uniform(*TX_NOLOAD_LOSS)
        copper = 1 + TX_COPPER_TEMP * (temp - 20)
        pk = rating * rng.uniform(*TX_LOAD_LOSS) * (through / TX_PF / rating) ** 2 * copper
        mean_c = float(np.mean(cust_kw))
        line_c = rng.uniform(*TX_LINE_LOSS) * mean_c / float(np.mean(cust_kw**2))
        line_f = np.ones(n)
        if kind == "seasonal_loss":
            s0 = int(rng.integers(45 * 24, n - 75 * 24))
            line_f[s0 : s0 + int(rng.integers(60, 151)) * 24] = rng.uniform(1.3, 1.8)
        line = line_c * through**2 * copper * line_f
        tx_true = through + p0 + pk + line

        def metered(x: np.ndarray) -> np.ndarray:
            return x * (1 + rng.normal(0, TX_BIAS_SD)) * (1 + rng.normal(0, TX_NOISE_SD, n))

        pop.series.append(MeterSeries(tid, start_s, 3600, metered(tx_true), "synthetic:transformer", "kw"))
        pop.meta[tid] = MeterMeta(tid, role="transformer", site=tid)
        for c, (r, (tariff, biz)) in enumerate(zip(readings, decl, strict=True)):
            cid = f"{tid}-C{c:02d}"
            pop.series.append(MeterSeries(cid, start_s, 3600, metered(r), "synthetic:customer", "kw"))
            pop.meta[cid] = MeterMeta(cid, tariff_class=tariff, business=biz, transformer=tid, site=tid)
        ts = start_s + np.arange(n, dtype=np.int64) * 3600
        pop.temperature[tid] = (ts, temp)
        pop.truth.append(truth)
    return pop
