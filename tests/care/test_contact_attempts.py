"""Contact attempts (issue 15, item 6): the service, its pages, the worklist's last
attempt and the review queue's patients not reached."""

import re
from datetime import date, datetime, time, timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.db import connection
from django.template import RequestContext, Template
from django.template.loader import render_to_string
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from pytest_django.asserts import assertHTMLEqual

from audit.models import AuditEntry
from care import contact, review_queue
from care.choices import ContactChannel, ContactOutcome
from care.models import ContactAttempt
from care.services import local_datetime
from core.roles import ADMINISTRATOR, NURSE, PHYSICIAN
from patients.models import Patient
from pumps.models import SchedulePolicy
from tests.factories import PatientFactory, UserFactory, fill, make_pump
from web.care_forms import ContactAttemptForm

pytestmark = pytest.mark.django_db

WORKLIST = reverse("pumps:worklist")


@pytest.fixture
def today() -> date:
    return timezone.localdate()


@pytest.fixture
def nurse(db):
    return UserFactory(username="nurse_ann", first_name="Ann", last_name="Reed", roles=[NURSE])


@pytest.fixture
def client_of():
    def signed_in(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return signed_in


def overdue_pump(today: date, **kwargs):
    """Morphine 20 mL at 0.2 mL/day filled 200 days ago: long past its deadline."""
    pump = make_pump(implant_date=today - timedelta(days=400), **kwargs)
    fill(pump, on=today - timedelta(days=200))
    return pump


def due_later_pump(today: date):
    """Filled yesterday: on no list for weeks."""
    pump = make_pump(implant_date=today - timedelta(days=400))
    fill(pump, on=today - timedelta(days=1))
    return pump


def log(patient, *, outcome=ContactOutcome.NO_ANSWER, at=None, user=None, pump=None, **kw):
    """An attempt through the service, ``at`` an aware moment in the past."""
    now = timezone.now()
    at = timezone.localtime(at or now - timedelta(minutes=5))
    return contact.record_contact_attempt(
        patient=patient,
        pump=pump,
        day=at.date(),
        at=at.time().replace(microsecond=0),
        channel=kw.pop("channel", ContactChannel.CALL),
        outcome=outcome,
        note=kw.pop("note", ""),
        today=timezone.localdate(now),
        now=now,
        user=user,
    )


# --- The service ----------------------------------------------------------------------


@pytest.mark.parametrize("outcome", ContactOutcome.values)
def test_each_outcome_is_logged_with_who_and_when(outcome, nurse):
    patient = PatientFactory()
    attempt = log(patient, outcome=outcome, user=nurse, note="  Spoke to daughter  ")
    attempt.refresh_from_db()
    assert attempt.outcome == outcome
    assert attempt.recorded_by == nurse
    assert attempt.note == "Spoke to daughter"
    assert attempt.history.count() == 1
    assert attempt.failed == (
        outcome in {ContactOutcome.VOICEMAIL, ContactOutcome.NO_ANSWER, ContactOutcome.WRONG_NUMBER}
    )


def test_a_time_later_than_now_today_is_refused_and_now_itself_is_taken(nurse):
    patient = PatientFactory()
    now = local_datetime(timezone.localdate(), time(10, 0))
    values = {
        "patient": patient,
        "day": now.date(),
        "channel": ContactChannel.CALL,
        "outcome": ContactOutcome.REACHED,
        "today": now.date(),
        "now": now,
        "user": nurse,
    }
    with pytest.raises(ValidationError) as refused:
        contact.record_contact_attempt(at=time(10, 1), **values)
    assert "later than now (10:00)" in refused.value.message_dict["at"][0]
    assert not ContactAttempt.objects.exists()
    contact.record_contact_attempt(at=time(10, 0), **values)
    assert ContactAttempt.objects.count() == 1


@pytest.mark.parametrize(
    ("day", "message"),
    [
        (lambda today: today + timedelta(days=1), "has not happened yet"),
        (lambda today: date(1899, 12, 31), "1900"),
        (lambda today: date(1969, 12, 31), "before the patient's birth"),
    ],
)
def test_a_day_in_the_future_out_of_bounds_or_before_birth_is_refused(day, message, today):
    patient = PatientFactory(birth_date=date(1970, 1, 1))
    with pytest.raises(ValidationError) as refused:
        contact.record_contact_attempt(
            patient=patient,
            day=day(today),
            at=time(9),
            channel=ContactChannel.CALL,
            outcome=ContactOutcome.REACHED,
            today=today,
            now=timezone.now(),
            user=None,
        )
    assert message in refused.value.message_dict["day"][0]
    assert not ContactAttempt.objects.exists()


def test_the_birth_day_itself_is_taken(today):
    patient = PatientFactory(birth_date=date(1970, 1, 1))
    contact.record_contact_attempt(
        patient=patient,
        day=date(1970, 1, 1),
        at=time(9),
        channel=ContactChannel.LETTER,
        outcome=ContactOutcome.NO_ANSWER,
        today=today,
        now=timezone.now(),
        user=None,
    )
    assert ContactAttempt.objects.count() == 1


def test_unknown_channel_outcome_and_another_patients_pump_are_refused(today):
    patient = PatientFactory()
    other = make_pump()
    with pytest.raises(ValidationError) as refused:
        contact.record_contact_attempt(
            patient=patient,
            pump=other,
            day=today,
            at=time(0),
            channel="pigeon",
            outcome="maybe",
            today=today,
            now=timezone.now(),
            user=None,
        )
    assert set(refused.value.message_dict) == {"channel", "outcome", "pump"}


def test_a_resubmitted_attempt_is_saved_once(nurse):
    patient = PatientFactory()
    at = timezone.now() - timedelta(minutes=3)
    first = log(patient, at=at, user=nurse, note="left a message")
    second = log(patient, at=at, user=nurse, note="left a message")
    assert first.pk == second.pk
    assert ContactAttempt.objects.count() == 1


def test_entered_in_error_keeps_the_attempt_with_the_reason_and_restores(nurse):
    attempt = log(PatientFactory(), user=nurse)
    contact.mark_attempt_entered_in_error(
        attempt=attempt, user=nurse, reason="wrong patient", now=timezone.now()
    )
    attempt.refresh_from_db()
    assert attempt.is_entered_in_error
    assert attempt.entered_in_error_reason == "wrong patient"
    assert attempt.history.first().history_change_reason == "Entered in error: wrong patient"
    with pytest.raises(ValidationError):
        contact.mark_attempt_entered_in_error(
            attempt=attempt, user=nurse, reason="again", now=timezone.now()
        )
    contact.restore_attempt(attempt=attempt, user=nurse, reason="right patient after all")
    attempt.refresh_from_db()
    assert not attempt.is_entered_in_error
    assert ContactAttempt.objects.count() == 1


# --- The review queue: three failed attempts and an overdue refill -------------------


def raised(today: date) -> list[str]:
    lookahead = SchedulePolicy.current().lookahead_days
    return [
        pump.serial
        for pump in review_queue.unreachable_overdue(today=today, lookahead_days=lookahead)
    ]


def failed_calls(patient, n: int, *, start_hours_ago: int = 10, outcome=ContactOutcome.NO_ANSWER):
    now = timezone.now()
    return [
        log(patient, outcome=outcome, at=now - timedelta(hours=start_hours_ago - i))
        for i in range(n)
    ]


def test_two_failed_attempts_do_not_raise_the_patient_three_do(today):
    pump = overdue_pump(today)
    failed_calls(pump.patient, 2)
    assert raised(today) == []
    log(pump.patient, outcome=ContactOutcome.WRONG_NUMBER)
    assert raised(today) == [pump.serial]


def test_voicemail_no_answer_and_wrong_number_each_count(today):
    pump = overdue_pump(today)
    now = timezone.now()
    for hours, outcome in enumerate(
        [ContactOutcome.VOICEMAIL, ContactOutcome.NO_ANSWER, ContactOutcome.WRONG_NUMBER], 1
    ):
        log(pump.patient, outcome=outcome, at=now - timedelta(hours=hours))
    assert raised(today) == [pump.serial]


def test_three_failed_attempts_without_an_overdue_refill_raise_nobody(today):
    pump = due_later_pump(today)
    failed_calls(pump.patient, 5)
    assert raised(today) == []


def test_a_reached_or_declined_attempt_starts_the_count_again(today):
    pump = overdue_pump(today)
    now = timezone.now()
    failed_calls(pump.patient, 3, start_hours_ago=30)
    log(pump.patient, outcome=ContactOutcome.DECLINED, at=now - timedelta(hours=20))
    failed_calls(pump.patient, 2, start_hours_ago=10)
    assert raised(today) == []
    log(pump.patient, outcome=ContactOutcome.VOICEMAIL)
    assert raised(today) == [pump.serial]
    log(pump.patient, outcome=ContactOutcome.REACHED)
    assert raised(today) == []


def test_attempts_before_the_last_refill_do_not_count(today):
    # Three failed calls on the day of the last refill (200 days ago) belong to
    # the previous round; two since then do not raise the patient.
    pump = overdue_pump(today)
    refill_day = today - timedelta(days=200)
    for hour in (8, 9, 10):
        contact.record_contact_attempt(
            patient=pump.patient,
            day=refill_day,
            at=time(hour),
            channel=ContactChannel.CALL,
            outcome=ContactOutcome.NO_ANSWER,
            today=today,
            now=timezone.now(),
            user=None,
        )
    failed_calls(pump.patient, 2)
    assert raised(today) == []
    contact.record_contact_attempt(
        patient=pump.patient,
        day=refill_day + timedelta(days=1),
        at=time(9),
        channel=ContactChannel.SMS,
        outcome=ContactOutcome.NO_ANSWER,
        today=today,
        now=timezone.now(),
        user=None,
    )
    assert raised(today) == [pump.serial]


def test_an_attempt_entered_in_error_does_not_count(today, nurse):
    pump = overdue_pump(today)
    attempts = failed_calls(pump.patient, 3)
    assert raised(today) == [pump.serial]
    contact.mark_attempt_entered_in_error(
        attempt=attempts[0], user=nurse, reason="other patient", now=timezone.now()
    )
    assert raised(today) == []


def test_the_review_queue_page_shows_the_patient_not_reached(today, client_of):
    pump = overdue_pump(today)
    failed_calls(pump.patient, 3)
    response = client_of(UserFactory(roles=[PHYSICIAN])).get(reverse("patients:review_queue"))
    html = response.content.decode()
    assert f'data-serial="{pump.serial}" data-failed-attempts="3"' in html
    assert "Not reached (1)" in html


# --- The pages ------------------------------------------------------------------------


def contact_url(patient, **params) -> str:
    url = reverse("patients:contact_attempt", args=[patient.pk])
    if params:
        from urllib.parse import urlencode

        url += "?" + urlencode(params)
    return url


@pytest.mark.parametrize(
    ("roles", "status"), [([NURSE], 200), ([PHYSICIAN], 200), ([ADMINISTRATOR], 403)]
)
def test_nurses_and_physicians_log_attempts_the_administrator_may_not(roles, status, client_of):
    patient = PatientFactory()
    client = client_of(UserFactory(roles=roles))
    assert client.get(contact_url(patient)).status_code == status
    response = client.post(
        contact_url(patient),
        {"day": timezone.localdate(), "at": "00:00", "channel": "call", "outcome": "reached"},
    )
    assert response.status_code == (302 if status == 200 else 403)
    assert ContactAttempt.objects.count() == (1 if status == 200 else 0)


def test_a_signed_out_visitor_is_sent_to_sign_in(client):
    patient = PatientFactory()
    response = client.get(contact_url(patient))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_logging_from_the_worklist_returns_to_its_filters(today, nurse, client_of):
    pump = overdue_pump(today)
    client = client_of(nurse)
    back = f"{WORKLIST}?status=overdue&q={pump.serial}"
    page = client.get(contact_url(pump.patient, pump=pump.pk, next=back))
    assert page.status_code == 200
    assert page.context["form"].initial["next"] == back
    response = client.post(
        contact_url(pump.patient),
        {
            "day": today,
            "at": "00:00",
            "channel": "sms",
            "outcome": "voicemail",
            "note": "sent reminder",
            "pump": pump.pk,
            "next": back,
        },
    )
    assert response.status_code == 302
    assert response["Location"] == back
    attempt = ContactAttempt.objects.get()
    assert (attempt.pump, attempt.recorded_by, attempt.channel) == (pump, nurse, "sms")


def test_an_address_off_the_site_is_not_followed(nurse, client_of):
    patient = PatientFactory()
    response = client_of(nurse).post(
        contact_url(patient),
        {
            "day": timezone.localdate(),
            "at": "00:00",
            "channel": "call",
            "outcome": "reached",
            "next": "https://evil.example/",
        },
    )
    assert response["Location"] == f"{patient.get_absolute_url()}#contact-attempts"


def test_another_patients_pump_in_the_link_is_ignored(today, nurse, client_of):
    patient = PatientFactory()
    other = overdue_pump(today)
    client_of(nurse).post(
        contact_url(patient),
        {"day": today, "at": "00:00", "channel": "call", "outcome": "reached", "pump": other.pk},
    )
    assert ContactAttempt.objects.get().pump is None


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"day": "2026-02-30"}, "day", "Enter a valid date"),
        ({"day": "tomorrow"}, "day", "Enter a valid date"),
        ({"at": "25:00"}, "at", "Enter a valid time"),
        ({"outcome": ""}, "outcome", "Choose what came of the attempt"),
        ({"outcome": "maybe"}, "outcome", "Select a valid choice"),
        ({"channel": "pigeon"}, "channel", "Select a valid choice"),
        ({"day": "2999-01-01"}, "day", "2100"),
        ({"note": "x" * 2001}, "note", "at most 2000"),
    ],
)
def test_bad_input_shows_the_field_error_and_saves_nothing(data, field, message, nurse, client_of):
    patient = PatientFactory()
    values = {"day": timezone.localdate(), "at": "00:00", "channel": "call", "outcome": "reached"}
    response = client_of(nurse).post(contact_url(patient), values | data)
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors[field])
    assert not ContactAttempt.objects.exists()


