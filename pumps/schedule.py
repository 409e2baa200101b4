"""The scheduling rules of docs/clinical-rules.md, sections 2 to 5.

Pure functions of dates and numbers: no ORM, no clock. Every caller passes
"today" in. Arithmetic on volumes and doses uses ``Fraction`` so that no
rounding ever moves a date (a rate such as 1/3 mL/day is kept exact).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

from core.bounds import LATEST_DATE
from pumps import status
from pumps.choices import BatteryStatus, ConcentrationUnit, DoseUnit, LimitedBy, RefillStatus

Number = Decimal | Fraction | int

MCG_PER_MG = 1000

# The last day the app accepts or computes (clinical-rules.md 8): an alarm
# further off than this is "not reached" (a near-zero rate), never a date that
# overflows Python's calendar or the database's.
LAST_DATE = LATEST_DATE

_CONCENTRATION_TO_MCG_PER_ML = {
    ConcentrationUnit.MG_PER_ML: MCG_PER_MG,
    ConcentrationUnit.MCG_PER_ML: 1,
}
_DOSE_TO_MCG_PER_DAY = {
    DoseUnit.MG_PER_DAY: MCG_PER_MG,
    DoseUnit.MCG_PER_DAY: 1,
}


class UnitError(ValueError):
    """A unit that is not one of the explicit units of section 2."""


def concentration_mcg_per_ml(amount: Number, unit: str) -> Fraction:
    """Concentration in mcg/mL, exact. Refuses an unknown unit (section 2)."""
    try:
        factor = _CONCENTRATION_TO_MCG_PER_ML[ConcentrationUnit(unit)]
    except ValueError:
        raise UnitError(f"unknown concentration unit {unit!r}; use mg/mL or mcg/mL") from None
    return Fraction(amount) * factor


def dose_mcg_per_day(amount: Number, unit: str) -> Fraction:
    """Daily dose in mcg/day, exact. Refuses an unknown unit (section 2)."""
    try:
        factor = _DOSE_TO_MCG_PER_DAY[DoseUnit(unit)]
    except ValueError:
        raise UnitError(f"unknown dose unit {unit!r}; use mg/day or mcg/day") from None
    return Fraction(amount) * factor


def daily_volume_ml(
    *,
    daily_dose: Number,
    dose_unit: str,
    concentration: Number,
    concentration_unit: str,
    bolus_dose: Number | None = None,
    boluses_per_day: int | None = None,
) -> Fraction:
    """Daily volume in mL/day = daily dose / concentration, in matching units.

    With a bolus allowance (section 2) the dose is daily dose + bolus dose x
    boluses per day, the bolus in the daily dose's unit: the makers date the
    next refill as if every allowed bolus is taken.
    """
    concentration_mcg = concentration_mcg_per_ml(concentration, concentration_unit)
    if concentration_mcg <= 0:
        raise ValueError("concentration must be above zero")
    dose_mcg = dose_mcg_per_day(daily_dose, dose_unit)
    if dose_mcg < 0:
        raise ValueError("daily dose cannot be negative")
    if bolus_dose:
        if bolus_dose < 0:
            raise ValueError("bolus dose cannot be negative")
        dose_mcg += dose_mcg_per_day(bolus_dose, dose_unit) * (boluses_per_day or 0)
    return dose_mcg / concentration_mcg


@dataclass(frozen=True)
class ConcentrationRange:
    """A drug's accepted concentrations in mcg/mL; None means no limit that way."""

    low_mcg: Fraction | None = None
    high_mcg: Fraction | None = None

    def accepts(self, concentration_mcg: Fraction) -> bool:
        return (self.low_mcg is None or concentration_mcg >= self.low_mcg) and (
            self.high_mcg is None or concentration_mcg <= self.high_mcg
        )


# --- Section 2: how long the drug may stay in the pump ---------------------


@dataclass(frozen=True)
class StabilityRule:
    """A drug's stability limit; the optional parts exist for ziconotide."""

    days: int
    first_fill_days: int | None = None
    undiluted_mcg_per_ml: Fraction | None = None
    undiluted_days: int | None = None


def stability_days(rule: StabilityRule, *, concentration_mcg: Fraction, is_first_fill: bool) -> int:
    """Days the drug may stay in the pump from the fill date (section 2)."""
    if is_first_fill and rule.first_fill_days is not None:
        return rule.first_fill_days
    if (
        rule.undiluted_mcg_per_ml is not None
        and rule.undiluted_days is not None
        and concentration_mcg == rule.undiluted_mcg_per_ml
    ):
        return rule.undiluted_days
    return rule.days


# --- Section 3: refill dates ------------------------------------------------


@dataclass(frozen=True)
class RateChange:
    """A reprogramming without a refill: the rate changes from ``on``."""

    on: date
    daily_volume_ml: Fraction


