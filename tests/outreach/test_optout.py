"""Opt-out: an SMS reply of STOP (and its synonyms) through the provider's signed
webhook, and the unsubscribe link of an email, withdraw consent at once, cancel
what is queued, and are recorded and shown on the patient page."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from outreach import outbox
from outreach.choices import MessageKind, MessageState
from outreach.models import ConsentEvent, Message
from outreach.sms import hmac_signature
from patients.choices import ConsentSource, ContactBy
from tests.outreach.conftest import SECRET, consenting_patient

pytestmark = pytest.mark.django_db

INBOUND = "/outreach/sms/inbound/"


def queued_for(patient, key: str = "k") -> Message:
    outbox.queue(
        [
            Message(
                patient=patient,
                kind=MessageKind.VISIT_REMINDER,
                channel=patient.contact_by,
                text="Reminder",
                due_at=timezone.now() + timedelta(days=3),
                dedupe_key=key,
            )
        ]
    )
    return Message.objects.get(dedupe_key=key)


def post_signed(client: Client, data: dict[str, str], secret: str = SECRET):
    body = urlencode(data)
    return client.post(
        INBOUND,
        data=body,
        content_type="application/x-www-form-urlencoded",
        HTTP_X_SIGNATURE=hmac_signature(secret, body.encode()),
    )


@pytest.mark.parametrize(
    "word", ["STOP", "stop", " Stop. ", "STOPALL", "UNSUBSCRIBE", "cancel", "END", "quit"]
)
def test_a_stop_reply_withdraws_consent_at_once(provider, word):
    patient = consenting_patient(phone="(555) 010-0042")
    queued = queued_for(patient)
    response = post_signed(Client(), {"From": "+15550100042", "Body": word})
    assert response.status_code == 200
    patient.refresh_from_db()
    assert not patient.consent_to_contact
    assert patient.contact_by == ContactBy.NONE
    assert patient.consent_withdrawn_via == ConsentSource.SMS_REPLY
    assert patient.consent_withdrawn_at is not None
    queued.refresh_from_db()
    assert queued.state == MessageState.CANCELLED
    event = ConsentEvent.objects.get(patient=patient)
    assert (event.given, event.source) == (False, ConsentSource.SMS_REPLY)
    assert "+15550100042" in event.detail


def test_another_reply_changes_nothing(provider):
    patient = consenting_patient(phone="+1 555 010 0042")
    post_signed(Client(), {"From": "+15550100042", "Body": "stop by on Tuesday?"})
    patient.refresh_from_db()
    assert patient.consent_to_contact


@pytest.mark.parametrize(
    "headers",
    [{}, {"HTTP_X_SIGNATURE": "0" * 64}, {"HTTP_X_SIGNATURE": "wrong"}],
)
def test_a_webhook_without_a_good_signature_is_refused(provider, headers):
    patient = consenting_patient(phone="+1 555 010 0042")
    body = urlencode({"From": "+15550100042", "Body": "STOP"})
    response = Client().post(
        INBOUND, data=body, content_type="application/x-www-form-urlencoded", **headers
    )
    assert response.status_code == 403
    patient.refresh_from_db()
    assert patient.consent_to_contact
    assert ConsentEvent.objects.count() == 0


def test_a_webhook_signed_with_another_secret_is_refused(provider):
    patient = consenting_patient(phone="+1 555 010 0042")
    assert (
        post_signed(Client(), {"From": "+15550100042", "Body": "STOP"}, secret="x").status_code
        == 403
    )
    patient.refresh_from_db()
    assert patient.consent_to_contact


def twilio_signature(token: str, url: str, params: dict[str, str]) -> str:
    """Twilio's documented scheme: HMAC-SHA1 of the URL plus sorted key+value pairs."""
    data = url + "".join(f"{key}{params[key]}" for key in sorted(params))
    digest = hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def test_the_twilio_backend_checks_twilios_signature(settings):
    settings.OUTREACH_SMS_BACKEND = "outreach.sms.TwilioSmsBackend"
    settings.TWILIO_ACCOUNT_SID = "AC" + "0" * 32
    settings.TWILIO_AUTH_TOKEN = "twilio-token"
    settings.OUTREACH_SITE_URL = "https://clinic.example"
    patient = consenting_patient(phone="+1 555 010 0042")
    params = {"From": "+15550100042", "Body": "STOP", "MessageSid": "SM1"}
    bad = Client().post(INBOUND, params, HTTP_X_TWILIO_SIGNATURE="bad")
    assert bad.status_code == 403
    patient.refresh_from_db()
    assert patient.consent_to_contact
    good = twilio_signature("twilio-token", "https://clinic.example" + INBOUND, params)
    response = Client().post(INBOUND, params, HTTP_X_TWILIO_SIGNATURE=good)
    assert response.status_code == 200
    assert b"<Response>" in response.content
    patient.refresh_from_db()
    assert not patient.consent_to_contact


def test_the_unsubscribe_link_asks_then_withdraws():
    patient = consenting_patient(ContactBy.EMAIL)
    queued = queued_for(patient)
    url = reverse("outreach:unsubscribe", args=[outbox.unsubscribe_token(patient.pk, queued.pk)])
    client = Client()  # no sign-in: the patient follows the link
    page = client.get(url)
    assert page.status_code == 200
    assert b"Stop all messages" in page.content
    patient.refresh_from_db()
    assert patient.consent_to_contact  # a GET (a mail scanner) withdraws nothing
    done = client.post(url)
    assert done.status_code == 200
    assert b"no more messages" in done.content
    patient.refresh_from_db()
    assert not patient.consent_to_contact
    assert patient.consent_withdrawn_via == ConsentSource.EMAIL_LINK
    queued.refresh_from_db()
    assert queued.state == MessageState.CANCELLED


@pytest.mark.parametrize("token", ["garbage", "eyJwIjoxLCJtIjoxfQ:1xYjf2:forged"])
def test_a_forged_unsubscribe_link_does_nothing(token):
    patient = consenting_patient(ContactBy.EMAIL)
    response = Client().post(reverse("outreach:unsubscribe", args=[token]))
    assert response.status_code == 400
    patient.refresh_from_db()
    assert patient.consent_to_contact


def test_the_patient_page_shows_the_opt_out(provider, nurse_client):
    patient = consenting_patient(phone="+1 555 010 0042")
    page = nurse_client.get(reverse("patients:detail", args=[patient.pk]))
    assert b"Consents" in page.content
    post_signed(Client(), {"From": "+15550100042", "Body": "STOP"})
    page = nurse_client.get(reverse("patients:detail", args=[patient.pk]))
    assert page.status_code == 200
    assert b"Opted out" in page.content
    assert b"SMS reply (STOP)".lower() in page.content.lower()
    messages_page = nurse_client.get(reverse("outreach:patient_messages", args=[patient.pk]))
    assert b"consent withdrawn" in messages_page.content
