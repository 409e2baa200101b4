"""What the database already holds: the rows the files' rows match.

``Recorded.load`` reads the patients, pumps, active pumps, refills and the
latest refill and dose change of each pump in a few bulk queries, in chunks
small enough for SQLite's parameter limit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TypeVar

from django.db.models import Max

from patients.models import Patient
from pumps.importer.rows import PumpRow, RefillRow
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
    pumps: Mapping[str, Pump]
    active_pumps: Mapping[str, list[Pump]]  # by patient mrn
    refills: Mapping[tuple[str, date], Refill]
    latest_refill: Mapping[str, date]  # by serial
    latest_adjustment: Mapping[str, date]  # by serial

    @classmethod
    def load(cls, pump_rows: Sequence[PumpRow], refill_rows: Sequence[RefillRow]) -> Recorded:
        mrns = sorted({row.mrn for row in pump_rows if row.mrn})
        serials = sorted(
            {row.serial for row in pump_rows if row.serial}
            | {row.serial for row in refill_rows if row.serial}
        )
        patients = Patient.objects.in_bulk(mrns, field_name="mrn")
        pumps = Pump.objects.select_related("patient", "model").in_bulk(
            serials, field_name="serial"
        )
        serial_of = {pump.pk: pump.serial for pump in pumps.values()}
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
                Refill.objects.filter(pump_id__in=chunk)
                .values_list("pump_id")
                .annotate(Max("refill_date"))
                .order_by()
            ):
                latest_refill[serial_of[pump_id]] = latest
            for pump_id, latest in (
                DoseAdjustment.objects.filter(pump_id__in=chunk)
                .values_list("pump_id")
                .annotate(Max("adjusted_on"))
                .order_by()
            ):
                latest_adjustment[serial_of[pump_id]] = latest
            if file_dates:
                # Only refills from the file's earliest date on can match a row.
                for refill in Refill.objects.filter(
                    pump_id__in=chunk, refill_date__gte=min(file_dates)
                ).select_related("drug"):
                    refills[serial_of[refill.pump_id], refill.refill_date] = refill
        return cls(patients, pumps, active_pumps, refills, latest_refill, latest_adjustment)