def _segments(
    fill_date: date, daily_volume: Fraction, rate_changes: Sequence[RateChange]
) -> list[tuple[date, Fraction]]:
    later = sorted((c for c in rate_changes if c.on > fill_date), key=lambda c: c.on)
    return [(fill_date, Fraction(daily_volume))] + [
        (c.on, Fraction(c.daily_volume_ml)) for c in later
    ]


def volume_on(
    *,
    fill_date: date,
    volume_ml: Number,
    daily_volume: Fraction,
    on: date,
    rate_changes: Sequence[RateChange] = (),
) -> Fraction:
    """Volume expected in the reservoir on ``on``, never below zero (section 4)."""
    remaining = Fraction(volume_ml)
    segments = _segments(fill_date, daily_volume, rate_changes)
    for index, (start, rate) in enumerate(segments):
        if start >= on:
            break
        end = segments[index + 1][0] if index + 1 < len(segments) else on
        end = min(end, on)
        remaining -= rate * (end - start).days
    return max(remaining, Fraction(0))


def alarm_date(
    *,
    fill_date: date,
    volume_ml: Number,
    alarm_ml: Number,
    daily_volume: Fraction,
    rate_changes: Sequence[RateChange] = (),
) -> date | None:
    """Day the reservoir reaches the low-volume alarm: F + floor((V - A) / R).

    After a reprogramming the remaining volume on that day is carried over and
    the count restarts with the new rate (section 3). If the alarm was already
    reached before a reprogramming, that earlier day stands. A rate of zero
    never reaches the alarm: ``None``.
    """
    segments = _segments(fill_date, daily_volume, rate_changes)
    volume = Fraction(volume_ml)
    alarm = Fraction(alarm_ml)
    for index, (start, rate) in enumerate(segments):
        next_start = segments[index + 1][0] if index + 1 < len(segments) else None
        if rate > 0:
            days = math.floor((volume - alarm) / rate)
            if days > (LAST_DATE - start).days:
                return None  # not within the app's dates: as good as never
            reached = start + timedelta(days=days)
            if next_start is None or reached < next_start:
                return reached
        if next_start is not None:
            volume -= rate * (next_start - start).days
    return None


@dataclass(frozen=True)
class RefillDates:
    alarm: date | None
    deadline: date
    due: date
    limited_by: LimitedBy


def refill_dates(
    *,
    fill_date: date,
    volume_ml: Number,
    alarm_ml: Number,
    daily_volume: Fraction,
    stability_days: int,
    margin_days: int,
    rate_changes: Sequence[RateChange] = (),
) -> RefillDates:
    """Alarm date, refill deadline and due date of a fill (section 3).

    The deadline is the earlier of the alarm date and F + stability days;
    on a tie the reservoir is named. Due = deadline - margin, where the margin
    is the clinic's margin plus the patient's travel buffer.
    """
    alarm = alarm_date(
        fill_date=fill_date,
        volume_ml=volume_ml,
        alarm_ml=alarm_ml,
        daily_volume=daily_volume,
        rate_changes=rate_changes,
    )
    stability_end = fill_date + timedelta(days=stability_days)
    if alarm is not None and alarm <= stability_end:
        deadline, limited_by = alarm, LimitedBy.RESERVOIR
    else:
        deadline, limited_by = stability_end, LimitedBy.STABILITY
    return RefillDates(
        alarm=alarm,
        deadline=deadline,
        due=deadline - timedelta(days=margin_days),
        limited_by=limited_by,
    )


def refill_status(
    *, due: date | None, deadline: date | None, today: date, lookahead_days: int
) -> RefillStatus:
    """Refill status on ``today`` from the stored dates (section 3; the table in pumps.status)."""
    dates = dict.fromkeys(status.STATUS_FIELDS) | {"refill_due": due, "refill_deadline": deadline}
    if due is None:
        dates["refill_deadline"] = None  # stored together: one without the other is no fill
    return status.refill_status(dates, status.Day(today, lookahead_days))


# --- Section 4: residual volume check ---------------------------------------


def is_discrepancy(
    *,
    actual_ml: Number,
    expected_ml: Number,
    threshold_ml: Number,
    expected_low_ml: Number | None = None,
) -> bool:
    """True when the actual residual lies further than the threshold from the
    expected one, or from the nearer end of the range [low, expected] when
    boluses were allowed (section 4). Exactly the threshold is not flagged."""
    actual = Fraction(actual_ml)
    high = Fraction(expected_ml)
    low = Fraction(expected_low_ml) if expected_low_ml is not None else high
    if low <= actual <= high:
        return False
    distance = low - actual if actual < low else actual - high
    return distance > Fraction(threshold_ml)


# --- Section 5: battery -------------------------------------------------------


