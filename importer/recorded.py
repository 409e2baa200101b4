"""What the database already holds: the rows the files' rows match.

``Recorded.load`` reads the patients, pumps, active pumps, refills and the
latest refill and dose change of each pump in a few bulk queries, in chunks
small enough for SQLite's parameter limit. Pumps are keyed by ``serial_key``
(serials match ignoring case); refill and dose-change lookups count only
records in force (an entered-in-error record counts for nothing, section 9).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TypeVar

from django.db.models import Max
from django.db.models.functions import Lower

from importer.rows import PumpRow, RefillRow, serial_key
from patients.models import IN_FORCE, Patient
from pumps.models import DoseAdjustment, Pump, Refill

T = TypeVar("T")


def _chunks(values: Sequence[T], size: int = 500) -> Iterator[Sequence[T]]:
    # SQLite caps the parameters of one query; keep every IN list well below it.
    for start in range(0, len(values), size):
        yield values[start : start + size]


@dataclass(frozen=True)
class Recorded:
    """The database rows the files' rows match, read in a few bulk queries."""

    patients: Mapping[str, Patient]
    pumps: Mapping[str, Pump]  # by serial_key
    active_pumps: Mapping[str, list[Pump]]  # by patient mrn
    refills: Mapping[tuple[str, date], Refill]  # by serial_key and date
    latest_refill: Mapping[str, date]  # by serial_key
    latest_adjustment: Mapping[str, date]  # by serial_key

    @classmethod
    def load(cls, pump_rows: Sequence[PumpRow], refill_rows: Sequence[RefillRow]) -> Recorded:
        mrns = sorted({row.mrn for row in pump_rows if row.mrn})
        serials = sorted(
            {serial_key(row.serial) for row in pump_rows if row.serial}
            | {serial_key(row.serial) for row in refill_rows if row.serial}
        )
        patients = Patient.objects.in_bulk(mrns, field_name="mrn")
        pumps: dict[str, Pump] = {}
        for serial_chunk in _chunks(serials):
            # Lower(serial) is the unique index's expression: an index look-up.
            matched = (
                Pump.objects.alias(serial_key=Lower("serial"))
                .filter(serial_key__in=serial_chunk)
                .select_related("patient", "model")
            )
            pumps.update((serial_key(pump.serial), pump) for pump in matched)
        serial_of = {pump.pk: key for key, pump in pumps.items()}
        pump_ids = sorted(serial_of)

        active_pumps: dict[str, list[Pump]] = defaultdict(list)
        for chunk in _chunks(sorted(patient.pk for patient in patients.values())):
            for pump in (
                Pump.objects.active().filter(patient_id__in=chunk).select_related("patient")
            ):
                active_pumps[pump.patient.mrn].append(pump)

        latest_refill: dict[str, date] = {}
        latest_adjustment: dict[str, date] = {}
        refills: dict[tuple[str, date], Refill] = {}
        file_dates = [row.refill_date for row in refill_rows if row.refill_date]
        for chunk in _chunks(pump_ids):
            for pump_id, latest in (
                Refill.objects.filter(IN_FORCE, pump_id__in=chunk)
                .values_list("pump_id")
                .annotate(Max("refill_date"))
                .order_by()
            ):
                latest_refill[serial_of[pump_id]] = latest
            for pump_id, latest in (
                DoseAdjustment.objects.filter(IN_FORCE, pump_id__in=chunk)
                .values_list("pump_id")
                .annotate(Max("adjusted_on"))
                .order_by()
            ):
                latest_adjustment[serial_of[pump_id]] = latest
            if file_dates:
                # Only refills from the file's earliest date on can match a row.
                for refill in Refill.objects.filter(
                    IN_FORCE, pump_id__in=chunk, refill_date__gte=min(file_dates)
                ).select_related("drug"):
                    refills[serial_of[refill.pump_id], refill.refill_date] = refill
        return cls(patients, pumps, active_pumps, refills, latest_refill, latest_adjustment)
