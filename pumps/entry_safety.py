"""Entry safety, clinical-rules.md section 8: what is refused, what must be confirmed.

Pure functions of numbers, dates and units (no ORM, no clock), called by the
services so that every door in (staff forms, the admin, the import, the demo
seeder) refuses and warns alike. Messages name the number and its units in
words, so a nurse sees the slip.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from core.bounds import EARLIEST_DATE, LATEST_DATE
from pumps.schedule import MCG_PER_MG, ConcentrationRange, add_years

# Any date outside these is a typing slip, whatever the field (section 8).
# A visit may be booked from today up to two years ahead.
BOOKING_HORIZON_YEARS = 2
# No real programme runs more than this through an intrathecal catheter.
MAX_DAILY_VOLUME_ML = Fraction(10)
# A fill that reaches its alarm sooner than this asks for confirmation.
SHORT_FILL_DAYS = 14
# A tenfold change from the previous fill of the same drug looks like a unit slip.
UNIT_SLIP_FACTOR = 10


class UnreadableNumber(ValueError):
    """Text that cannot be read as one number only."""


# --- Numbers as typed ----------------------------------------------------------

_PLAIN_NUMBER = re.compile(r"-?(?:[0-9]+(?:[.,][0-9]+)?|[.,][0-9]+)", re.ASCII)
_THOUSANDS_LOOKALIKE = re.compile(r"-?[1-9][0-9]{0,2},[0-9]{3}", re.ASCII)


def parse_decimal(text: str, *, decimal_places: int | None = None) -> Decimal:
    """Read a typed number; a decimal comma is a decimal point (``12,5`` = 12.5).

    Refused, never guessed: two separators (``1.234,5``, ``1,234.5``,
    ``12.5.1``), a comma that may group thousands (``12,500``: 12.5 or
    12500?), spaces inside, letters, and any character that is not an ASCII
    digit, including invisible ones. Never drops a character: more decimal
    places than the field keeps is refused, not rounded.
    """
    stripped = text.strip(" ")
    if not stripped:
        raise UnreadableNumber("Enter a number.")
    if not _PLAIN_NUMBER.fullmatch(stripped):
        raise UnreadableNumber(
            f"“{_visible(stripped)}” cannot be read as one number: use digits and one "
            "decimal point or comma, without spaces or thousands separators (e.g. 12.5)."
        )
    if _THOUSANDS_LOOKALIKE.fullmatch(stripped):
        whole, fraction = stripped.split(",")
        raise UnreadableNumber(
            f"“{stripped}” could mean {whole}.{fraction} or {whole}{fraction}: "
            f"type {whole}.{fraction.rstrip('0') or '0'} or {whole}{fraction} without a comma."
        )
    try:
        value = Decimal(stripped.replace(",", "."))
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid text
        raise UnreadableNumber(f"“{_visible(stripped)}” is not a number.") from None
    if decimal_places is not None:
        exponent = value.as_tuple().exponent
        if isinstance(exponent, int) and -exponent > decimal_places:
            raise UnreadableNumber(
                f"Use at most {decimal_places} decimal places ({_plain(value)} has {-exponent})."
            )
    return value


def _visible(text: str) -> str:
    """The text with invisible and control characters shown as code points."""
    return "".join(
        char if char.isprintable() and not _is_format(char) else f"U+{ord(char):04X}"
        for char in text[:40]
    )


def _is_format(char: str) -> bool:
    return unicodedata.category(char) in {"Cf", "Cc", "Zl", "Zp"}


def _plain(amount: Decimal | Fraction) -> str:
    """A number as staff write it: no exponent, no trailing zeros, grouped thousands."""
    if isinstance(amount, Fraction):
        amount = Decimal(amount.numerator) / Decimal(amount.denominator)
        amount = amount.quantize(Decimal("0.0001")) if amount != amount.to_integral() else amount
    text = f"{amount:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


# --- Dates ------------------------------------------------------------------------


def date_refusal(day: date, *, today: date, happened: bool) -> str | None:
    """Why ``day`` cannot be a date here, or None. ``happened``: an event's date."""
    if day < EARLIEST_DATE or day > LATEST_DATE:
        return (
            f"{day.isoformat()} is outside the dates this app accepts "
            f"({EARLIEST_DATE.isoformat()} to {LATEST_DATE.isoformat()})."
        )
    if happened and day > today:
        return f"{day.isoformat()} is after today ({today.isoformat()}): it has not happened yet."
    return None


def booking_refusal(day: date, *, today: date) -> str | None:
    """Why a visit cannot be booked on ``day``, or None (section 8)."""
    latest = add_years(today, BOOKING_HORIZON_YEARS)
    if day < today:
        return f"{day.isoformat()} is before today: book a visit from today on."
    if day > latest:
        return (
            f"{day.isoformat()} is more than {BOOKING_HORIZON_YEARS} years ahead: "
            f"book no later than {latest.isoformat()}."
        )
    return None


# --- Serial numbers ---------------------------------------------------------------

_SERIAL = re.compile(r"[A-Za-z0-9-]{3,30}", re.ASCII)


def serial_refusal(serial: str) -> str | None:
    """Serials are letters, digits and hyphens, 3 to 30 characters (section 8)."""
    if not serial:
        return "Enter the pump's serial number."
    if not _SERIAL.fullmatch(serial):
        return (
            f"“{_visible(serial)}” is not a pump serial number: use 3 to 30 letters, "
            "digits and hyphens, as printed on the pump's card."
        )
    return None


# --- Concentration, dose and volume ---------------------------------------------------


