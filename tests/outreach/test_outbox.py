"""The durable outbox in one process: queue once, claim once, send through a real
local SMS provider and SMTP server, retry with back-off, reconcile a stale claim
without resending blindly, and the consent check at queue and send time."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from outreach import outbox
from outreach.choices import Channel, MessageKind, MessageState
from outreach.consent import withdraw_consent
from outreach.models import Message
from patients.choices import ConsentSource, ContactBy
from tests.outreach.conftest import consenting_patient

pytestmark = pytest.mark.django_db


def message(patient, *, key: str, channel: str = Channel.SMS, due=None, text="Hello") -> Message:
    return Message(
        patient=patient,
        kind=MessageKind.VISIT_REMINDER,
        channel=channel,
        subject="Your visit" if channel == Channel.EMAIL else "",
        text=text,
        due_at=due or timezone.now() - timedelta(minutes=1),
        dedupe_key=key,
    )


def test_the_same_reminder_is_queued_once():
    patient = consenting_patient()
    assert outbox.queue([message(patient, key="visit:1:7d")]) == 1
    assert outbox.queue([message(patient, key="visit:1:7d"), message(patient, key="b")]) == 1
    assert Message.objects.count() == 2


def test_a_claimed_message_is_not_claimed_again():
    patient = consenting_patient()
    outbox.queue([message(patient, key=f"k{n}") for n in range(5)])
    now = timezone.now()
    first = outbox.claim(now=now, limit=3)
    second = outbox.claim(now=now, limit=10)
    assert len(first) == 3
    assert len(second) == 2
    assert not {m.pk for m in first} & {m.pk for m in second}
    assert outbox.claim(now=now, limit=10) == []
    assert set(Message.objects.values_list("state", flat=True)) == {MessageState.SENDING}


def test_a_message_not_yet_due_waits():
    patient = consenting_patient()
    outbox.queue([message(patient, key="later", due=timezone.now() + timedelta(hours=1))])
    assert outbox.send_due().claimed == 0
    assert Message.objects.get().state == MessageState.QUEUED


def test_sms_goes_through_the_provider_once_with_its_idempotency_key(provider):
    patient = consenting_patient(phone="+1 555 010 0042")
    outbox.queue([message(patient, key="a", text="Pump clinic: visit on Tuesday")])
    result = outbox.send_due()
    assert result.sent == 1
    sent = Message.objects.get()
    assert sent.state == MessageState.SENT
    assert sent.attempts == 1
    assert sent.to == "+1 555 010 0042"
    assert provider.deliveries == [
        {
            "id": sent.provider_id,
            "key": f"clinic-msg-{sent.pk}",
            "to": "+1 555 010 0042",
            "text": "Pump clinic: visit on Tuesday",
        }
    ]
    assert outbox.send_due().claimed == 0
    assert len(provider.deliveries) == 1


def test_a_temporary_failure_is_retried_with_back_off(provider, settings):
    settings.OUTREACH_RETRY_BASE_SECONDS = 60
    provider.fail_next = 1
    patient = consenting_patient()
    outbox.queue([message(patient, key="a")])
    before = timezone.now()
    result = outbox.send_due()
    assert result.retried == 1
    row = Message.objects.get()
    assert row.state == MessageState.QUEUED
    assert row.attempts == 1
    assert "503" in row.last_error
    assert row.next_attempt_at >= before + timedelta(seconds=60)
    # Not due again before the back-off ends; then sent.
    assert outbox.send_due().claimed == 0
    result = outbox.send_due(now=row.next_attempt_at + timedelta(seconds=1))
    assert result.sent == 1
    row.refresh_from_db()
    assert (row.state, row.attempts) == (MessageState.SENT, 2)
    assert len(provider.deliveries) == 1


def test_the_back_off_doubles_and_gives_up_after_the_last_attempt(provider, settings):
    settings.OUTREACH_MAX_ATTEMPTS = 3
    settings.OUTREACH_RETRY_BASE_SECONDS = 10
    provider.fail_next = 10
    patient = consenting_patient()
    outbox.queue([message(patient, key="a")])
    waits = []
    now = timezone.now()
    for _ in range(3):
        outbox.send_due(now=now)
        row = Message.objects.get()
        waits.append(round((row.next_attempt_at - now).total_seconds()))
        now = row.next_attempt_at + timedelta(seconds=1)
    row = Message.objects.get()
    assert row.state == MessageState.FAILED
    assert row.attempts == 3
    assert waits[0] >= 10
    assert waits[1] >= 20
    assert provider.deliveries == []


def test_a_permanent_refusal_fails_at_once(provider):
    provider.refuse_next = 1
    outbox.queue([message(consenting_patient(), key="a")])
    assert outbox.send_due().failed == 1
    row = Message.objects.get()
    assert (row.state, row.attempts) == (MessageState.FAILED, 1)
    assert "400" in row.last_error


def test_email_goes_through_a_real_smtp_server_with_an_unsubscribe_link(smtp, settings):
    settings.OUTREACH_SITE_URL = "https://clinic.example"
    patient = consenting_patient(ContactBy.EMAIL, email="pat@example.org")
    outbox.queue([message(patient, key="a", channel=Channel.EMAIL, text="See you Tuesday")])
    assert outbox.send_due().sent == 1
    row = Message.objects.get()
    assert row.state == MessageState.SENT
    assert len(smtp.messages) == 1
    mail = smtp.messages[0]
    assert mail["to"] == ["pat@example.org"]
    assert "See you Tuesday" in mail["data"]
    assert f"clinic-msg-{row.pk}" in mail["data"]  # the Message-ID
    link = re.search(r"https://clinic\.example/outreach/unsubscribe/([^/\s]+)/", mail["data"])
    assert link is not None
    assert outbox.read_unsubscribe_token(link.group(1)) == (patient.pk, row.pk)
    assert "List-Unsubscribe:" in mail["data"]


def test_an_unreachable_smtp_server_is_retried(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = 9  # discard: nothing listens
    patient = consenting_patient(ContactBy.EMAIL)
    outbox.queue([message(patient, key="a", channel=Channel.EMAIL)])
    assert outbox.send_due().retried == 1
    assert Message.objects.get().state == MessageState.QUEUED


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"consent_to_contact": False}, "no consent"),
        ({"contact_by": ContactBy.EMAIL}, "not sms"),
        ({"phone": ""}, "no phone number"),
        ({"status": "deceased"}, "deceased"),
    ],
)
def test_consent_is_checked_again_at_send_time(provider, change, reason):
    patient = consenting_patient()
    outbox.queue([message(patient, key="a")])
    type(patient).objects.filter(pk=patient.pk).update(**change)
    assert outbox.send_due().cancelled == 1
    row = Message.objects.get()
    assert row.state == MessageState.CANCELLED
    assert reason in row.cancelled_reason
    assert provider.requests == 0


def test_withdrawing_consent_cancels_the_queued_messages_at_once(provider):
    patient = consenting_patient()
    outbox.queue([message(patient, key="a"), message(patient, key="b")])
    withdraw_consent(patient, source=ConsentSource.STAFF, detail="asked at the desk")
    assert set(Message.objects.values_list("state", flat=True)) == {MessageState.CANCELLED}
    assert outbox.send_due().claimed == 0
    assert provider.requests == 0


def stale(patient, key: str, channel: str = Channel.SMS) -> Message:
    """A row left "sending" by a worker that died: its lease ran out."""
    outbox.queue([message(patient, key=key, channel=channel)])
    row = Message.objects.get(dedupe_key=key)
    Message.objects.filter(pk=row.pk).update(
        state=MessageState.SENDING,
        claim_token="dead-worker",
        claimed_until=timezone.now() - timedelta(seconds=1),
        to=patient.phone,
    )
    row.refresh_from_db()
    return row


def test_a_stale_claim_the_provider_has_is_marked_sent_not_sent_again(provider):
    patient = consenting_patient()
    row = stale(patient, "a")
    # The dead worker had handed it over: the provider holds its key.
    from outreach.sms import HttpSmsBackend

    provider_id = HttpSmsBackend().send(
        to=patient.phone, text=row.text, idempotency_key=row.idempotency_key
    )
    result = outbox.send_due()
    assert result.reconciled == {"sent": 1, "requeued": 0, "unknown": 0}
    row.refresh_from_db()
    assert (row.state, row.provider_id) == (MessageState.SENT, provider_id)
    assert len(provider.deliveries) == 1


def test_a_stale_claim_the_provider_never_got_is_sent_once(provider):
    row = stale(consenting_patient(), "a")
    result = outbox.send_due()
    assert result.reconciled["requeued"] == 1
    assert result.sent == 1
    row.refresh_from_db()
    assert row.state == MessageState.SENT
    assert len(provider.deliveries) == 1


def test_a_stale_email_is_not_resent_blindly(smtp):
    patient = consenting_patient(ContactBy.EMAIL)
    row = stale(patient, "a", channel=Channel.EMAIL)
    result = outbox.send_due()
    assert result.reconciled["unknown"] == 1
    row.refresh_from_db()
    assert row.state == MessageState.FAILED
    assert "delivery unknown" in row.last_error
    assert smtp.messages == []


def test_a_live_claim_is_left_alone(provider):
    patient = consenting_patient()
    outbox.queue([message(patient, key="a")])
    claimed = outbox.claim(now=timezone.now(), limit=1)
    assert outbox.send_due().reconciled == {"sent": 0, "requeued": 0, "unknown": 0}
    assert Message.objects.get(pk=claimed[0].pk).state == MessageState.SENDING
