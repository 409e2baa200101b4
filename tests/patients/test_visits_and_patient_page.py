"""Booking visits, the day and week views, and the patient page."""

from datetime import date, time, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from care import services
from care.choices import VisitKind, VisitStatus
from care.models import Appointment, Complication
from core.roles import ADMINISTRATOR, NURSE, PHYSICIAN
from pumps.models import Refill
from tests.factories import UserFactory, fill, make_pump

pytestmark = pytest.mark.django_db


@pytest.fixture
def today() -> date:
    return timezone.localdate()


@pytest.fixture
def pump(today):
    pump = make_pump(model="synchromed_ii_40", implant_date=today - timedelta(days=700))
    fill(pump, on=today - timedelta(days=30), volume_ml="40")
    fill(pump, on=today - timedelta(days=20), volume_ml="40", residual_ml="30")  # 38 expected
    pump.refresh_from_db()
    return pump


def book_url(pump) -> str:
    return reverse("patients:book_visit", args=[pump.patient_id])


def test_booking_a_refill_visit_shows_it_on_the_day_and_on_the_patient_page(
    nurse_client, pump, today
):
    day = today + timedelta(days=3)
    response = nurse_client.post(
        book_url(pump), {"kind": "refill", "day": day.isoformat(), "at": "10:30"}
    )
    assert response.status_code == 302
    visit = Appointment.objects.get()
    assert (visit.kind, visit.status, visit.pump) == (VisitKind.REFILL, VisitStatus.BOOKED, pump)
    assert timezone.localtime(visit.scheduled_at).time() == time(10, 30)
    day_page = nurse_client.get(reverse("patients:appointments_day"), {"day": day.isoformat()})
    assert [v.pk for v in day_page.context["visits"]] == [visit.pk]
    week_page = nurse_client.get(reverse("patients:appointments_week"), {"day": day.isoformat()})
    assert any(visit in entry["visits"] for entry in week_page.context["days"])
    assert (
        f'data-visit="{visit.pk}"'
        in nurse_client.get(pump.patient.get_absolute_url()).content.decode()
    )


def test_the_booking_form_suggests_the_due_date(nurse_client, pump):
    response = nurse_client.get(
        book_url(pump), {"kind": "refill", "day": pump.refill_due.isoformat()}
    )
    assert response.context["form"].initial["day"] == pump.refill_due


def test_a_suggested_day_in_the_past_becomes_today(nurse_client, pump, today):
    response = nurse_client.get(book_url(pump), {"day": "2001-01-01"})
    assert response.context["form"].initial["day"] == today


def test_a_visit_cannot_be_booked_in_the_past(nurse_client, pump, today):
    response = nurse_client.post(
        book_url(pump),
        {"kind": "refill", "day": (today - timedelta(days=1)).isoformat(), "at": "09:00"},
    )
    day = today - timedelta(days=1)
    assert response.context["form"].errors["day"] == [
        f"The visit date {day.isoformat()} is before today: book a visit from today on."
    ]
    assert not Appointment.objects.exists()


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"kind": "party", "day": "2030-01-01", "at": "09:00"}, "kind"),
        ({"kind": "refill", "day": "soon", "at": "09:00"}, "day"),
        ({"kind": "refill", "day": "2030-01-01", "at": "25:00"}, "at"),
    ],
)
def test_bad_booking_input_is_refused(nurse_client, pump, data, field):
    response = nurse_client.post(book_url(pump), data)
    assert field in response.context["form"].errors
    assert not Appointment.objects.exists()


def test_a_booked_visit_after_the_deadline_is_shown_as_a_problem(nurse_client, pump):
    day = pump.refill_deadline + timedelta(days=1)
    nurse_client.post(book_url(pump), {"kind": "refill", "day": day.isoformat(), "at": "09:00"})
    page = nurse_client.get(reverse("patients:appointments_day"), {"day": day.isoformat()})
    assert "After the deadline" in page.content.decode()


def test_a_missed_visit_stays_listed_until_rebooked(nurse_client, pump, today):
    visit = services.book_visit(
        patient=pump.patient, pump=pump, kind=VisitKind.REFILL, day=today, at=time(9), today=today
    )
    response = nurse_client.post(
        reverse("patients:set_visit_status", args=[visit.pk]), {"status": "missed"}
    )
    assert response.status_code == 302
    later = nurse_client.get(reverse("patients:appointments_day"), {"day": "2099-01-01"})
    assert [v.pk for v in later.context["missed"]] == [visit.pk]
    nurse_client.post(
        book_url(pump),
        {"kind": "refill", "day": (today + timedelta(days=2)).isoformat(), "at": "09:00"},
    )
    assert nurse_client.get(reverse("patients:appointments_day")).context["missed"] == []