def add_years(day: date, years: int) -> date:
    """Calendar years later; 29 February becomes 28 February in a common year."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def battery_window(*, implant_date: date, opens_years: int, closes_years: int) -> tuple[date, date]:
    """(opens, closes) of the replacement window of a battery pump."""
    return add_years(implant_date, opens_years), add_years(implant_date, closes_years)


# After ERI first shows the pump stops within about 90 days (section 5).
ERI_STOP_DAYS = 90


def eri_replace_by(eri_seen_on: date | None) -> date | None:
    """The date the battery is expected to stop: the earliest ERI + 90 days."""
    return eri_seen_on + timedelta(days=ERI_STOP_DAYS) if eri_seen_on is not None else None


def battery_status(
    *,
    window_opens: date | None,
    window_closes: date | None,
    eri: bool,
    today: date,
) -> BatteryStatus:
    """Battery status on ``today``; a pump without window dates has no battery (the table
    in pumps.status)."""
    if window_opens is None or window_closes is None:
        window_opens = window_closes = None  # stored together
    dates = dict.fromkeys(status.STATUS_FIELDS) | {
        "battery_window_opens": window_opens,
        "battery_window_closes": window_closes,
        "eri_reported_on": today if eri else None,
    }
    return status.battery_status(dates, status.Day(today, 0))


# --- The due list's order (docs/interfaces.md; the ranks are in pumps.status) -----------

REST_RANK = status.REST_RANK


def due_list_rank(refill: RefillStatus, battery: BatteryStatus) -> int:
    """The rank of the pump's most urgent status (REST_RANK if none)."""
    return status.due_rank(refill, battery)


def due_list_sort_key(
    *,
    refill: RefillStatus,
    battery: BatteryStatus,
    refill_deadline: date | None,
    window_closes: date | None,
    replace_by: date | None,
    serial: str,
) -> tuple[int, date, str]:
    """Rank, then the date that put the pump there, then serial (pumps.status.sort_key)."""
    dates = {
        "refill_deadline": refill_deadline,
        "battery_window_closes": window_closes,
        "eri_replace_by": replace_by,
    }
    return status.sort_key(refill=refill, battery=battery, dates=dates, serial=serial)


# --- Section 2: plausibility warnings on entry (warn, never block) -------------


@dataclass(frozen=True)
class DoseLimits:
    """A drug's plausible daily doses in mcg/day; None means no limit that way."""

    warn_below_mcg: Fraction | None = None
    warn_above_mcg: Fraction | None = None
    first_fill_warn_above_mcg: Fraction | None = None


def _mcg_text(amount: Fraction, *, scale: Fraction | None = None) -> str:
    """A dose in mg/day from 1 mg up, else mcg/day; ``scale`` picks the unit instead."""
    if (scale if scale is not None else amount) >= MCG_PER_MG:
        return f"{float(amount / MCG_PER_MG):g} mg/day"
    return f"{float(amount):g} mcg/day"


def dose_warnings(
    *,
    drug_name: str,
    dose_mcg: Fraction,
    limits: DoseLimits,
    previous_dose_mcg: Fraction | None,
    is_first_fill: bool,
    change_warn_percent: int,
) -> list[str]:
    """Warnings that ask the nurse to confirm a dose before it is saved (section 2)."""
    warnings: list[str] = []
    if limits.warn_below_mcg is not None and dose_mcg < limits.warn_below_mcg:
        warnings.append(
            f"{_mcg_text(dose_mcg)} is below the usual {drug_name} range "
            f"(warning under {_mcg_text(limits.warn_below_mcg)}). Check the dose and its unit."
        )
    if limits.warn_above_mcg is not None and dose_mcg > limits.warn_above_mcg:
        warnings.append(
            f"{_mcg_text(dose_mcg)} is above the usual {drug_name} range "
            f"(warning over {_mcg_text(limits.warn_above_mcg)}). Check the dose and its unit."
        )
    if (
        is_first_fill
        and limits.first_fill_warn_above_mcg is not None
        and dose_mcg > limits.first_fill_warn_above_mcg
    ):
        warnings.append(
            f"{_mcg_text(dose_mcg)} is above the usual starting dose of {drug_name} "
            f"({_mcg_text(limits.first_fill_warn_above_mcg)} or less)."
        )
    if previous_dose_mcg is not None and previous_dose_mcg > 0:
        change = abs(dose_mcg - previous_dose_mcg) / previous_dose_mcg * 100
        if change > change_warn_percent:
            warnings.append(
                f"The dose changes by {float(change):.0f} % from the last refill "
                # Both in one unit, so "9 mg/day to 0 mg/day", never "to 0 mcg/day".
                f"({_mcg_text(previous_dose_mcg, scale=max(previous_dose_mcg, dose_mcg))} to "
                f"{_mcg_text(dose_mcg, scale=max(previous_dose_mcg, dose_mcg))})."
            )
    return warnings
