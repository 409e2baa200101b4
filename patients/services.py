"""Writes about people and their visits."""

from __future__ import annotations

from datetime import date, datetime, time

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from patients.choices import VisitKind, VisitStatus
from patients.models import Appointment, Patient


def local_datetime(day: date, at: time) -> datetime:
    """A clinic-local date and time as an aware datetime."""
    return timezone.make_aware(datetime.combine(day, at), timezone.get_current_timezone())


@transaction.atomic
def book_visit(
    *,
    patient: Patient,
    kind: str,
    day: date,
    at: time,
    today: date,
    pump=None,  # type: ignore[no-untyped-def]
    notes: str = "",
    booked_by=None,  # type: ignore[no-untyped-def]
) -> Appointment:
    """Book a visit. A refill visit needs the patient's active pump."""
    errors: dict[str, str] = {}
    if kind not in VisitKind.values:
        errors["kind"] = "Choose the kind of visit."
    if day < today:
        errors["day"] = "The visit cannot be booked in the past."
    if pump is not None and (pump.patient_id != patient.pk or not pump.is_active):
        errors["pump"] = "Choose an active pump of this patient."
    if kind == VisitKind.REFILL and pump is None:
        errors["pump"] = "A refill visit needs the patient's active pump."
    if errors:
        raise ValidationError(errors)
    return Appointment.objects.create(
        patient=patient,
        pump=pump,
        kind=kind,
        scheduled_at=local_datetime(day, at),
        notes=notes,
        booked_by=booked_by,
    )


@transaction.atomic
def set_visit_status(*, appointment: Appointment, status: str) -> Appointment:
    """Mark a booked visit done, missed or cancelled."""
    appointment = Appointment.objects.select_for_update().get(pk=appointment.pk)
    if status not in VisitStatus.values:
        raise ValidationError({"status": "Unknown visit status."})
    if status == VisitStatus.BOOKED:
        # Booked to booked would save a change that changes nothing (and a
        # history row claiming one); a visit is booked only by booking it.
        raise ValidationError({"status": "A visit can be marked done, missed or cancelled."})
    if appointment.status != VisitStatus.BOOKED:
        raise ValidationError(
            {"status": f"This visit is already {appointment.get_status_display().lower()}."}
        )
    appointment.status = status
    appointment.save(update_fields=["status"])
    return appointment


def close_refill_visit(*, pump_id: int, refill_date: date) -> Appointment | None:
    """Mark done the booked refill visit a refill fulfils: the latest one booked
    on or before the refill day, else the next one booked after it (an early
    refill makes the next booking unnecessary). Missed visits it replaces count
    as rebooked because a done visit now follows them."""
    booked = Appointment.objects.select_for_update().filter(
        pump_id=pump_id, kind=VisitKind.REFILL, status=VisitStatus.BOOKED
    )
    end_of_day = local_datetime(refill_date, time.max)
    visit = (
        booked.filter(scheduled_at__lte=end_of_day).order_by("-scheduled_at").first()
        or booked.filter(scheduled_at__gt=end_of_day).order_by("scheduled_at").first()
    )
    if visit is not None:
        visit.status = VisitStatus.DONE
        visit.save(update_fields=["status"])
    return visit
