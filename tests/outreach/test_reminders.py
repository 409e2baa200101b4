"""What is queued: visit reminders at the configured offsets, replaced when the
visit moves, cancelled when it is cancelled; one "please call us" message per
refill cycle, then a staff task; and the words: never drug, dose or diagnosis."""

from __future__ import annotations

import re
from datetime import time, timedelta

import pytest
from django.utils import timezone

from care import services as care
from care.choices import VisitKind, VisitStatus
from core.clock import clinic_today
from outreach import outbox, reminders
from outreach.choices import Channel, MessageKind, MessageState, TaskState
from outreach.models import Message, StaffTask
from patients.choices import ContactBy
from tests.factories import baclofen_pump, fill, make_pump
from tests.outreach.conftest import consenting_patient, local

pytestmark = pytest.mark.django_db


def book(patient, days: int, at: time = time(10, 30), kind=VisitKind.PHYSICIAN_REVIEW, pump=None):
    today = clinic_today()
    return care.book_visit(
        patient=patient, kind=kind, day=today + timedelta(days=days), at=at, today=today, pump=pump
    )


def test_a_booked_visit_gets_a_reminder_7_days_and_1_day_before(settings):
    settings.OUTREACH_SEND_AT = "09:00"
    patient = consenting_patient()
    visit = book(patient, 20)
    queued = list(Message.objects.filter(appointment=visit).order_by("due_at"))
    day = clinic_today() + timedelta(days=20)
    assert [m.due_at for m in queued] == [
        local(day - timedelta(days=7), time(9, 0)),
        local(day - timedelta(days=1), time(9, 0)),
    ]
    assert {m.state for m in queued} == {MessageState.QUEUED}
    assert {m.channel for m in queued} == {Channel.SMS}
    # The daily run queues nothing twice.
    assert reminders.queue_visit_reminders() == 0
    assert Message.objects.count() == 2


def test_the_offsets_are_a_setting(settings):
    settings.OUTREACH_REMINDER_OFFSETS_DAYS = [3]
    visit = book(consenting_patient(), 20)
    assert Message.objects.filter(appointment=visit).count() == 1
    assert Message.objects.get().dedupe_key.endswith(":3d")


def test_a_visit_booked_for_tomorrow_gets_one_reminder_now_not_a_past_one():
    visit = book(consenting_patient(), 1, at=time(15, 0))
    queued = list(Message.objects.filter(appointment=visit))
    assert len(queued) == 1
    assert queued[0].due_at <= timezone.now() + timedelta(days=1)


def test_no_consent_no_reminder():
    for values in (
        {"consent_to_contact": False, "contact_by": ContactBy.NONE},
        {"contact_by": ContactBy.PHONE},  # a phone call: staff phone, no message
        {"phone": ""},
    ):
        book(consenting_patient(**values), 20)
    assert Message.objects.count() == 0
    assert reminders.queue_visit_reminders() == 0


def test_cancelling_a_visit_cancels_its_queued_reminders():
    visit = book(consenting_patient(), 20)
    care.set_visit_status(appointment=visit, status=VisitStatus.CANCELLED)
    rows = list(Message.objects.filter(appointment=visit))
    assert {m.state for m in rows} == {MessageState.CANCELLED}
    assert {m.cancelled_reason for m in rows} == {"visit cancelled"}
    # Restored to booked: the same rows are queued again (one message per key).
    care.set_visit_status(appointment=visit, status=VisitStatus.BOOKED, reason="booked by mistake")
    assert Message.objects.filter(appointment=visit, state=MessageState.QUEUED).count() == 2
    assert Message.objects.count() == 2


def test_moving_a_visit_replaces_its_reminders(admin_client):
    visit = book(consenting_patient(), 20)
    old = set(Message.objects.values_list("pk", flat=True))
    new_day = clinic_today() + timedelta(days=30)
    # Moved in the admin: the one door that changes a visit's time.
    visit.scheduled_at = local(new_day, time(11, 15))
    visit.save()
    assert set(Message.objects.filter(pk__in=old).values_list("state", flat=True)) == {
        MessageState.CANCELLED
    }
    fresh = Message.objects.filter(appointment=visit, state=MessageState.QUEUED)
    assert fresh.count() == 2
    assert all("11:15" in m.text for m in fresh)
    assert all(new_day.strftime("%B") in m.text for m in fresh)


