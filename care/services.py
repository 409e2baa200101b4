"""Writes about people and their visits, and the date checks every door shares.

The checks of clinical-rules.md section 8 live here (and in ``pumps.entry_safety``),
so the staff pages, the admin and the services refuse alike: forms only convert.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from care.choices import VisitKind, VisitStatus
from care.models import Appointment
from care.signals import visit_changed
from patients.models import Patient
from pumps import entry_safety
from pumps.models import Pump


def local_datetime(day: date, at: time) -> datetime:
    """A clinic-local date and time as an aware datetime."""
    return timezone.make_aware(datetime.combine(day, at), timezone.get_current_timezone())


# --- Dates typed on the patient side (clinical-rules.md 8) ------------------------------


def event_date_refusal(
    day: date, *, what: str, today: date, birth_date: date | None = None
) -> str | None:
    """Why ``day`` cannot be the date of an event that happened, or None.

    ``what`` names the field in the message ("the trial date"). An event of a
    patient's life cannot come before their birth.
    """
    refusal = entry_safety.date_refusal(day, today=today, happened=True)
    if refusal:
        return f"{what.capitalize()} {refusal}"
    if birth_date is not None and day < birth_date:
        return (
            f"{what.capitalize()} {day.isoformat()} is before the patient's birth ({birth_date})."
        )
    return None


def birth_date_refusal(
    *, birth_date: date, today: date, patient: Patient | None = None
) -> str | None:
    """Why ``birth_date`` cannot be the patient's birth date, or None.

    A birth after one of the patient's recorded implants is refused too: the
    implant's "not before birth" rule read from the other side.
    """
    refusal = event_date_refusal(birth_date, what="the birth date", today=today)
    if refusal or patient is None or patient.pk is None:
        return refusal
    first = (
        Pump.objects.filter(patient_id=patient.pk)
        .order_by("implant_date")
        .values_list("implant_date", flat=True)
        .first()
    )
    if first is not None and birth_date > first:
        return (
            f"The birth date {birth_date.isoformat()} is after the patient's first "
            f"implant ({first})."
        )
    return None


ROOM_MAX = 40  # Appointment.room

# --- Visits --------------------------------------------------------------------------


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = local_datetime(day, time.min)
    return start, local_datetime(day, time.max)


def same_day_booking(
    *, patient: Patient, pump: Pump | None, kind: str, day: date, exclude_pk: int | None = None
) -> Appointment | None:
    """The visit of this kind already booked for the pump (or, without a pump, the
    patient) on ``day``, if any: one active booking per pump, kind and day."""
    start, end = _day_bounds(day)
    booked = Appointment.objects.booked().filter(
        kind=kind, scheduled_at__gte=start, scheduled_at__lte=end
    )
    booked = (
        booked.filter(pump=pump)
        if pump is not None
        else booked.filter(patient=patient, pump__isnull=True)
    )
    if exclude_pk is not None:
        booked = booked.exclude(pk=exclude_pk)
    return booked.order_by("scheduled_at", "pk").first()


def same_day_message(existing: Appointment) -> str:
    at = timezone.localtime(existing.scheduled_at)
    what = existing.get_kind_display().lower()
    of = f"pump {existing.pump.serial}" if existing.pump is not None else "this patient"
    return (
        f"A {what} visit is already booked for {of} on {at:%a %d %b %Y} at {at:%H:%M}: "
        "change or cancel that one instead of booking a second."
    )


def battery_warning(*, pump: Pump | None, day: date) -> str | None:
    """Warn when a visit falls after the pump's battery stops (clinical-rules.md 5)."""
    if pump is None or not pump.battery_stops_before(day):
        return None
    return (
        f"The battery stops before this date (replace by {pump.eri_replace_by:%a %d %b %Y}): "
        "book the replacement, not only the refill."
    )


def _lock_visit_owner(patient: Patient, pump: Pump | None) -> None:
    """Queue two bookings of the same pump (or patient): the same-day check then
    sees the first one's row. Without the lock both would pass the check."""
    if pump is not None:
        Pump.objects.select_for_update().filter(pk=pump.pk).first()
    else:
        Patient.objects.select_for_update().filter(pk=patient.pk).first()


@transaction.atomic
def book_visit(
    *,
    patient: Patient,
    kind: str,
    day: date,
    at: time,
    today: date,
    pump: Pump | None = None,
    notes: str = "",
    room: str = "",
    booked_by: Any = None,
) -> Appointment:
    """Book a visit (clinical-rules.md 8): from today up to two years ahead, never for
    an explanted pump, one booked visit per pump, kind and day. A refill visit needs
    the patient's active pump."""
    errors: dict[str, str] = {}
    if kind not in VisitKind.values:
        errors["kind"] = "Choose the kind of visit."
    if refusal := entry_safety.booking_refusal(day, today=today):
        errors["day"] = f"The visit date {refusal}"
    if pump is not None and pump.patient_id != patient.pk:
        errors["pump"] = "Choose an active pump of this patient."
    elif pump is not None and not pump.is_active:
        errors["pump"] = (
            f"Pump {pump.serial} was explanted on {pump.explant_date}: "
            "book visits for the patient's active pump."
        )
    if kind == VisitKind.REFILL and pump is None:
        errors["pump"] = "A refill visit needs the patient's active pump."
    room = room.strip()
    if len(room) > ROOM_MAX:
        errors["room"] = f"Keep the room within {ROOM_MAX} characters."
    if errors:
        raise ValidationError(errors)
    _lock_visit_owner(patient, pump)
    existing = same_day_booking(patient=patient, pump=pump, kind=kind, day=day)
    if existing is not None:
        raise ValidationError({"day": same_day_message(existing)})
    return Appointment.objects.create(
        patient=patient,
        pump=pump,
        kind=kind,
        scheduled_at=local_datetime(day, at),
        notes=notes,
        room=room,
        booked_by=booked_by,
    )