def test_a_time_later_today_is_refused_on_the_form(nurse, client_of):
    patient = PatientFactory()
    later = timezone.localtime() + timedelta(minutes=10)
    if later.date() != timezone.localdate():
        pytest.skip("ten minutes to midnight: the later time is tomorrow")
    response = client_of(nurse).post(
        contact_url(patient),
        {"day": later.date(), "at": f"{later:%H:%M}", "channel": "call", "outcome": "reached"},
    )
    assert response.status_code == 200
    assert "later than now" in response.context["form"].errors["at"][0]
    assert not ContactAttempt.objects.exists()


def test_the_contact_page_is_in_the_view_log(nurse, client_of):
    patient = PatientFactory()
    client_of(nurse).get(contact_url(patient))
    entry = AuditEntry.objects.get(view_name="patients:contact_attempt")
    assert (entry.patient_id, entry.patient_mrn, entry.username) == (
        patient.pk,
        patient.mrn,
        "nurse_ann",
    )


def test_the_patient_page_lists_attempts_newest_first_with_the_form(today, nurse, client_of):
    pump = overdue_pump(today)
    now = timezone.now()
    old = log(pump.patient, outcome=ContactOutcome.NO_ANSWER, at=now - timedelta(days=2))
    new = log(pump.patient, outcome=ContactOutcome.REACHED, at=now - timedelta(hours=1))
    response = client_of(nurse).get(pump.patient.get_absolute_url())
    html = response.content.decode()
    assert html.index(f'data-contact-attempt="{new.pk}"') < html.index(
        f'data-contact-attempt="{old.pk}"'
    )
    assert 'id="contact-attempt-form"' in html
    assert f'action="{contact_url(pump.patient)}"' in html


