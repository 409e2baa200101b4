"""The physician's pump status board: every active pump, filtered, sorted, exported.

One query for the page's rows whatever the registry's size: statuses are SQL
annotations, the open-discrepancy count is stored on the pump (section 4),
relations are joined.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date

from django.db.models import F
from django.db.models.expressions import OrderBy

from core import csv_export
from core.formatting import plain_decimal
from pumps.models import Pump, PumpQuerySet

# Whitelisted sort keys -> columns. Serial is unique, so appending it makes
# every order total: the same filters always give the same pages.
SORT_KEYS: dict[str, tuple[str, tuple[str, ...]]] = {
    "patient": ("Patient", ("patient__family_name", "patient__given_name")),
    "serial": ("Serial", ("serial",)),
    "model": ("Model", ("model__code",)),
    "drug": ("Drug", ("latest_fill__drug__name",)),
    "implant": ("Implanted", ("implant_date",)),
    "refill": ("Refill", ("refill_deadline",)),  # by its deadline
    "battery": ("Battery", ("battery_window_closes",)),  # by the window's closing date
}
SORT_TITLES = {"refill": "refill deadline", "battery": "battery window closing date"}
DEFAULT_SORT = "refill"


def board_pumps(*, today: date, lookahead_days: int) -> PumpQuerySet:
    """Active pumps with statuses and flags annotated, relations joined."""
    return (
        Pump.objects.active()
        .with_statuses(today, lookahead_days)
        .select_related("patient__treating_physician", "model", "latest_fill__drug")
    )


def parse_sort(raw: str) -> tuple[str, bool]:
    """(key, descending) from ``?sort=`` such as ``-implant``; unknown keys fall back."""
    descending = raw.startswith("-")
    key = raw.lstrip("-")
    if key not in SORT_KEYS:
        return DEFAULT_SORT, False
    return key, descending


def ordering(key: str, descending: bool) -> list[OrderBy]:
    """Order by the key's columns (empty dates last either way), then serial."""
    columns = [
        F(name).desc(nulls_last=True) if descending else F(name).asc(nulls_last=True)
        for name in SORT_KEYS[key][1]
    ]
    if key != "serial":
        columns.append(F("serial").asc())
    return columns


CSV_HEADER = [
    "mrn",
    "family_name",
    "given_name",
    "indication",
    "physician",
    "serial",
    "pump_model",
    "implant_date",
    "days_since_implant",
    "drug",
    "concentration",
    "concentration_unit",
    "daily_dose",
    "dose_unit",
    "refill_status",
    "refill_due",
    "refill_deadline",
    "battery_status",
    "battery_window_opens",
    "battery_window_closes",
    "eri_reported_on",
    "eri_replace_by",
    "unsigned_discrepancy",
]


def _iso(day: date | None) -> str:
    return day.isoformat() if day is not None else ""


def csv_row(pump: Pump, today: date) -> list[object]:
    """One pump's CSV cells, as values (core/csv_export.py writes them)."""
    patient, fill = pump.patient, pump.latest_fill
    physician = patient.treating_physician
    return [
        patient.mrn,
        patient.family_name,
        patient.given_name,
        patient.indication,
        (physician.get_full_name() or physician.get_username()) if physician else "",
        pump.serial,
        pump.model.code,
        _iso(pump.implant_date),
        (today - pump.implant_date).days,
        fill.drug.code if fill else "",
        plain_decimal(fill.concentration) if fill else "",
        fill.concentration_unit if fill else "",
        plain_decimal(fill.daily_dose) if fill else "",
        fill.dose_unit if fill else "",
        pump.refill_status,  # type: ignore[attr-defined]
        _iso(pump.refill_due),
        _iso(pump.refill_deadline),
        pump.battery_status,  # type: ignore[attr-defined]
        _iso(pump.battery_window_opens),
        _iso(pump.battery_window_closes),
        _iso(pump.eri_reported_on),
        _iso(pump.eri_replace_by),
        bool(pump.has_unsigned_discrepancy),
    ]


def csv_lines(pumps: Iterable[Pump], today: date) -> Iterator[str]:
    """The CSV text line by line, for a streaming response."""
    return csv_export.csv_lines(CSV_HEADER, (csv_row(pump, today) for pump in pumps))
