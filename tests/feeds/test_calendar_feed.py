"""The staff calendar feed (issue 15, item 7): its contents, its secret, its log."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from care import services as visits
from care.choices import VisitKind, VisitStatus
from care.models import Appointment
from core.roles import ADMINISTRATOR, NURSE, PHYSICIAN
from feeds import services
from feeds.models import FeedScope, FeedToken
from tests.factories import PatientFactory, UserFactory, fill, make_pump

pytestmark = pytest.mark.django_db

MANAGE = reverse("feeds:manage")


@pytest.fixture
def today() -> date:
    return timezone.localdate()


@pytest.fixture
def nurse(db):
    return UserFactory(username="nurse_ann", roles=[NURSE])


def feed_url(token: str) -> str:
    return reverse("feeds:calendar", args=[token])


def book(patient, day: date, at: time, *, pump=None, kind=VisitKind.PHYSICIAN_REVIEW, **kwargs):
    return visits.book_visit(
        patient=patient, pump=pump, kind=kind, day=day, at=at, today=day, **kwargs
    )


def events(response) -> list:
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    cal = icalendar.Calendar.from_ical(response.content)
    return list(cal.walk("VEVENT"))


@pytest.fixture
def distinctive(today):
    """A patient whose every identifying value is unmistakable in a text."""
    patient = PatientFactory(
        mrn="MRNZQX7781",
        family_name="Quibblesworth",
        given_name="Zephyrine",
        birth_date=date(1933, 7, 29),
        phone="+44 7700 900417",
    )
    pump = make_pump(patient=patient, serial="SERIALQX55", implant_date=today - timedelta(days=40))
    fill(pump, on=today - timedelta(days=1))  # morphine 20 mg/mL, 4 mg/day
    visit = book(patient, today + timedelta(days=3), time(9, 30), pump=pump, kind=VisitKind.REFILL)
    Appointment.objects.filter(pk=visit.pk).update(
        room="Room 4", notes="Zephyrine prefers mornings"
    )
    return patient, visit


def test_the_feed_parses_back_and_holds_the_visit_number_room_and_time(distinctive, nurse, client):
    _patient, visit = distinctive
    _, token = services.create_feed(user=nurse, scope=FeedScope.CLINIC)
    (event,) = events(client.get(feed_url(token)))
    assert str(event["summary"]) == f"Visit {visit.pk} · Room 4"
    assert str(event["location"]) == "Room 4"
    assert event.decoded("dtstart") == visit.scheduled_at
    assert event.decoded("duration") == timedelta(minutes=30)
    assert str(event["uid"]) == f"visit-{visit.pk}@testserver"


def test_the_feed_holds_no_name_record_number_birth_date_phone_drug_or_note(
    distinctive, nurse, client
):
    _patient, _visit = distinctive
    _, token = services.create_feed(user=nurse, scope=FeedScope.CLINIC)
    text = client.get(feed_url(token)).content.decode()
    unfolded = text.replace("\r\n ", "")  # RFC 5545 folds long lines
    for value in [
        "Quibblesworth",
        "Zephyrine",
        "MRNZQX7781",
        "1933",
        "19330729",
        "29 Jul",
        "7700",
        "900417",
        "morphine",
        "SERIALQX55",
        "mg/",
        "prefers mornings",
        "efill",  # not even the kind of visit
    ]:
        assert value.lower() not in unfolded.lower(), value


def test_the_time_is_the_clinic_local_time_in_utc(nurse, client, today, settings):
    # 09:00 in the clinic's zone is stored and sent as the same instant.
    visit = book(PatientFactory(), today + timedelta(days=1), time(9, 0))
    _, token = services.create_feed(user=nurse, scope=FeedScope.CLINIC)
    (event,) = events(client.get(feed_url(token)))
    start = event.decoded("dtstart")
    assert start.utcoffset() == timedelta(0)
    local = start.astimezone(ZoneInfo(settings.TIME_ZONE))
    assert (local.date(), local.time()) == (today + timedelta(days=1), time(9, 0))
    assert start == visit.scheduled_at


def test_the_window_is_thirty_days_back_to_ninety_ahead(nurse, client):
    patient = PatientFactory()
    now = timezone.now()
    inside = []
    for days in (-31, -29, 89, 91):
        moment = now + timedelta(days=days)
        visit = Appointment.objects.create(
            patient=patient, kind=VisitKind.PHYSICIAN_REVIEW, scheduled_at=moment
        )
        if -30 <= days < 90:
            inside.append(visit.pk)
    _, token = services.create_feed(user=nurse, scope=FeedScope.CLINIC)
    numbers = [str(event["uid"]).split("@")[0] for event in events(client.get(feed_url(token)))]
    assert numbers == [f"visit-{pk}" for pk in inside]


def test_cancelled_and_missed_visits_drop_out_done_ones_stay(nurse, client, today):
    patient = PatientFactory()
    kept = book(patient, today + timedelta(days=1), time(9))
    done = book(patient, today + timedelta(days=2), time(9))
    visits.set_visit_status(appointment=done, status=VisitStatus.DONE)
    for offset, status in ((3, VisitStatus.CANCELLED), (4, VisitStatus.MISSED)):
        visit = book(patient, today + timedelta(days=offset), time(9))
        visits.set_visit_status(appointment=visit, status=status)
    _, token = services.create_feed(user=nurse, scope=FeedScope.CLINIC)
    uids = {str(event["uid"]).split("@")[0] for event in events(client.get(feed_url(token)))}
    assert uids == {f"visit-{kept.pk}", f"visit-{done.pk}"}


def test_my_feed_holds_the_visits_i_booked_and_those_of_my_patients(client, today, nurse):
    physician = UserFactory(roles=[PHYSICIAN])
    mine_booked = book(PatientFactory(), today + timedelta(days=1), time(9), booked_by=nurse)
    my_patient = book(PatientFactory(treating_physician=nurse), today + timedelta(days=2), time(9))
    others = book(PatientFactory(), today + timedelta(days=3), time(9), booked_by=physician)
    _, mine = services.create_feed(user=nurse, scope=FeedScope.MINE)
    _, clinic = services.create_feed(user=nurse, scope=FeedScope.CLINIC)
    _, theirs = services.create_feed(user=physician, scope=FeedScope.MINE)

    def uids(token):
        return {str(e["uid"]).split("@")[0] for e in events(client.get(feed_url(token)))}

    assert uids(mine) == {f"visit-{mine_booked.pk}", f"visit-{my_patient.pk}"}
    assert uids(theirs) == {f"visit-{others.pk}"}
    assert uids(clinic) == {f"visit-{v.pk}" for v in (mine_booked, my_patient, others)}


def test_a_revoked_unknown_or_orphaned_token_is_a_404(nurse, client):
    feed, token = services.create_feed(user=nurse, scope=FeedScope.CLINIC)
    assert client.get(feed_url(token)).status_code == 200
    assert client.get(feed_url(token[:-1] + ("A" if token[-1] != "A" else "B"))).status_code == 404
    assert client.get(feed_url("x" * 200)).status_code == 404
    services.revoke_feed(feed=feed, now=timezone.now())
    assert client.get(feed_url(token)).status_code == 404
    # A member who leaves (deactivated) or loses every role takes the feed along.
    other, other_token = services.create_feed(user=UserFactory(roles=[NURSE]), scope="clinic")
    other.user.groups.clear()
    assert client.get(feed_url(other_token)).status_code == 404
    _, third = services.create_feed(user=UserFactory(roles=[NURSE], is_active=False), scope="mine")
    assert client.get(feed_url(third)).status_code == 404


def test_only_the_hash_of_the_secret_is_stored(nurse):
    feed, token = services.create_feed(user=nurse, scope=FeedScope.CLINIC)
    feed.refresh_from_db()
    assert token not in feed.token_hash
    assert feed.token_hash == services.token_hash(token)
    assert len(token) >= 40


def test_each_fetch_is_logged_without_the_secret_and_marks_the_feed_used(nurse, client):
    feed, token = services.create_feed(user=nurse, scope=FeedScope.MINE)
    assert feed.last_used_at is None
    client.get(feed_url(token))
    client.get(feed_url(token))
    entries = AuditEntry.objects.filter(view_name="feeds:calendar")
    assert entries.count() == 2
    entry = entries.first()
    assert (entry.user_id, entry.username, entry.patient_id) == (nurse.pk, "nurse_ann", None)
    assert token not in entry.path
    feed.refresh_from_db()
    assert feed.last_used_at is not None


def test_the_feed_is_not_cached_by_proxies(nurse, client):
    _, token = services.create_feed(user=nurse, scope=FeedScope.CLINIC)
    response = client.get(feed_url(token))
    assert "no-store" in response["Cache-Control"]
    assert "private" in response["Cache-Control"]
    assert response["Referrer-Policy"] == "no-referrer"


def test_the_feed_answers_get_only(nurse, client):
    _, token = services.create_feed(user=nurse, scope=FeedScope.CLINIC)
    assert client.post(feed_url(token)).status_code == 405


# --- The management page ----------------------------------------------------------------


@pytest.mark.parametrize("role", [NURSE, PHYSICIAN, ADMINISTRATOR])
def test_staff_create_a_feed_see_its_address_once_and_revoke_it(role):
    user = UserFactory(roles=[role])
    client = Client()
    client.force_login(user)
    response = client.post(MANAGE, {"scope": "mine", "label": "phone"})
    assert response.status_code == 302
    page = client.get(MANAGE)
    url = page.context["new_url"]
    assert url.startswith("http://testserver/feeds/")
    assert url.endswith(".ics")
    assert client.get(MANAGE).context["new_url"] == ""  # shown once
    feed = FeedToken.objects.get(user=user)
    assert feed.label == "phone"
    assert Client().get(url.removeprefix("http://testserver")).status_code == 200
    assert client.post(reverse("feeds:revoke", args=[feed.pk])).status_code == 302
    assert Client().get(url.removeprefix("http://testserver")).status_code == 404
    feed.refresh_from_db()
    assert feed.revoked_at is not None
    assert 'data-state="revoked"' in client.get(MANAGE).content.decode()


def test_a_member_cannot_revoke_anothers_feed(nurse):
    feed, _token = services.create_feed(user=UserFactory(roles=[NURSE]), scope="clinic")
    client = Client()
    client.force_login(nurse)
    assert client.post(reverse("feeds:revoke", args=[feed.pk])).status_code == 404
    assert client.get(reverse("feeds:revoke", args=[feed.pk])).status_code == 405
    feed.refresh_from_db()
    assert feed.revoked_at is None


def test_a_bad_scope_shows_the_error_and_creates_nothing(nurse):
    client = Client()
    client.force_login(nurse)
    response = client.post(MANAGE, {"scope": "everyone"})
    assert response.status_code == 200
    assert "scope" in response.context["form"].errors
    assert not FeedToken.objects.exists()


def test_five_feeds_in_use_at_most(nurse):
    for _ in range(5):
        services.create_feed(user=nurse, scope="mine")
    client = Client()
    client.force_login(nurse)
    response = client.post(MANAGE, {"scope": "mine"})
    assert response.status_code == 200
    assert "revoke one" in str(response.context["form"].non_field_errors())
    assert FeedToken.objects.count() == 5


def test_the_page_needs_sign_in(client):
    response = client.get(MANAGE)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_the_visit_room_is_kept(today):
    visit = book(PatientFactory(), today, time(23, 59))
    visit.room = "Infusion bay 2"
    visit.save()
    assert Appointment.objects.get(pk=visit.pk).room == "Infusion bay 2"
    assert isinstance(visit.scheduled_at, datetime)


def test_the_room_is_booked_on_the_booking_page_and_shown_in_the_feed(nurse, today):
    patient = PatientFactory()
    client = Client()
    client.force_login(nurse)
    day = today + timedelta(days=5)
    response = client.post(
        reverse("patients:book_visit", args=[patient.pk]),
        {"kind": "physician_review", "day": day, "at": "10:15", "room": "  Clinic room 3 "},
    )
    assert response.status_code == 302
    visit = Appointment.objects.get(patient=patient)
    assert visit.room == "Clinic room 3"
    _, token = services.create_feed(user=nurse, scope=FeedScope.MINE)  # booked by the nurse
    (event,) = events(Client().get(feed_url(token)))
    assert str(event["location"]) == "Clinic room 3"
    too_long = client.post(
        reverse("patients:book_visit", args=[patient.pk]),
        {
            "kind": "physician_review",
            "day": day + timedelta(days=1),
            "at": "10:15",
            "room": "x" * 41,
        },
    )
    assert too_long.status_code == 200
    assert "room" in too_long.context["form"].errors