@pytest.mark.parametrize("pump", [None, 7])
def test_the_patient_pages_written_out_form_is_the_crispy_form(pump, rf):
    """patients/_contact_attempt_form.html spares the patient page crispy's cost; it
    must stay the markup crispy gives ContactAttemptForm, for any change to either."""
    patient = Patient(pk=5)
    initial = {
        "day": date(2026, 4, 6),
        "at": time(9, 5),
        "pump": pump,
        "next": "/?status=overdue&page=2#contact-attempts",
    }
    request = rf.get("/")
    request.user = AnonymousUser()  # for the context processors
    form = ContactAttemptForm(action=reverse("patients:contact_attempt", args=[5]), initial=initial)
    crispy = Template("{% load crispy_forms_tags %}{% crispy form %}").render(
        RequestContext(request, {"form": form})
    )
    written = render_to_string(
        "patients/_contact_attempt_form.html",
        {"patient": patient, "fields": ContactAttemptForm.base_fields, "initial": initial},
        request=request,
    )
    token = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"')
    assert 'value="2026-04-06"' in written
    assert 'value="09:05:00"' in written
    assertHTMLEqual(token.sub("", written), token.sub("", crispy))


def test_an_attempt_is_marked_entered_in_error_from_the_patient_page(today, nurse, client_of):
    pump = overdue_pump(today)
    attempt = log(pump.patient)
    client = client_of(nurse)
    url = reverse("patients:entered_in_error", args=[pump.patient.pk])
    page = client.get(url, {"record": f"contact-{attempt.pk}"})
    assert page.status_code == 200
    assert "no longer the worklist" in page.content.decode()
    response = client.post(url, {"record": f"contact-{attempt.pk}", "reason": "wrong patient"})
    assert response.status_code == 302
    attempt.refresh_from_db()
    assert attempt.is_entered_in_error


