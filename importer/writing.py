"""Writing: the second phase, carrying out a plan in one transaction.

``apply_plan`` writes patients, then pumps in write order: new pumps in
bulk batches with their refills and stored schedules, recorded pumps one
at a time through ``pumps.services``. A service's refusal (``_service``)
or a concurrent write becomes a problem and rolls everything back.
``Progress`` reports how far a big file has got.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from care.choices import VisitKind
from care.models import Appointment
from care.services import close_refill_visit
from importer.checks import PumpFacts
from importer.plan import PatientPlan, Plan, PumpPlan
from importer.problems import Problems, Source
from patients.choices import PatientStatus
from patients.models import IN_FORCE, Patient
from pumps import bulk, schedule, services
from pumps.models import DoseAdjustment, Pump, Refill, SchedulePolicy
from pumps.services import Fill

# Files with more data rows than this report their progress while writing.
PROGRESS_ABOVE_ROWS = 1000
# New patients and pumps are written this many at a time (bulk inserts).
WRITE_BATCH = 500

# Service error keys that are not the file's column names.
SERVICE_FIELD_COLUMNS = {
    "alarm_ml_override": "alarm_ml",
    "reason": "explant_reason",
    "patient": "mrn",
}

T = TypeVar("T")


class Progress:
    """Writes ``NAME: 50 % (600 of 1200 rows)`` at each tenth done, for big files only."""

    def __init__(self, name: str, total: int, write: Callable[[str], None] | None) -> None:
        self.name = name
        self.total = total
        self.write = write if total > PROGRESS_ABOVE_ROWS else None
        self.done = 0
        self.tenths = 0

    def advance(self, rows: int) -> None:
        self.done += rows
        if self.write is None or not rows:
            return
        tenths = self.done * 10 // self.total
        if tenths > self.tenths:
            self.tenths = tenths
            self.write(f"{self.name}: {tenths * 10} % ({self.done} of {self.total} rows)")


def apply_plan(plan: Plan, *, today: date, progress: Callable[[str], None] | None = None) -> None:
    """Write the plan in one transaction through the services: all or nothing."""
    pumps_progress = Progress(plan.pumps_source.name, plan.pump_rows, progress)
    refills_progress = Progress(
        plan.refills_source.name if plan.refills_source else "", plan.refill_rows, progress
    )
    try:
        with transaction.atomic():
            policy = SchedulePolicy.current()
            patients = _write_patients(plan.patients)
            for chunk in _chunks_of_new_pumps(plan.pumps):
                if chunk[0].facts.existing is None:
                    _write_new_pumps(chunk, patients, policy=policy)
                else:
                    (pump_plan,) = chunk
                    _write_pump(pump_plan, patients, plan=plan, policy=policy, today=today)
                for pump_plan in chunk:
                    pumps_progress.advance(1 if pump_plan.facts.line is not None else 0)
                    refills_progress.advance(
                        len(pump_plan.new_refills) + pump_plan.unchanged_refills
                    )
    except IntegrityError as error:
        # Someone recorded the same mrn, serial or refill between the check and
        # the write; the transaction rolled back, and a second run will match it.
        problems = Problems()
        problems.add_file(
            plan.pumps_source, f"the database changed during the import ({error}); run it again"
        )
        raise problems.refuse() from error


def _write_patients(plans: Sequence[PatientPlan]) -> dict[str, Patient]:
    patients: dict[str, Patient] = {}
    new: list[Patient] = []
    for plan in plans:
        patient = plan.existing
        if patient is None:
            status = PatientStatus.IMPLANTED if plan.has_active_pump else PatientStatus.DISCHARGED
            patient = Patient(mrn=plan.mrn, status=status, **plan.values)
            new.append(patient)
        elif plan.changed:
            # Only a changed patient is saved, so a re-import adds no history rows.
            for name in plan.changed:
                setattr(patient, name, plan.values[name])
            patient.save(update_fields=plan.changed)
        patients[plan.mrn] = patient
    # Inserted together, with their history rows, not one at a time.
    bulk.insert_with_history(new, Patient, now=timezone.now(), key=("mrn",))
    return patients


def _chunks_of_new_pumps(plans: Sequence[PumpPlan]) -> Iterator[list[PumpPlan]]:
    """Runs of up to WRITE_BATCH new pumps, and each recorded pump alone, in write order."""
    run: list[PumpPlan] = []
    for plan in plans:
        if plan.facts.existing is None:
            run.append(plan)
            if len(run) == WRITE_BATCH:
                yield run
                run = []
            continue
        if run:
            yield run
            run = []
        yield [plan]
    if run:
        yield run


def _write_new_pumps(
    plans: Sequence[PumpPlan], patients: Mapping[str, Patient], *, policy: SchedulePolicy
) -> None:
    """Create new pumps with their refills and stored schedules, a batch at a time.

    Not services.implant_pump, record_fill and explant_pump, pump by pump: the
    checks in checks.py held each row to their rules (serial unique, implant and
    fills not in the future nor outside the pump's life, fills in date order
    and within the reservoir, one active pump per patient, an explant with its
    reason), and a pump created in this transaction has no other refills, dose
    changes or booked visits. So each fill's predecessor is the previous fill
    here, its expected residual (a range with a bolus allowance) and flag come
    from the functions services.check_residual uses with the model's
    threshold, the schedule from services.compute_schedule on the latest fill
    and the count of open discrepancies from the flags written, as
    services.store_schedule stores them (tests/pumps/test_import_clinic.py
    compares the two paths). Each pump gets one history record, of its final
    state.
    """
    pumps: list[Pump] = []
    for plan in plans:
        facts = plan.facts
        pumps.append(
            Pump(
                patient=patients[facts.mrn],
                model=facts.model,
                serial=facts.serial,
                implant_date=facts.implant_date,
                alarm_ml_override=facts.alarm_ml,
                explant_date=facts.explant_date,
                explant_reason=facts.explant_reason if facts.explant_date else "",
            )
        )
    now = timezone.now()
    bulk.insert(pumps, Pump, now=now, key=("serial",))  # ids, for the refills
    fills_of = [[row.fill() for row in plan.new_refills] for plan in plans]
    records_of = [
        _refills_of_new_pump(pump, fills) for pump, fills in zip(pumps, fills_of, strict=True)
    ]
    records = [record for pump_records in records_of for record in pump_records]
    bulk.insert_with_history(records, Refill, now=now, key=("pump_id", "refill_date"))
    for pump, fills, pump_records in zip(pumps, fills_of, records_of, strict=True):
        eri_dates = [fill.refill_date for fill in fills if fill.eri]
        # Section 5: the first day the indicator was seen.
        pump.eri_reported_on = min(eri_dates) if eri_dates else None
        latest = None
        if pump_records:
            latest = Refill(**pump_records[-1])
            latest.drug = fills[-1].drug
        latest_facts = (
            services.fill_facts(latest, is_first_fill=len(fills) == 1) if latest else None
        )
        values = services.compute_schedule(
            pump=pump, fill=latest_facts, rate_changes=(), policy=policy
        )
        pump.latest_fill = latest
        for name, value in values.items():
            setattr(pump, name, value)
        # Section 4: nobody has signed off a flag the import just wrote.
        pump.open_discrepancies = sum(record["discrepancy"] for record in pump_records)
    bulk.update(
        pumps,
        Pump,
        ["latest_fill", "eri_reported_on", "open_discrepancies", *services.SCHEDULE_FIELDS],
    )
    # The pump's one history record is of its final state, with its schedule.
    bulk.insert_history(pumps, Pump, now=now)


def _write_pump(
    pump_plan: PumpPlan,
    patients: Mapping[str, Patient],
    *,
    plan: Plan,
    policy: SchedulePolicy,
    today: date,
) -> None:
    """Update a recorded pump, record its new refills, then its explant (new pumps:
    _write_new_pumps)."""
    facts = pump_plan.facts
    fills = [(row.line, row.fill()) for row in pump_plan.new_refills]
    pump = facts.existing
    assert pump is not None
    if "alarm_ml_override" in pump_plan.changed:
        pump = Pump.objects.select_for_update().get(pk=pump.pk)
        pump.alarm_ml_override = facts.alarm_ml
        pump.save(update_fields=["alarm_ml_override"])
        if not fills:
            # The alarm volume moves the alarm date: store the schedule again.
            services.recompute_schedules([pump], policy=policy)
    if fills:
        assert plan.refills_source is not None
        _record_fills_of_recorded_pump(
            pump, fills, source=plan.refills_source, policy=policy, today=today
        )
    explant_is_new = bool({"explant_date", "explant_reason"} & set(pump_plan.changed))
    if facts.explant_date is not None and explant_is_new:
        assert facts.line is not None, "only a pumps file row changes an explant"
        # After its refills: services.record_fill refuses an explanted pump.
        _write_explant(pump, facts, row=RowRef(plan.pumps_source, facts.line), today=today)


def _record_fills_of_recorded_pump(
    pump: Pump,
    fills: Sequence[tuple[int, Fill]],
    *,
    source: Source,
    policy: SchedulePolicy,
    today: date,
) -> None:
    """Record new refills of a recorded pump in one batch, as services.record_fill would.

    record_fill costs a dozen queries a refill (about 12 s per 1,000) and stores
    the schedule after each. Here, under one lock of the pump: each fill is
    validated by the service (the authority, as in record_fill); its expected
    residual and flag come from the same functions services.check_residual
    uses, from the previous fill (the recorded latest one, then the previous
    fill of the batch) and the dose changes between them; the fills a booked
    visit waits for close it, in order; the first ERI seen dates the pump as
    record_fill and record_eri do; and the schedule is stored once, from the
    final state. The checks already put every fill after the recorded refills
    and dose changes, in date order. tests/pumps/test_import_batch.py compares
    the result with record_fill's, refill by refill.
    """
    locked = Pump.objects.select_for_update().select_related("model", "patient").get(pk=pump.pk)
    previous = (
        Refill.objects.filter(IN_FORCE, pump=locked)
        .select_related("drug")
        .order_by("-refill_date")
        .first()
    )
    adjustments = list(
        DoseAdjustment.objects.filter(
            IN_FORCE,
            pump=locked,
            adjusted_on__gt=previous.refill_date if previous is not None else date.min,
        )
    )
    threshold = locked.model.discrepancy_threshold_ml
    refills: list[Refill] = []
    for line, fill in fills:
        _service(RowRef(source, line), services.validate_fill, pump=locked, fill=fill, today=today)
        refill = Refill(pump=locked, **fill.columns())
        if previous is not None:
            between = [
                adjustment
                for adjustment in adjustments
                if previous.refill_date < adjustment.adjusted_on <= fill.refill_date
            ]
            expected = services.expected_residual(previous, fill.refill_date, between)
            services.set_residual_check(refill, expected, threshold_ml=threshold)
        refills.append(refill)
        previous = refill
    bulk_create_with_history(refills, Refill)
    if Appointment.objects.booked().filter(pump=locked, kind=VisitKind.REFILL).exists():
        for _, fill in fills:
            close_refill_visit(pump_id=locked.pk, refill_date=fill.refill_date)
    eri_dates = [fill.refill_date for _, fill in fills if fill.eri]
    if eri_dates and (locked.eri_reported_on is None or min(eri_dates) < locked.eri_reported_on):
        # Section 5: the first day the indicator was seen.
        locked.eri_reported_on = min(eri_dates)
        locked.save(update_fields=["eri_reported_on"])
    services.store_schedule(locked, policy=policy)


@functools.lru_cache(maxsize=4096)
def _daily_volume_of(
    dose: Decimal,
    dose_unit: str,
    concentration: Decimal,
    unit: str,
    bolus_dose: Decimal | None,
    boluses_per_day: int | None,
) -> Fraction:
    return schedule.daily_volume_ml(
        daily_dose=dose,
        dose_unit=dose_unit,
        concentration=concentration,
        concentration_unit=unit,
        bolus_dose=bolus_dose,
        boluses_per_day=boluses_per_day,
    )


def _daily_volume(fill: Fill, *, with_boluses: bool) -> Fraction:
    """Refill.daily_volume_ml (basal) or .allowed_daily_volume_ml, cached: a pump
    keeps its dose for many fills."""
    return _daily_volume_of(
        fill.daily_dose,
        fill.dose_unit,
        fill.concentration,
        fill.concentration_unit,
        fill.bolus_dose if with_boluses else None,
        fill.boluses_per_day if with_boluses else None,
    )


@functools.cache
def _refill_defaults() -> dict[str, Any]:
    return bulk.defaults(Refill)


def _expected_residual(previous: Fill, on: date) -> services.ExpectedResidual:
    """services.expected_residual without dose changes (a new pump has none), with
    the daily volumes worked out once per dose and concentration."""

    def left(with_boluses: bool) -> Fraction:
        return schedule.volume_on(
            fill_date=previous.refill_date,
            volume_ml=previous.volume_ml,
            daily_volume=_daily_volume(previous, with_boluses=with_boluses),
            on=on,
            rate_changes=[],
        )

    # Section 4: a range when boluses were allowed, low end with every one taken.
    high = left(False)
    low = left(True) if previous.has_boluses else high
    return services.ExpectedResidual(low_ml=low, high_ml=high)


def _refills_of_new_pump(pump: Pump, fills: Sequence[Fill]) -> list[dict[str, Any]]:
    """The refills of a pump this import creates, as bulk records (field values by
    attribute name), with expected residuals and flags."""
    threshold = pump.model.discrepancy_threshold_ml
    records: list[dict[str, Any]] = []
    previous: Fill | None = None
    for fill in fills:
        record = _refill_defaults() | fill.columns()
        record["pump_id"] = pump.pk
        record["drug_id"] = record.pop("drug").pk
        if previous is not None:
            expected = _expected_residual(previous, fill.refill_date)
            record |= services.residual_columns(fill.residual_ml, expected, threshold_ml=threshold)
        records.append(record)
        previous = fill
    return records


def _write_explant(pump: Pump, facts: PumpFacts, *, row: RowRef, today: date) -> None:
    assert facts.explant_date is not None
    locked = Pump.objects.select_for_update().get(pk=pump.pk)
    if locked.is_active:
        _service(
            row,
            services.explant_pump,
            pump=locked,
            explant_date=facts.explant_date,
            reason=facts.explant_reason,
            today=today,
        )
    else:
        # A corrected explant of a pump already explanted: services.explant_pump
        # refuses a second explant, and the checks in checks.py held the new values
        # to its rules (a reason, not before the implant or the latest refill).
        locked.explant_date = facts.explant_date
        locked.explant_reason = facts.explant_reason
        locked.save(update_fields=["explant_date", "explant_reason"])


@dataclass(frozen=True)
class RowRef:
    """The file row a write comes from, to report a service's refusal against."""

    source: Source
    line: int


def _service(
    row: RowRef, function: Callable[..., T], *, column: str = "refill_date", **kwargs: Any
) -> T:
    """Call a service; its refusal becomes a problem on the row (and rolls back).

    ``column`` names a refusal that is not tied to one field.
    """
    try:
        return function(**kwargs)
    except ValidationError as error:
        fields = error.message_dict if hasattr(error, "error_dict") else {column: error.messages}
        problems = Problems()
        for name, messages in fields.items():
            name = SERVICE_FIELD_COLUMNS.get(name, name)
            problems.add(row.source, row.line, name, " ".join(messages))
        raise problems.refuse() from error