@dataclass(frozen=True)
class FillNumbers:
    """What a fill's checks compare, in canonical units (mcg/mL, mcg/day, mL/day)."""

    drug_code: str
    concentration: Decimal
    concentration_unit: str
    concentration_mcg: Fraction
    daily_dose: Decimal
    dose_unit: str
    dose_mcg: Fraction
    daily_volume_ml: Fraction  # basal, without boluses


def _per_ml_in(amount_mcg: Fraction, unit: str) -> str:
    if unit == "mg/mL":
        return f"{_plain(amount_mcg / MCG_PER_MG)} mg/mL"
    return f"{_plain(amount_mcg)} mcg/mL"


def _per_day_in(amount_mcg: Fraction, unit: str) -> str:
    if unit == "mg/day":
        return f"{_plain(amount_mcg / MCG_PER_MG)} mg/day"
    return f"{_plain(amount_mcg)} mcg/day"


def _other_concentration_unit(unit: str) -> str:
    return "mcg/mL" if unit == "mg/mL" else "mg/mL"


def _other_dose_unit(unit: str) -> str:
    return "mcg/day" if unit == "mg/day" else "mg/day"


def concentration_refusal(
    *,
    drug_name: str,
    concentration: Decimal,
    unit: str,
    concentration_mcg: Fraction,
    accepted: ConcentrationRange,
) -> str | None:
    """A concentration outside its drug's accepted range, named in the unit typed."""
    if accepted.accepts(concentration_mcg):
        return None
    low = _per_ml_in(accepted.low_mcg, unit) if accepted.low_mcg is not None else None
    high = _per_ml_in(accepted.high_mcg, unit) if accepted.high_mcg is not None else None
    if low and high:
        bounds = f"from {low.split()[0]} to {high}"
    elif low:
        bounds = f"from {low}"
    else:
        bounds = f"up to {high}"
    other = _other_concentration_unit(unit)
    return (
        f"{_plain(concentration)} {unit} is outside the accepted {drug_name} concentrations "
        f"({bounds}). {_plain(concentration)} {unit} is "
        f"{_per_ml_in(concentration_mcg, other)}: check the unit (mg/mL or mcg/mL)."
    )


def days_to_alarm(*, volume_ml: Decimal, alarm_ml: Decimal, daily_volume: Fraction) -> int | None:
    """N = floor((V - A) / R) of section 3; None when nothing is infused."""
    if daily_volume <= 0:
        return None
    return math.floor((Fraction(volume_ml) - Fraction(alarm_ml)) / daily_volume)


def daily_volume_refusal(
    *, daily_volume: Fraction, days: int | None, with_boluses: bool
) -> str | None:
    """A daily volume no real programme runs: above 10 mL/day, or the alarm within a day."""
    what = "The daily volume with every allowed bolus" if with_boluses else "The daily volume"
    if daily_volume > MAX_DAILY_VOLUME_ML:
        return (
            f"{what} would be {_plain(daily_volume)} mL a day, above the "
            f"{_plain(MAX_DAILY_VOLUME_ML)} mL a day any pump programme runs: "
            "check the dose, the concentration and their units."
        )
    if days is not None and days < 1:
        return (
            f"{what} ({_plain(daily_volume)} mL a day) would empty the reservoir to its "
            "alarm within a day: check the dose, the concentration and their units."
        )
    return None


def short_fill_warning(days: int | None) -> str | None:
    if days is None or days >= SHORT_FILL_DAYS:
        return None
    return (
        f"This fill reaches the low-reservoir alarm in {days} day{'s' if days != 1 else ''}, "
        f"sooner than {SHORT_FILL_DAYS} days: check the volume, the dose and their units."
    )


def _tenfold(new: Fraction, old: Fraction) -> bool:
    if new <= 0 or old <= 0:
        return False
    ratio = new / old
    return ratio >= UNIT_SLIP_FACTOR or ratio <= Fraction(1, UNIT_SLIP_FACTOR)


def unit_slip_warnings(current: FillNumbers, previous: FillNumbers | None) -> dict[str, str]:
    """Tenfold changes from the previous fill of the same drug, by field (section 8).

    Each message shows the number in both units and the last fill's value in
    the unit just typed, e.g. "0.5 mg/mL is 500 mcg/mL; the last fill was
    500 mcg/mL".
    """
    if previous is None or previous.drug_code != current.drug_code:
        return {}
    warnings: dict[str, str] = {}
    if _tenfold(current.concentration_mcg, previous.concentration_mcg):
        unit = current.concentration_unit
        warnings["concentration"] = (
            f"{_plain(current.concentration)} {unit} is "
            f"{_per_ml_in(current.concentration_mcg, _other_concentration_unit(unit))}; "
            f"the last fill was {_per_ml_in(previous.concentration_mcg, unit)}. "
            "A tenfold change looks like a unit slip."
        )
    if _tenfold(current.dose_mcg, previous.dose_mcg):
        unit = current.dose_unit
        warnings["daily_dose"] = (
            f"{_plain(current.daily_dose)} {unit} is "
            f"{_per_day_in(current.dose_mcg, _other_dose_unit(unit))}; "
            f"the last fill was {_per_day_in(previous.dose_mcg, unit)}. "
            "A tenfold change looks like a unit slip."
        )
    if _tenfold(current.daily_volume_ml, previous.daily_volume_ml):
        warnings["daily_volume"] = (
            f"The pump would run {_plain(current.daily_volume_ml)} mL a day; the last fill "
            f"ran {_plain(previous.daily_volume_ml)} mL a day. A tenfold change looks "
            "like a unit slip."
        )
    return warnings
