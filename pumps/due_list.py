"""The due list of docs/interfaces.md: one entry per active pump, most urgent first."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import date
from typing import Any

from pumps import schedule
from pumps.choices import BatteryStatus, RefillStatus
from pumps.models import Pump, SchedulePolicy

FLAG_FREE_REFILL = {RefillStatus.OK}
FLAG_FREE_BATTERY = {BatteryStatus.OK, BatteryStatus.NOT_APPLICABLE}

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
    "discrepancy",
]


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None


def entry(pump: Pump, *, today: date, lookahead_days: int) -> dict[str, Any]:
    """One due-list entry, in the exact shape of docs/interfaces.md."""
    refill_status = pump.refill_status(today, lookahead_days)
    fill = pump.latest_fill
    drug = fill.drug if fill is not None else None
    return {
        "mrn": pump.patient.mrn,
        "serial": pump.serial,
        "pump_model": pump.model.code,
        "drug": drug.code if drug is not None else None,
        "refill": {
            "status": refill_status.value,
            "due": _iso(pump.refill_due),
            "deadline": _iso(pump.refill_deadline),
            "alarm": _iso(pump.refill_alarm),
            "limited_by": pump.refill_limited_by or None,
            "urgent": bool(
                drug is not None
                and drug.urgent_when_due
                and refill_status in (RefillStatus.OVERDUE, RefillStatus.DUE)
            ),
        },
        "battery": {
            "status": pump.battery_status(today).value,
            "window_opens": _iso(pump.battery_window_opens),
            "window_closes": _iso(pump.battery_window_closes),
        },
        "discrepancy": pump.has_unsigned_discrepancy,
    }


def _sort_key(item: dict[str, Any]) -> tuple[int, date, str]:
    refill, battery = item["refill"], item["battery"]
    return schedule.due_list_sort_key(
        refill=RefillStatus(refill["status"]),
        battery=BatteryStatus(battery["status"]),
        refill_deadline=date.fromisoformat(refill["deadline"]) if refill["deadline"] else None,
        window_closes=(
            date.fromisoformat(battery["window_closes"]) if battery["window_closes"] else None
        ),
        serial=item["serial"],
    )


def is_flagged(item: dict[str, Any]) -> bool:
    """Anything but refill `ok` and battery `ok`/`not_applicable` (``--flagged``)."""
    return not (
        item["refill"]["status"] in FLAG_FREE_REFILL
        and item["battery"]["status"] in FLAG_FREE_BATTERY
    )


def build_due_list(*, today: date, flagged_only: bool = False) -> list[dict[str, Any]]:
    """The due list on ``today``: statuses judged that day from the stored dates."""
    lookahead = SchedulePolicy.current().lookahead_days
    pumps = Pump.objects.active().with_list_relations().order_by().iterator(chunk_size=2000)
    items = [entry(pump, today=today, lookahead_days=lookahead) for pump in pumps]
    if flagged_only:
        items = [item for item in items if is_flagged(item)]
    items.sort(key=_sort_key)
    return items


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
    """CSV text, line by line; empty cells for null, true/false for booleans."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for item in items:
        row = {
            key: ("true" if value is True else "false" if value is False else value)
            for key, value in flatten(item).items()
        }
        writer.writerow(row)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.getvalue():
        yield buffer.getvalue()