def test_a_visit_already_done_cannot_be_marked_missed(nurse_client, pump, today):
    visit = services.book_visit(
        patient=pump.patient, pump=pump, kind=VisitKind.REFILL, day=today, at=time(9), today=today
    )
    services.set_visit_status(appointment=visit, status=VisitStatus.DONE)
    response = nurse_client.post(
        reverse("patients:set_visit_status", args=[visit.pk]), {"status": "missed"}, follow=True
    )
    assert "This visit is already done." in response.content.decode()
    visit.refresh_from_db()
    assert visit.status == VisitStatus.DONE


def test_the_status_form_does_not_redirect_off_site(nurse_client, pump, today):
    visit = services.book_visit(
        patient=pump.patient, pump=pump, kind=VisitKind.REFILL, day=today, at=time(9), today=today
    )
    response = nurse_client.post(
        reverse("patients:set_visit_status", args=[visit.pk]),
        {"status": "done", "next": "https://evil.example/"},
    )
    assert response["Location"] == reverse("patients:appointments_day")


def test_an_administrator_may_look_but_not_book(client, pump, today):
    client.force_login(UserFactory(roles=[ADMINISTRATOR]))
    assert client.get(reverse("patients:appointments_day")).status_code == 200
    assert client.get(book_url(pump)).status_code == 403
    response = client.post(
        book_url(pump), {"kind": "refill", "day": today.isoformat(), "at": "09:00"}
    )
    assert response.status_code == 403
    assert not Appointment.objects.exists()


# --- The patient page -------------------------------------------------------------


def test_the_patient_page_shows_pump_schedule_refills_and_flags(nurse_client, pump):
    Complication.objects.create(
        patient=pump.patient,
        pump=pump,
        occurred_on=pump.implant_date,
        kind="seroma",
        severity="mild",
        outcome="resolved",
    )
    response = nurse_client.get(pump.patient.get_absolute_url())
    html = response.content.decode()
    assert response.context["current"] == pump
    assert f"{pump.refill_deadline:%a %-d %b %Y}" in html
    assert "Discrepancy: awaiting physician" in html
    assert "38.00 mL" in html  # expected residual of the second fill
    assert "Seroma" in html
    assert "History of changes" in html
    assert len(response.context["changes"]) >= 1


def test_the_patient_page_query_count_does_not_grow_with_history(
    nurse_client, pump, today, idle_clock_still
):
    url = pump.patient.get_absolute_url()
    pump.patient.treating_physician = UserFactory(username="dr_pin", roles=[PHYSICIAN])
    pump.patient.save()
    with CaptureQueriesContext(connection) as first:
        nurse_client.get(url)
    for days_ago in range(19, 0, -1):
        refill = fill(pump, on=today - timedelta(days=days_ago), volume_ml="40")
        # Each by another nurse: the staff the page names still come in one query.
        Refill.objects.filter(pk=refill.pk).update(recorded_by=UserFactory(roles=[NURSE]))
        services.book_visit(
            patient=pump.patient,
            pump=pump,
            kind=VisitKind.REFILL,
            day=today + timedelta(days=days_ago),
            at=time(9),
            today=today,
        )
    with CaptureQueriesContext(connection) as second:
        nurse_client.get(url)
    assert len(second) == len(first) == PATIENT_PAGE_QUERIES


# 1-2. the session, the user with its roles
# 3. the patient
# 4. the schedule policy
# 5-7. the pumps (model; the day of each one's last physician review and its first
#      review booked, issue 14: subqueries), the refills (drug; their pumps and the
#      pumps' latest fills matched in memory), the dose changes
# 8-12. the MRI scans, the visits, the trials (drug), the complications, the
#       contact attempts (issue 15)
# 13-14. the history of the patient and of the pumps
# 15. the staff the page names: the treating physician, who recorded, signed off or
#     marked a record in error, who made each change (no query when nobody is named)
# 16. the view audit's INSERT (the record number read by the INSERT itself)
# 3 and 5 to 14 are compiled once per process (core.compiled), with the patient's id.
PATIENT_PAGE_QUERIES = 16


def test_an_unknown_patient_is_a_404(nurse_client):
    assert nurse_client.get(reverse("patients:detail", args=[999999])).status_code == 404


@pytest.mark.parametrize("role", [NURSE, PHYSICIAN, ADMINISTRATOR])
def test_every_staff_role_may_open_a_patient(client, pump, role):
    client.force_login(UserFactory(roles=[role]))
    assert client.get(pump.patient.get_absolute_url()).status_code == 200


def test_a_signed_out_visitor_cannot_open_a_patient(client, pump):
    assert client.get(pump.patient.get_absolute_url()).status_code == 302
