"""Write a synthetic registry (bench.synthetic) into the current database, fast.

The database is fresh, so the builder picks the row ids itself: a pump can
then point at its latest fill in the same pass (the foreign keys are checked
at commit), and each batch is a handful of bulk inserts. The stored schedule
columns (``services.SCHEDULE_FIELDS``, the ERI replace-by date among them),
the count of open discrepancies, and each refill's expected residual and
flag (with the pump model's threshold) come from the app's own rules
(``services.compute_schedule``, ``services.expected_residual``,
``services.set_residual_check``), so they are what the app would have stored;
tests/bench checks that on a sample.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import groupby, islice

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, User
from django.core.management.color import no_style
from django.db import connection, models, transaction
from django.db.models import Max
from django.utils import timezone

from bench.synthetic import PumpSpec
from care.choices import VisitKind, VisitStatus
from care.models import Appointment
from core.roles import NURSE
from patients.choices import PatientStatus
from patients.models import Patient
from pumps import bulk, services
from pumps.models import Drug, Pump, PumpModel, Refill, SchedulePolicy

BATCH_PUMPS = 1000
BOOKED_SHARE = 0.4  # of pumps due within the look-ahead, a refill visit is booked
MISSED_SHARE = 0.03  # of active pumps, a missed refill visit not rebooked
TRAVEL_BUFFER_SHARE = 0.05


@dataclass
class Built:
    patients: int = 0
    pumps: int = 0
    refills: int = 0
    appointments: int = 0


class _Ids:
    """The next free id of each table (the builder inserts explicit ids)."""

    def __init__(self, *model_classes: type[models.Model]) -> None:
        self.next = {
            model: (model._default_manager.aggregate(top=Max("pk"))["top"] or 0) + 1
            for model in model_classes
        }

    def take(self, model: type[models.Model]) -> int:
        value = self.next[model]
        self.next[model] = value + 1
        return value


def _batches(specs: Iterable[PumpSpec], size: int) -> Iterator[list[PumpSpec]]:
    iterator = iter(specs)
    while batch := list(islice(iterator, size)):
        # Keep a patient's pumps in one batch: they share the patient row.
        while (extra := next(iterator, None)) is not None:
            if extra.mrn != batch[-1].mrn:
                iterator = _chain_one(extra, iterator)
                break
            batch.append(extra)
        yield batch


def _chain_one(first: PumpSpec, rest: Iterator[PumpSpec]) -> Iterator[PumpSpec]:
    yield first
    yield from rest


def build(
    specs: Iterable[PumpSpec],
    *,
    today: date,
    seed: int = 2026,
    progress: Callable[[str], None] | None = None,
) -> Built:
    """Insert the registry ``specs`` describe, with history rows, batch by batch."""
    rng = random.Random(seed)
    pump_models = PumpModel.objects.in_bulk(field_name="code")
    drugs = Drug.objects.in_bulk(field_name="code")
    policy = SchedulePolicy.current()
    ids = _Ids(Patient, Pump, Refill, Appointment)
    built = Built()
    for batch in _batches(specs, BATCH_PUMPS):
        patients: list[Patient] = []
        pumps: list[Pump] = []
        refills: list[Refill] = []
        visits: list[Appointment] = []
        for mrn, group in groupby(batch, key=lambda spec: spec.mrn):
            pump_specs = list(group)
            first = pump_specs[0]
            patient = Patient(
                id=ids.take(Patient),
                mrn=mrn,
                family_name=first.family_name,
                given_name=first.given_name,
                birth_date=first.birth_date,
                indication=first.indication,
                status=(
                    PatientStatus.IMPLANTED
                    if any(spec.active for spec in pump_specs)
                    else PatientStatus.DISCHARGED
                ),
                travel_buffer_days=7 if rng.random() < TRAVEL_BUFFER_SHARE else 0,
            )
            patients.append(patient)
            for spec in pump_specs:
                pump, fills = _pump(spec, patient, ids, pump_models, drugs, policy, today=today)
                pumps.append(pump)
                refills += fills
                visits += _visits(pump, rng, ids, today=today)
        with transaction.atomic():
            now = timezone.now()
            bulk.insert_with_history(patients, Patient, now=now)
            bulk.insert_with_history(pumps, Pump, now=now)
            bulk.insert_with_history(refills, Refill, now=now)
            bulk.insert_with_history(visits, Appointment, now=now)
        built.patients += len(patients)
        built.pumps += len(pumps)
        built.refills += len(refills)
        built.appointments += len(visits)
        if progress is not None:
            progress(f"built {built.pumps} pumps, {built.refills} refills")
    _reset_sequences()
    return built


def _pump(
    spec: PumpSpec,
    patient: Patient,
    ids: _Ids,
    pump_models: dict[str, PumpModel],
    drugs: dict[str, Drug],
    policy: SchedulePolicy,
    *,
    today: date,
) -> tuple[Pump, list[Refill]]:
    """The pump with its stored schedule, and its fills with their residual flags.

    Every fill passes services.validate_fill first, as a fill through any
    other door would: a synthetic registry the app would refuse is a bug here.
    """
    pump = Pump(
        id=ids.take(Pump),
        patient=patient,
        model=pump_models[spec.model],
        serial=spec.serial,
        implant_date=spec.implant_date,
        explant_date=spec.explant_date,
        explant_reason=spec.explant_reason,
        alarm_ml_override=spec.alarm_ml,
    )
    refills: list[Refill] = []
    previous: Refill | None = None
    # The pump as its fills find it: not yet saved (no reads) and not yet explanted.
    as_filled = Pump(
        model=pump.model,
        serial=pump.serial,
        implant_date=pump.implant_date,
        alarm_ml_override=pump.alarm_ml_override,
    )
    for spec_fill in spec.fills:
        fill = services.Fill(
            refill_date=spec_fill.refill_date,
            drug=drugs[spec_fill.drug],
            concentration=spec_fill.concentration,
            concentration_unit=spec_fill.concentration_unit,
            daily_dose=spec_fill.daily_dose,
            dose_unit=spec_fill.dose_unit,
            volume_ml=spec_fill.volume_ml,
            residual_ml=spec_fill.residual_ml,
            eri=spec_fill.eri,
            bolus_dose=spec_fill.bolus_dose,
            boluses_per_day=spec_fill.boluses_per_day,
        )
        services.validate_fill(
            pump=as_filled,
            fill=fill,
            today=today,
            context=services.FillContext(
                on=fill.refill_date, latest=previous, previous=previous, adjustments=()
            ),
        )
        refill = Refill(id=ids.take(Refill), pump=pump, **fill.columns())
        if previous is not None:
            # Section 4, as services.check_residual computes it (no dose changes here).
            expected = services.expected_residual(previous, fill.refill_date, [])
            services.set_residual_check(
                refill, expected, threshold_ml=pump.model.discrepancy_threshold_ml
            )
        refills.append(refill)
        previous = refill
    for refill in refills[:-1]:
        # A physician has reviewed every flag but the latest fill's (section 4).
        if refill.discrepancy:
            refill.discrepancy_signed_off_at = timezone.make_aware(
                datetime.combine(refill.refill_date + timedelta(days=3), time(12))
            )
            refill.discrepancy_comment = "Reviewed: catheter checked."
    eri_dates = [refill.refill_date for refill in refills if refill.eri]
    pump.eri_reported_on = min(eri_dates) if eri_dates else None
    latest = refills[-1] if refills else None
    facts = services.fill_facts(latest, is_first_fill=len(refills) == 1) if latest else None
    values = services.compute_schedule(pump=pump, fill=facts, rate_changes=(), policy=policy)
    pump.latest_fill = latest
    for name, value in values.items():
        setattr(pump, name, value)
    # As services.store_schedule counts them: flags no physician has signed off.
    pump.open_discrepancies = sum(
        refill.discrepancy and refill.discrepancy_signed_off_at is None for refill in refills
    )
    return pump, refills


def _visits(pump: Pump, rng: random.Random, ids: _Ids, *, today: date) -> list[Appointment]:
    """A booked refill visit for many pumps due soon; a missed one for a few."""
    visits = []
    due = pump.refill_due
    due_soon = pump.is_active and due is not None and due <= today + timedelta(days=14)
    if due_soon and rng.random() < BOOKED_SHARE:
        assert due is not None
        day = max(due, today) + timedelta(days=rng.randint(0, 4))
        visits.append(_visit(pump, day, VisitStatus.BOOKED, ids))
    if pump.is_active and pump.latest_fill is not None and rng.random() < MISSED_SHARE:
        day = max(pump.implant_date, today - timedelta(days=rng.randint(1, 20)))
        visits.append(_visit(pump, day, VisitStatus.MISSED, ids))
    return visits


def _visit(pump: Pump, day: date, status: str, ids: _Ids) -> Appointment:
    at = timezone.make_aware(datetime.combine(day, time(9 + pump.pk % 8)))
    return Appointment(
        id=ids.take(Appointment),
        patient=pump.patient,
        pump=pump,
        kind=VisitKind.REFILL,
        scheduled_at=at,
        status=status,
    )


def _reset_sequences() -> None:
    """After explicit ids, PostgreSQL's sequences must move past them."""
    statements: Sequence[str] = connection.ops.sequence_reset_sql(
        no_style(), [Patient, Pump, Refill, Appointment]
    )
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def staff_user(username: str, password: str | None = None) -> User:
    """A nurse account (the password is set only when given: hashing is slow on purpose)."""
    user, _ = get_user_model().objects.get_or_create(username=username)
    if password is not None:
        user.set_password(password)
        user.save(update_fields=["password"])
    user.groups.add(Group.objects.get(name=NURSE))
    return user  # type: ignore[return-value]