@pytest.mark.parametrize("page", ["patients:detail", "patients:contact_attempt"])
def test_both_pages_listing_attempts_link_each_to_its_correction(page, nurse, client_of):
    """The correction links' addresses are reversed once by each page, not once a row."""
    patient = PatientFactory()
    kept, marked = log(patient), log(patient, at=timezone.now() - timedelta(hours=2))
    contact.mark_attempt_entered_in_error(
        attempt=marked, user=nurse, reason="wrong patient", now=timezone.now()
    )
    html = client_of(nurse).get(reverse(page, args=[patient.pk])).content.decode()
    mark = reverse("patients:entered_in_error", args=[patient.pk])
    restore = reverse("patients:restore_record", args=[patient.pk])
    assert f'href="{mark}?record=contact-{kept.pk}"' in html
    assert f'href="{restore}?record=contact-{marked.pk}"' in html


# --- The worklist's last attempt -------------------------------------------------------


def rows(response) -> dict[str, object]:
    return {pump.serial: pump for pump in response.context["page"].object_list}


def test_the_worklist_shows_the_last_attempt_in_force_and_its_age(today, nurse, client_of):
    pump = overdue_pump(today, serial="CALLED")
    quiet = overdue_pump(today, serial="QUIET")
    now = timezone.now()
    log(pump.patient, outcome=ContactOutcome.REACHED, at=now - timedelta(days=3))
    latest = log(pump.patient, outcome=ContactOutcome.VOICEMAIL, at=now - timedelta(hours=2))
    client = client_of(nurse)
    response = client.get(WORKLIST)
    row = rows(response)["CALLED"]
    assert row.last_contact_outcome == "voicemail"
    assert row.last_contact_age == "2 h ago"
    html = response.content.decode()
    assert 'data-last-contact="voicemail"' in html
    assert "Voicemail left" in html
    assert "2 h ago" in html
    assert rows(response)["QUIET"].last_contact_at is None
    assert 'data-last-contact="none"' in html
    assert quiet.serial in html
    # The row links to the form, carrying the worklist's address back.
    assert f"?pump={pump.pk}&amp;next=/" in html
    contact.mark_attempt_entered_in_error(
        attempt=latest, user=nurse, reason="wrong patient", now=now
    )
    row = rows(client.get(WORKLIST))["CALLED"]
    assert (row.last_contact_outcome, row.last_contact_age) == ("reached", "3 days ago")


