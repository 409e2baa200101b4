"""What was sent: the outbox page and its filters, a patient's messages, the
board's counts (one statement), the view log, and the template preview."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from outreach import outbox, selectors
from outreach.choices import Channel, MessageKind, MessageState
from outreach.models import Message, MessageTemplate
from patients.choices import ContactBy
from tests.outreach.conftest import consenting_patient

pytestmark = pytest.mark.django_db


def put(patient, key, *, state=MessageState.QUEUED, channel=Channel.SMS, days=0, text="Hello"):
    due = timezone.now() + timedelta(days=days)
    outbox.queue(
        [
            Message(
                patient=patient,
                kind=MessageKind.VISIT_REMINDER,
                channel=channel,
                text=text,
                due_at=due,
                dedupe_key=key,
            )
        ]
    )
    Message.objects.filter(dedupe_key=key).update(
        state=state, sent_at=due if state == MessageState.SENT else None
    )


def test_the_outbox_filters_by_state_channel_and_day(nurse_client):
    patient = consenting_patient()
    put(patient, "a", state=MessageState.SENT, text="sent-one")
    put(patient, "b", state=MessageState.FAILED, text="failed-one")
    put(patient, "c", channel=Channel.EMAIL, days=2, text="email-later")
    url = reverse("outreach:outbox")
    page = nurse_client.get(url).content.decode()
    assert all(t in page for t in ("sent-one", "failed-one", "email-later"))
    page = nurse_client.get(url, {"state": "failed"}).content.decode()
    assert "failed-one" in page
    assert "sent-one" not in page
    page = nurse_client.get(url, {"channel": "email"}).content.decode()
    assert "email-later" in page
    assert "sent-one" not in page
    day = (timezone.localdate() + timedelta(days=2)).isoformat()
    page = nurse_client.get(url, {"day": day}).content.decode()
    assert "email-later" in page
    assert "failed-one" not in page


def test_the_pages_of_a_long_list_keep_the_filters(nurse_client):
    from web.outreach_views import PAGE_SIZE

    patient = consenting_patient()
    for n in range(PAGE_SIZE + 1):
        put(patient, f"q{n}", state=MessageState.FAILED, text=f"failed-{n}")
    page = nurse_client.get(reverse("outreach:outbox"), {"state": "failed"}).content.decode()
    assert "Page 1 of 2" in page
    assert "?state=failed&amp;page=2" in page
    second = nurse_client.get(reverse("outreach:outbox"), {"state": "failed", "page": 2})
    assert second.content.decode().count("failed-") == 1
    # The patient's own list has no filters: its links carry the page alone.
    mine = nurse_client.get(reverse("outreach:patient_messages", args=[patient.pk]))
    assert 'href="?page=2"' in mine.content.decode()


@pytest.mark.parametrize(
    "params", [{"state": "nonsense"}, {"day": "2026-02-31"}, {"channel": "\x00"}, {"page": "x"}]
)
def test_bad_filters_show_errors_not_a_500(nurse_client, params):
    response = nurse_client.get(reverse("outreach:outbox"), params)
    assert response.status_code in (200, 400)


def test_the_outbox_needs_a_signed_in_staff_member(client):
    response = client.get(reverse("outreach:outbox"))
    assert response.status_code in (302, 403)
    response = client.get(reverse("outreach:patient_messages", args=[1]))
    assert response.status_code in (302, 403)


def test_a_patients_messages_page_lists_only_theirs_and_is_logged(nurse_client):
    one, other = consenting_patient(), consenting_patient()
    put(one, "a", text="for-one")
    put(other, "b", text="for-other")
    page = nurse_client.get(reverse("outreach:patient_messages", args=[one.pk]))
    assert page.status_code == 200
    assert b"for-one" in page.content
    assert b"for-other" not in page.content
    entry = AuditEntry.objects.get(view_name="outreach:patient_messages")
    assert (entry.patient_id, entry.patient_mrn) == (one.pk, one.mrn)
    nurse_client.get(reverse("outreach:outbox"))
    assert AuditEntry.objects.filter(view_name="outreach:outbox").count() == 1


def test_the_board_counts_come_from_one_statement(nurse_client):
    patient = consenting_patient()
    consenting_patient(consent_to_contact=False, contact_by=ContactBy.NONE)
    put(patient, "a", state=MessageState.SENT)
    put(patient, "b", state=MessageState.SENT)
    put(patient, "c", state=MessageState.FAILED)
    with CaptureQueriesContext(connection) as queries:
        counts = selectors.board_counts()
    assert len(queries) == 1
    assert counts == {"sent": 2, "failed": 1, "awaiting_consent": 1, "open_tasks": 0}
    page = nurse_client.get(reverse("pumps:board")).content.decode()
    assert "Messages sent (7 days): 2" in page
    assert "Failed (7 days): 1" in page
    assert "awaiting consent: 1" in page


def test_a_template_is_used_only_after_its_preview_is_approved(admin_client):
    add = reverse("admin:outreach_messagetemplate_add")
    response = admin_client.post(
        add,
        {
            "kind": MessageKind.VISIT_REMINDER,
            "channel": Channel.SMS,
            "language": "en",
            "subject": "",
            "body": "{clinic_name}: see you {date} at {time}. Call {clinic_phone}.",
        },
    )
    template = MessageTemplate.objects.get()
    preview = reverse("admin:outreach_messagetemplate_preview", args=[template.pk])
    assert response.status_code == 302
    assert response["Location"] == preview
    assert not template.is_approved
    page = admin_client.get(preview).content.decode()
    assert "Not in use yet" in page
    assert "Pump clinic: see you" in page
    assert "{date}" not in page
    from outreach import texts

    before = texts.approved_template(MessageKind.VISIT_REMINDER, Channel.SMS, "en")
    assert before == texts.DEFAULTS[(MessageKind.VISIT_REMINDER, Channel.SMS)]
    admin_client.post(preview)
    template.refresh_from_db()
    assert template.is_approved
    assert texts.approved_template(MessageKind.VISIT_REMINDER, Channel.SMS, "en")[1].startswith(
        "{clinic_name}: see you"
    )
    # An edit is not used until approved again.
    change = reverse("admin:outreach_messagetemplate_change", args=[template.pk])
    admin_client.post(
        change,
        {
            "kind": template.kind,
            "channel": template.channel,
            "language": "en",
            "subject": "",
            "body": "{clinic_name} on {date}. {clinic_phone}",
        },
    )
    template.refresh_from_db()
    assert not template.is_approved
    assert texts.approved_template(MessageKind.VISIT_REMINDER, Channel.SMS, "en") == before


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("Your baclofen refill on {date}", "baclofen"),
        ("Your dose is due {date}", "dose"),
        ("Hello {patient_name}", "unknown placeholder"),
        ("Broken {date", "braces"),
    ],
)
def test_a_template_with_clinical_words_or_other_fields_is_refused(admin_client, body, problem):
    response = admin_client.post(
        reverse("admin:outreach_messagetemplate_add"),
        {"kind": MessageKind.REFILL_CALL, "channel": Channel.SMS, "language": "en", "body": body},
    )
    assert response.status_code == 200
    assert problem in response.content.decode()
    assert MessageTemplate.objects.count() == 0


def test_registration_records_the_consent_source(nurse_client):
    from patients.models import Patient

    data = {
        "mrn": "R-1",
        "family_name": "Doe",
        "given_name": "Jo",
        "birth_date": "1960-05-01",
        "indication": "failed_back",
        "status": "referred",
        "phone": "312-555-0199",
        "contact_by": "sms",
        "consent_to_contact": "on",
        "consent_source": "paper_form",
        "travel_buffer_days": "0",
    }
    response = nurse_client.post(reverse("patients:register"), data)
    assert response.status_code == 302
    patient = Patient.objects.get(mrn="R-1")
    assert (patient.consent_source, patient.consent_to_contact) == ("paper_form", True)
    assert patient.consent_recorded_on is not None
    data |= {"mrn": "R-2", "consent_source": ""}
    nurse_client.post(reverse("patients:register"), data)
    assert Patient.objects.get(mrn="R-2").consent_source == "registration"
    # One template language: the language is not asked.
    page = nurse_client.get(reverse("patients:register")).content.decode()
    assert 'name="preferred_language"' not in page
    assert 'name="consent_source"' in page


def test_the_language_is_asked_when_the_clinic_keeps_two(nurse_client, settings):
    settings.OUTREACH_LANGUAGES = [("en", "English"), ("es", "Español")]
    page = nurse_client.get(reverse("patients:register")).content.decode()
    assert 'name="preferred_language"' in page
    assert "Español" in page
