"""The due list of docs/interfaces.md: one entry per active pump, most urgent first."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import date
from typing import Any

from core import csv_export
from pumps import status
from pumps.choices import BatteryStatus
from pumps.models import Pump

CSV_FIELDS = [
    "mrn",
    "serial",
    "pump_model",
    "drug",
    "refill_status",
    "refill_due",
    "refill_deadline",
    "refill_alarm",
    "refill_limited_by",
    "refill_urgent",
    "battery_status",
    "battery_window_opens",
    "battery_window_closes",
    "battery_replace_by",
    "discrepancy",
]


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None


def entry(pump: Pump, *, today: date, lookahead_days: int) -> dict[str, Any]:
    """One due-list entry, in the exact shape of docs/interfaces.md."""
    fill = pump.latest_fill
    drug = fill.drug if fill is not None else None
    row = (
        pump.patient.mrn,
        pump.serial,
        pump.model.code,
        drug.code if drug is not None else None,
        drug.urgent_when_due if drug is not None else False,
        pump.open_discrepancies,
        pump.refill_due,
        pump.refill_deadline,
        pump.refill_alarm,
        pump.refill_limited_by,
        pump.battery_window_opens,
        pump.battery_window_closes,
        pump.eri_reported_on,
        pump.eri_replace_by,
    )
    return _ranked_entry(row, today=today, lookahead_days=lookahead_days)[1]


def is_flagged(item: dict[str, Any]) -> bool:
    """A flagged status of either kind (``--flagged``; the table in pumps.status)."""
    return status.is_flagged(item["refill"]["status"], item["battery"]["status"])


# The columns a due-list entry needs, read as plain tuples: building model
# instances for every active pump (and its patient, model, fill and drug)
# cost most of the due list's time, about 11 s at 100,000 pumps.
ROW_FIELDS = (
    "patient__mrn",
    "serial",
    "model__code",
    "latest_fill__drug__code",
    "latest_fill__drug__urgent_when_due",
    "open_discrepancies",
    "refill_due",
    "refill_deadline",
    "refill_alarm",
    "refill_limited_by",
    "battery_window_opens",
    "battery_window_closes",
    "eri_reported_on",
    "eri_replace_by",
)


def _ranked_entry(
    row: tuple[Any, ...], *, today: date, lookahead_days: int
) -> tuple[tuple[int, date, str], dict[str, Any]]:
    """An entry exactly as ``entry`` builds it, from a row of ROW_FIELDS, with its sort key."""
    (
        mrn,
        serial,
        model_code,
        drug_code,
        urgent_when_due,
        open_discrepancies,
        due,
        deadline,
        alarm,
        limited_by,
        opens,
        closes,
        eri_on,
        replace_by,
    ) = row
    dates = {
        "refill_due": due,
        "refill_deadline": deadline,
        "battery_window_opens": opens,
        "battery_window_closes": closes,
        "eri_reported_on": eri_on,
        "eri_replace_by": replace_by,
    }
    day = status.Day(today, lookahead_days)
    refill_status = status.refill_status(dates, day)
    battery_status = status.battery_status(dates, day)
    item = {
        "mrn": mrn,
        "serial": serial,
        "pump_model": model_code,
        "drug": drug_code,
        "refill": {
            "status": refill_status.value,
            "due": _iso(due),
            "deadline": _iso(deadline),
            "alarm": _iso(alarm),
            "limited_by": limited_by or None,
            "urgent": drug_code is not None and status.is_urgent(refill_status, urgent_when_due),
        },
        "battery": {
            "status": battery_status.value,
            "window_opens": _iso(opens),
            "window_closes": _iso(closes),
            # Section 5: shown while the status is eri (an ERI pump stops ~90 days on).
            "replace_by": _iso(replace_by) if battery_status == BatteryStatus.ERI else None,
        },
        # Section 4: any refill in force with an unsigned flag, not only the latest.
        "discrepancy": open_discrepancies > 0,
    }
    key = status.sort_key(refill=refill_status, battery=battery_status, dates=dates, serial=serial)
    return key, item


def build_due_list(
    *, today: date, lookahead_days: int, flagged_only: bool = False
) -> list[dict[str, Any]]:
    """The due list on ``today``: statuses judged that day from the stored dates.

    ``lookahead_days``: the schedule policy's, read by the caller.
    """
    lookahead = lookahead_days
    rows = Pump.objects.active().order_by().values_list(*ROW_FIELDS).iterator(chunk_size=5000)
    ranked = [_ranked_entry(row, today=today, lookahead_days=lookahead) for row in rows]
    if flagged_only:
        ranked = [(key, item) for key, item in ranked if is_flagged(item)]
    ranked.sort(key=lambda pair: pair[0])
    return [item for _, item in ranked]


def json_chunks(items: Iterable[dict[str, Any]]) -> Iterator[str]:
    """The list as ``json.dumps(items, indent=2)`` writes it, entry by entry (streamed)."""
    first = True
    for item in items:
        body = json.dumps(item, indent=2).replace("\n", "\n  ")
        yield ("[\n  " if first else ",\n  ") + body
        first = False
    yield "[]" if first else "\n]"


def flatten(item: dict[str, Any]) -> dict[str, Any]:
    """The CSV row: nested fields joined with underscores."""
    row: dict[str, Any] = {}
    for key, value in item.items():
        if isinstance(value, dict):
            row.update({f"{key}_{inner}": inner_value for inner, inner_value in value.items()})
        else:
            row[key] = value
    return row


def csv_lines(items: Iterable[dict[str, Any]]) -> Iterator[str]:
    """CSV text, line by line; empty cells for null, true/false for booleans, and no
    text cell a spreadsheet would run as a formula (core/csv_export.py)."""
    rows = (flatten(item) for item in items)
    return csv_export.csv_lines(CSV_FIELDS, ([row[name] for name in CSV_FIELDS] for row in rows))
