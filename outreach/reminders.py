"""What is queued (issue 15, item 2): visit reminders at the configured offsets,
and one "please call us to book" message for a refill that is due or overdue and
not booked, then a staff task instead of a second message."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Exists, OuterRef
from django.utils import timezone

from care.choices import VisitKind, VisitStatus
from care.models import Appointment
from outreach import texts
from outreach.choices import MessageKind, MessageState, TaskState
from outreach.consent import message_channel
from outreach.models import Message, StaffTask
from outreach.outbox import queue
from patients.models import Patient
from pumps.choices import RefillStatus
from pumps.models import Pump, SchedulePolicy


def send_time() -> time:
    hours, _, minutes = settings.OUTREACH_SEND_AT.partition(":")
    return time(int(hours), int(minutes or 0))


def visit_key(appointment: Appointment, offset: int) -> str:
    # The visit's time is in the key: a moved visit gets new reminders, the old
    # ones are cancelled, and a visit moved back is not reminded twice.
    stamp = appointment.scheduled_at.strftime("%Y%m%d%H%M")
    return f"visit:{appointment.pk}:{stamp}:{offset}d"


def reminder_times(scheduled_at: datetime, now: datetime) -> list[tuple[int, datetime]]:
    """(offset, due time) of the reminders a visit at ``scheduled_at`` gets when
    booked at ``now``: each offset's day at OUTREACH_SEND_AT, before the visit.
    Offsets whose time has passed are dropped; when none is left ahead, the
    nearest passed one goes at once (a visit booked this afternoon for tomorrow
    still gets its day-before reminder)."""
    if scheduled_at <= now:
        return []
    visit_day = timezone.localtime(scheduled_at).date()
    at = send_time()
    planned = []
    for offset in sorted(set(settings.OUTREACH_REMINDER_OFFSETS_DAYS), reverse=True):
        due = timezone.make_aware(datetime.combine(visit_day - timedelta(days=offset), at))
        if due < scheduled_at:
            planned.append((offset, due))
    future = [(offset, due) for offset, due in planned if due > now]
    past = [(offset, now) for offset, due in planned if due <= now]
    return future or past[-1:]


class Renderer:
    """Templates read once per run, not once per message."""

    def __init__(self) -> None:
        self.cache: dict[tuple[str, str, str], tuple[str, str]] = {}

    def __call__(self, kind: str, channel: str, language: str, at: datetime | None) -> Any:
        key = (kind, channel, language or "en")
        if key not in self.cache:
            self.cache[key] = texts.approved_template(*key)
        return texts.render_text(*self.cache[key], at)


def visit_messages(
    appointment: Appointment, patient: Patient, now: datetime, render: Renderer
) -> list[Message]:
    channel = message_channel(patient)
    if channel is None or appointment.status != VisitStatus.BOOKED:
        return []
    messages = []
    for offset, due in reminder_times(appointment.scheduled_at, now):
        rendered = render(
            MessageKind.VISIT_REMINDER,
            channel,
            patient.preferred_language,
            appointment.scheduled_at,
        )
        messages.append(
            Message(
                patient=patient,
                kind=MessageKind.VISIT_REMINDER,
                channel=channel,
                appointment=appointment,
                pump_id=appointment.pump_id,
                subject=rendered.subject,
                text=rendered.text,
                due_at=due,
                dedupe_key=visit_key(appointment, offset),
            )
        )
    return messages


def sync_visit(appointment_id: int, *, now: datetime | None = None) -> int:
    """Make the visit's queued reminders match the visit: cancel those of another
    time or of a visit no longer booked, queue the missing ones. Returns how many
    were queued."""
    now = now or timezone.now()
    appointment = Appointment.objects.select_related("patient").filter(pk=appointment_id).first()
    if appointment is None:
        return 0
    wanted = visit_messages(appointment, appointment.patient, now, Renderer())
    keys = {message.dedupe_key for message in wanted}
    reason = (
        f"visit {appointment.get_status_display().lower()}"
        if appointment.status != VisitStatus.BOOKED
        else "visit moved"
    )
    Message.objects.filter(appointment_id=appointment.pk, state=MessageState.QUEUED).exclude(
        dedupe_key__in=keys
    ).update(state=MessageState.CANCELLED, cancelled_reason=reason)
    if (
        appointment.status == VisitStatus.BOOKED
        and appointment.kind == VisitKind.REFILL
        and appointment.pump_id
    ):
        # Booked: a "please call us to book" still waiting to go would be wrong now.
        Message.objects.filter(
            pump_id=appointment.pump_id, kind=MessageKind.REFILL_CALL, state=MessageState.QUEUED
        ).update(state=MessageState.CANCELLED, cancelled_reason="refill booked")
    # A visit restored to booked (or moved back): its cancelled, never-sent reminders
    # are queued again, the same rows, so a key still means one message.
    revived = 0
    for message in wanted:
        revived += Message.objects.filter(
            dedupe_key=message.dedupe_key, state=MessageState.CANCELLED
        ).update(
            state=MessageState.QUEUED,
            cancelled_reason="",
            due_at=message.due_at,
            next_attempt_at=message.due_at,
            text=message.text,
            subject=message.subject,
            channel=message.channel,
        )
    return queue(wanted) + revived


def on_visit_changed(sender: object, *, appointment_id: int, **kwargs: object) -> None:
    """The receiver of care.signals.visit_changed (connected in outreach.apps)."""
    sync_visit(appointment_id)


def queue_visit_reminders(*, now: datetime | None = None) -> int:
    """Queue the reminders of every booked visit ahead (the daily run; idempotent)."""
    now = now or timezone.now()
    horizon = now + timedelta(days=max(settings.OUTREACH_REMINDER_OFFSETS_DAYS, default=0) + 1)
    render = Renderer()
    visits = (
        Appointment.objects.filter(
            status=VisitStatus.BOOKED, scheduled_at__gt=now, scheduled_at__lte=horizon
        )
        .select_related("patient")
        .filter(patient__consent_to_contact=True)
        .order_by("pk")
    )
    total = 0
    batch: list[Message] = []
    for appointment in visits.iterator(chunk_size=1000):
        batch.extend(visit_messages(appointment, appointment.patient, now, render))
        if len(batch) >= 1000:
            total += queue(batch)
            batch = []
    return total + queue(batch)


def refill_key(pump: Pump) -> str:
    return f"refill-call:{pump.pk}:{pump.refill_deadline}"


def queue_refill_calls(*, today: date, now: datetime | None = None) -> tuple[int, int]:
    """For each active pump whose refill is due or overdue with no refill visit
    booked: one "please call us to book" message per refill cycle (the pump's
    refill deadline); when that message went and the patient still has not
    booked, a staff task instead of another message. Returns (queued, tasks)."""
    now = now or timezone.now()
    policy = SchedulePolicy.current()
    booked = Appointment.objects.filter(
        pump=OuterRef("pk"), kind=VisitKind.REFILL, status=VisitStatus.BOOKED
    )
    pumps = list(
        Pump.objects.active()
        .with_statuses(today, policy.lookahead_days)
        .filter(refill_status__in=[RefillStatus.DUE, RefillStatus.OVERDUE])  # type: ignore[misc]
        .exclude(Exists(booked))
        .select_related("patient")
        .order_by("pk")
    )
    keys = [refill_key(pump) for pump in pumps]
    earlier = {
        message.dedupe_key: message
        for message in Message.objects.filter(dedupe_key__in=keys).only(
            "pk", "dedupe_key", "state", "patient_id"
        )
    }
    render = Renderer()
    fresh: list[Message] = []
    tasks: list[StaffTask] = []
    for pump, key in zip(pumps, keys, strict=True):
        sent = earlier.get(key)
        if sent is None:
            channel = message_channel(pump.patient)
            if channel is not None:
                rendered = render(
                    MessageKind.REFILL_CALL, channel, pump.patient.preferred_language, None
                )
                fresh.append(
                    Message(
                        patient=pump.patient,
                        kind=MessageKind.REFILL_CALL,
                        channel=channel,
                        pump=pump,
                        subject=rendered.subject,
                        text=rendered.text,
                        due_at=now,
                        dedupe_key=key,
                    )
                )
        elif sent.state in (MessageState.SENT, MessageState.FAILED):
            outcome = "was sent" if sent.state == MessageState.SENT else "could not be sent"
            # The annotation (SQL) shadows the model's refill_status() method.
            status = RefillStatus(str(pump.__dict__["refill_status"])).label.lower()
            tasks.append(
                StaffTask(
                    patient=pump.patient,
                    pump=pump,
                    message=sent,
                    text=f"Refill {status}, not booked: "
                    f"the 'please call us' message {outcome}. Phone the patient.",
                    dedupe_key=f"task:{key}",
                )
            )
    queued = queue(fresh)
    existing = set(
        StaffTask.objects.filter(dedupe_key__in=[t.dedupe_key for t in tasks]).values_list(
            "dedupe_key", flat=True
        )
    )
    new_tasks = [task for task in tasks if task.dedupe_key not in existing]
    StaffTask.objects.bulk_create(new_tasks, ignore_conflicts=True)
    # A task whose pump has since been booked or refilled is done by itself.
    StaffTask.objects.filter(state=TaskState.OPEN).exclude(
        dedupe_key__in=[task.dedupe_key for task in tasks]
    ).update(state=TaskState.DONE, done_at=now)
    return queued, len(new_tasks)


def daily_run(*, today: date | None = None, now: datetime | None = None) -> dict[str, int]:
    """The scheduler's daily run: queue visit reminders and refill calls."""
    from core.clock import clinic_today

    now = now or timezone.now()
    today = today or clinic_today()
    visits = queue_visit_reminders(now=now)
    calls, tasks = queue_refill_calls(today=today, now=now)
    return {"visit_reminders": visits, "refill_calls": calls, "staff_tasks": tasks}


def close_task(task: StaffTask, *, now: datetime) -> bool:
    """Mark a "to phone" task done (staff phoned the patient); False if it was
    closed already (another nurse, or the refill was booked meanwhile).

    Who closed it is in the view log (the task page's POST is recorded).
    """
    closed = StaffTask.objects.filter(pk=task.pk, state=TaskState.OPEN).update(
        state=TaskState.DONE, done_at=now
    )
    return closed == 1