def test_a_sent_reminder_is_not_sent_again_when_the_visit_is_saved(provider, settings):
    settings.OUTREACH_SEND_AT = "00:00"  # the day-before reminder is due already
    visit = book(consenting_patient(), 1)
    outbox.send_due()
    assert Message.objects.get().state == MessageState.SENT
    visit.notes = "bring the programmer"
    visit.save()
    reminders.queue_visit_reminders()
    outbox.send_due()
    assert len(provider.deliveries) == 1


FORBIDDEN = re.compile(r"baclofen|morphine|mcg|mg|dose|spastic|pain|failed back|M\d{5}", re.I)


def test_messages_hold_no_drug_dose_diagnosis_or_name(settings):
    today = clinic_today()
    pump = baclofen_pump(today=today)
    patient = pump.patient
    for name, value in {
        "phone": "+1 555 010 0007",
        "contact_by": ContactBy.SMS,
        "consent_to_contact": True,
    }.items():
        setattr(patient, name, value)
    patient.save()
    book(patient, 9, kind=VisitKind.REFILL, pump=pump)
    for channel in (ContactBy.SMS, ContactBy.EMAIL):
        type(patient).objects.filter(pk=patient.pk).update(contact_by=channel, email="p@x.org")
        reminders.queue_visit_reminders()
    messages = list(Message.objects.all())
    assert len(messages) >= 2
    for message in messages:
        words = f"{message.subject} {message.text}"
        assert not FORBIDDEN.search(words), words
        assert patient.family_name not in words
        assert patient.given_name not in words
        assert settings.CLINIC_NAME in words
        assert settings.CLINIC_PHONE in words


def due_refill_pump():
    """A morphine pump whose refill is due (deadline passed), no visit booked."""
    today = clinic_today()
    pump = make_pump(
        implant_date=today - timedelta(days=400),
        patient=consenting_patient(phone="+1 555 010 0099"),
    )
    fill(pump, on=today - timedelta(days=170))
    pump.refresh_from_db()
    return pump


def test_a_due_refill_not_booked_gets_one_message_then_a_staff_task(provider):
    pump = due_refill_pump()
    assert reminders.queue_refill_calls(today=clinic_today()) == (1, 0)
    call = Message.objects.get()
    assert call.kind == MessageKind.REFILL_CALL
    assert "call us" in call.text
    # Not sent yet: no second message, no task.
    assert reminders.queue_refill_calls(today=clinic_today()) == (0, 0)
    outbox.send_due()
    # Sent and still not booked: a task for staff, never a second message.
    assert reminders.queue_refill_calls(today=clinic_today()) == (0, 1)
    assert reminders.queue_refill_calls(today=clinic_today()) == (0, 0)
    assert Message.objects.count() == 1
    task = StaffTask.objects.get()
    assert (task.pump, task.state) == (pump, TaskState.OPEN)
    # Booking the refill closes the task on the next run.
    book(pump.patient, 3, kind=VisitKind.REFILL, pump=pump)
    reminders.queue_refill_calls(today=clinic_today())
    task.refresh_from_db()
    assert task.state == TaskState.DONE
    assert len(provider.deliveries) == 1


def test_booking_the_refill_cancels_a_please_call_message_not_yet_sent():
    pump = due_refill_pump()
    assert reminders.queue_refill_calls(today=clinic_today()) == (1, 0)
    book(pump.patient, 3, kind=VisitKind.REFILL, pump=pump)
    call = Message.objects.get(kind=MessageKind.REFILL_CALL)
    assert (call.state, call.cancelled_reason) == (MessageState.CANCELLED, "refill booked")


def test_a_booked_refill_gets_no_please_call_message():
    pump = due_refill_pump()
    book(pump.patient, 3, kind=VisitKind.REFILL, pump=pump)
    assert reminders.queue_refill_calls(today=clinic_today()) == (0, 0)


def test_a_patient_without_consent_gets_no_please_call_message():
    pump = due_refill_pump()
    type(pump.patient).objects.filter(pk=pump.patient_id).update(consent_to_contact=False)
    assert reminders.queue_refill_calls(today=clinic_today()) == (0, 0)