@transaction.atomic
def set_visit_status(
    *, appointment: Appointment, status: str, reason: str = "", user: Any = None
) -> Appointment:
    """Mark a booked visit done, missed or cancelled; or restore a visit marked missed
    or cancelled by mistake to booked, with a reason kept in its history (section 9)."""
    appointment = (
        # Lock the visit row only: its pump is an outer join PostgreSQL will not lock.
        Appointment.objects.select_for_update(of=("self",))
        .select_related("pump")
        .get(pk=appointment.pk)
    )
    if status not in VisitStatus.values:
        raise ValidationError({"status": "Unknown visit status."})
    if status == VisitStatus.BOOKED:
        return _restore_visit(appointment, reason=reason, user=user)
    if appointment.status != VisitStatus.BOOKED:
        raise ValidationError(
            {"status": f"This visit is already {appointment.get_status_display().lower()}."}
        )
    appointment.status = status
    if user is not None:
        appointment._history_user = user  # type: ignore[attr-defined]
    appointment.save(update_fields=["status"])
    return appointment


def _restore_visit(appointment: Appointment, *, reason: str, user: Any) -> Appointment:
    if appointment.status == VisitStatus.BOOKED:
        # Booked to booked would save a change that changes nothing (and a
        # history row claiming one).
        raise ValidationError(
            {"status": "This visit is already booked: it can be marked done, missed or cancelled."}
        )
    if appointment.status not in (VisitStatus.MISSED, VisitStatus.CANCELLED):
        # A done visit is undone by marking its refill entered in error, not here.
        raise ValidationError(
            {
                "status": f"This visit is {appointment.get_status_display().lower()}: "
                "only a visit marked missed or cancelled can be restored."
            }
        )
    text = reason.strip()
    if not text:
        raise ValidationError(
            {"reason": "Say why the visit is restored: the reason stays in its history."}
        )
    pump = appointment.pump
    if pump is not None and not pump.is_active:
        raise ValidationError(
            {
                "status": f"Pump {pump.serial} was explanted on {pump.explant_date}: "
                "book a new visit for the patient's active pump."
            }
        )
    _lock_visit_owner(appointment.patient, pump)
    day = timezone.localtime(appointment.scheduled_at).date()
    existing = same_day_booking(
        patient=appointment.patient,
        pump=pump,
        kind=appointment.kind,
        day=day,
        exclude_pk=appointment.pk,
    )
    if existing is not None:
        raise ValidationError({"status": same_day_message(existing)})
    previous = appointment.get_status_display().lower()
    appointment.status = VisitStatus.BOOKED
    appointment._change_reason = f"Restored to booked (was {previous}): {text}"  # type: ignore[attr-defined]
    if user is not None:
        appointment._history_user = user  # type: ignore[attr-defined]
    appointment.save(update_fields=["status"])
    return appointment


def close_refill_visit(*, pump_id: int, refill_date: date) -> Appointment | None:
    """Mark done the booked refill visit a refill fulfils: the latest one booked
    on or before the refill day, else the next one booked after it (an early
    refill makes the next booking unnecessary). Missed visits it replaces count
    as rebooked because a done visit now follows them."""
    # One read of the pump's booked refill visits (a handful at most), chosen here.
    booked = list(
        Appointment.objects.select_for_update()
        .filter(pump_id=pump_id, kind=VisitKind.REFILL, status=VisitStatus.BOOKED)
        .order_by("scheduled_at")
    )
    end_of_day = local_datetime(refill_date, time.max)
    on_or_before = [visit for visit in booked if visit.scheduled_at <= end_of_day]
    after = [visit for visit in booked if visit.scheduled_at > end_of_day]
    visit = on_or_before[-1] if on_or_before else (after[0] if after else None)
    if visit is not None:
        visit.status = VisitStatus.DONE
        visit.save(update_fields=["status"])
    return visit


def close_visit_of_fill(
    sender: object, *, pump_id: int, refill_date: date, **kwargs: object
) -> None:
    """The receiver of pumps.signals.fill_recorded (connected in care.apps)."""
    close_refill_visit(pump_id=pump_id, refill_date=refill_date)


def announce_visit_change(sender: object, instance: Appointment, **kwargs: object) -> None:
    """post_save of a visit (connected in care.apps): tell the layers above care
    (outreach's reminders) inside the same transaction. Not for a raw save (a
    fixture or a backup being loaded): those rows come with their messages."""
    if kwargs.get("raw"):
        return
    visit_changed.send(sender=Appointment, appointment_id=instance.pk)