@pytest.mark.parametrize(
    ("ago", "words"),
    [
        (timedelta(seconds=20), "just now"),
        (timedelta(minutes=59), "59 min ago"),
        (timedelta(hours=1), "1 h ago"),
    ],
)
def test_the_age_in_words(ago, words):
    from web.pump_views import contact_age

    now = timezone.now()
    assert contact_age(now - ago, now) == words


def test_the_worklist_query_count_stays_pinned_with_attempts(today, nurse_client, idle_clock_still):
    for _ in range(3):
        failed_calls(overdue_pump(today).patient, 2)

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert nurse_client.get(WORKLIST).status_code == 200
        return len(queries)

    # The same 9 as tests/pumps/test_worklist_page.py: the last attempt is three
    # subqueries of the page's rows statement, not a query of its own.
    assert count() == 9
    for _ in range(20):
        failed_calls(overdue_pump(today).patient, 3)
    assert count() == 9


def test_a_naive_datetime_is_never_stored():
    attempt = log(PatientFactory())
    assert timezone.is_aware(attempt.attempted_at)
    assert isinstance(attempt.attempted_at, datetime)


@pytest.mark.parametrize(
    "params",
    [
        {"pump": "abc"},
        {"pump": "9" * 40},
        {"pump": "-1"},
        {"next": "javascript:alert(1)"},
        {"next": "//evil.example/"},
        {"next": "https://evil.example/"},
    ],
)
def test_odd_link_parameters_give_the_form_never_an_error(params, nurse, client_of):
    patient = PatientFactory()
    response = client_of(nurse).get(contact_url(patient, **params))
    assert response.status_code == 200
    assert response.context["pump"] is None
    assert response.context["back"] == f"{patient.get_absolute_url()}#contact-attempts"
