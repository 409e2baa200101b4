"""The import's batch path for a recorded pump stores what record_fill, refill by refill, does.

The batch validates each fill through the service, computes the expected
residuals and flags in memory, closes booked visits and stores the schedule
once; the per-refill path is services.record_fill (and record_eri for an ERI,
as the import did before). Both run here on twin pumps with the same history.
"""

from __future__ import annotations

from datetime import date, time
from decimal import Decimal

import pytest

from care import services as patient_services
from care.choices import VisitKind
from pumps import services
from pumps.entry_safety import parse_decimal
from pumps.models import Drug, Pump
from tests.factories import FAR_FUTURE, PatientFactory, fill, make_pump
from tests.pumps.test_import_clinic import files, refill_row, run

pytestmark = pytest.mark.django_db

STORED = (
    "refill_alarm",
    "refill_deadline",
    "refill_due",
    "refill_limited_by",
    "battery_window_opens",
    "battery_window_closes",
    "eri_reported_on",
    "eri_replace_by",
    "open_discrepancies",
)
# 3 mg/day at 7 mg/mL is 3/7 mL/day: exact arithmetic and rounding both matter.
NEW_FILLS = [
    {"refill_date": "2025-04-10", "volume_ml": "40", "residual_ml": "25"},
    {"refill_date": "2025-05-20", "volume_ml": "38.5", "residual_ml": "24.85", "eri": "yes"},
    {"refill_date": "2025-06-29", "volume_ml": "40", "residual_ml": "19", "eri": "yes"},
    # A bolus allowance: the next fill's expected residual is a range.
    {
        "refill_date": "2025-08-08",
        "volume_ml": "40",
        "residual_ml": "3",
        "bolus_dose": "0,25",
        "boluses_per_day": "4",
    },
    {"refill_date": "2025-09-10", "volume_ml": "40", "residual_ml": "22"},
]


def recorded_twin(serial: str, *, dose_change: bool, booked: bool) -> Pump:
    """A recorded pump filled twice, maybe reprogrammed and with refill visits booked."""
    patient = PatientFactory(mrn=f"P-{serial}")
    pump = make_pump(
        model="synchromed_ii_40", implant_date=date(2024, 1, 10), serial=serial, patient=patient
    )
    fill(pump, on=date(2025, 1, 10), volume_ml="40", concentration="7", daily_dose="3")
    fill(pump, on=date(2025, 3, 1), volume_ml="40", concentration="7", daily_dose="3")
    if dose_change:
        services.adjust_dose(
            pump=pump,
            adjusted_on=date(2025, 3, 20),
            daily_dose=Decimal("4"),
            dose_unit="mg/day",
            today=FAR_FUTURE,
        )
    if booked:
        for day in (date(2025, 4, 9), date(2025, 5, 22), date(2025, 9, 1)):
            patient_services.book_visit(
                patient=patient,
                pump=pump,
                kind=VisitKind.REFILL,
                day=day,
                at=time(9),
                today=date(2025, 1, 1),
            )
    return pump


def record_one_by_one(pump: Pump) -> None:
    """The per-refill path: the service the nurse's form uses, then record_eri."""
    for row in NEW_FILLS:
        day = date.fromisoformat(row["refill_date"])
        services.record_fill(
            pump=pump,
            fill=services.Fill(
                refill_date=day,
                drug=Drug.objects.get(code="morphine"),
                concentration=Decimal("7"),
                concentration_unit="mg/mL",
                daily_dose=Decimal("3"),
                dose_unit="mg/day",
                volume_ml=Decimal(row["volume_ml"]),
                residual_ml=Decimal(row["residual_ml"]),
                eri=row.get("eri") == "yes",
                bolus_dose=parse_decimal(row["bolus_dose"]) if row.get("bolus_dose") else None,
                boluses_per_day=int(row["boluses_per_day"]) if row.get("bolus_dose") else None,
            ),
            today=FAR_FUTURE,
        )
        if row.get("eri") == "yes":
            services.record_eri(pump=pump, seen_on=day, today=FAR_FUTURE)


def state(pump: Pump) -> dict[str, object]:
    pump.refresh_from_db()
    return {
        "refills": list(
            pump.refills.order_by("refill_date").values_list(
                "refill_date",
                "expected_residual_ml",
                "expected_residual_low_ml",
                "discrepancy",
                "eri",
                "bolus_dose",
                "boluses_per_day",
            )
        ),
        "stored": {name: getattr(pump, name) for name in STORED},
        "latest_fill": pump.latest_fill.refill_date if pump.latest_fill else None,
        "visits": list(
            pump.appointments.order_by("scheduled_at").values_list("scheduled_at__date", "status")
        ),
    }


@pytest.mark.parametrize("dose_change", [False, True])
@pytest.mark.parametrize("booked", [False, True])
def test_batch_path_stores_the_same_refills_dates_and_visits_as_record_fill(
    tmp_path, dose_change, booked
):
    imported = recorded_twin("SN1", dose_change=dose_change, booked=booked)
    by_service = recorded_twin("SN2", dose_change=dose_change, booked=booked)
    rows = [refill_row(serial="SN1", concentration="7", daily_dose="3", **f) for f in NEW_FILLS]

    summary = run(*files(tmp_path, [], rows))

    record_one_by_one(by_service)
    assert "refills: 5 created, 0 unchanged" in summary.splitlines()
    assert state(imported) == state(by_service)
    # The data exercise what matters: flags both ways, an ERI date, closed visits.
    imported_state = state(imported)
    flags = [refill[3] for refill in imported_state["refills"]]  # type: ignore[attr-defined]
    assert True in flags
    assert False in flags
    assert imported_state["stored"]["eri_reported_on"] == date(2025, 5, 20)  # type: ignore[index]
    assert imported_state["stored"]["eri_replace_by"] == date(2025, 8, 18)  # type: ignore[index]
    lows = [refill[2] for refill in imported_state["refills"]]  # type: ignore[attr-defined]
    assert lows[-1] is not None  # the fill after the bolus allowance has a range


def test_batch_path_keeps_an_earlier_recorded_eri_date(tmp_path):
    pump = recorded_twin("SN1", dose_change=False, booked=False)
    services.record_eri(pump=pump, seen_on=date(2025, 3, 2), today=FAR_FUTURE)
    rows = [refill_row(serial="SN1", concentration="7", daily_dose="3", **f) for f in NEW_FILLS]

    run(*files(tmp_path, [], rows))

    pump.refresh_from_db()
    assert pump.eri_reported_on == date(2025, 3, 2)
