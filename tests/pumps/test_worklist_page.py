"""The worklist page: order, counts, filters, bookings, roles and its query count."""

from datetime import date, time, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from care import services as patient_services
from care.choices import VisitKind
from core.roles import ADMINISTRATOR, NURSE, PHYSICIAN
from pumps.due_list import build_due_list
from pumps.models import SchedulePolicy
from tests.factories import PatientFactory, UserFactory, fill, make_pump

pytestmark = pytest.mark.django_db

URL = reverse("pumps:worklist")


@pytest.fixture
def today() -> date:
    return timezone.localdate()


def serials_on_page(response) -> list[str]:
    return [pump.serial for pump in response.context["page"].object_list]


def morphine_due_in(days: int, today: date, **kwargs):
    """A morphine pump whose deadline (90-day stability) falls ``days`` after today."""
    pump = make_pump(model="synchromed_ii_40", implant_date=today - timedelta(days=400), **kwargs)
    fill(pump, on=today + timedelta(days=days - 90), volume_ml="40")
    return pump


def baclofen_due_in(days: int, today: date, **kwargs):
    pump = make_pump(model="synchromed_ii_40", implant_date=today - timedelta(days=400), **kwargs)
    fill(
        pump,
        on=today + timedelta(days=days - 180),
        drug="baclofen",
        concentration="2000",
        concentration_unit="mcg/mL",
        daily_dose="100",
        dose_unit="mcg/day",
        volume_ml="40",
    )
    return pump


@pytest.fixture
def clinic(today):
    pumps = {
        "overdue": morphine_due_in(-3, today, serial="OVERDUE"),
        "due": baclofen_due_in(2, today, serial="DUE-BACLOFEN"),
        "upcoming": morphine_due_in(12, today, serial="UPCOMING"),
        "ok": morphine_due_in(60, today, serial="OK-1"),
        "unknown": make_pump(serial="NEVER", implant_date=today - timedelta(days=30)),
        "window": morphine_due_in(60, today, serial="WINDOW"),
    }
    window = pumps["window"]
    window.battery_window_opens = today - timedelta(days=10)
    window.save(update_fields=["battery_window_opens"])
    for pump in pumps.values():
        pump.refresh_from_db()
    return pumps


def test_the_worklist_shows_flagged_pumps_in_the_due_list_order(nurse_client, clinic, today):
    response = nurse_client.get(URL)
    assert response.status_code == 200
    expected = [
        item["serial"]
        for item in build_due_list(
            today=today, lookahead_days=SchedulePolicy.current().lookahead_days, flagged_only=True
        )
    ]
    assert serials_on_page(response) == expected
    assert expected == ["OVERDUE", "DUE-BACLOFEN", "UPCOMING", "WINDOW", "NEVER"]
    assert "OK-1" not in serials_on_page(response)


def test_the_counts_at_the_top(nurse_client, clinic):
    counts = {key: count for key, _, count in nurse_client.get(URL).context["status_cards"]}
    assert counts == {
        "overdue": 1,
        "due": 1,
        "upcoming": 1,
        "battery": 1,
        "unknown": 1,
        "discrepancy": 0,
    }


def test_an_urgent_baclofen_row_is_marked(nurse_client, clinic):
    html = nurse_client.get(URL).content.decode()
    row_start = html.index('data-serial="DUE-BACLOFEN"')
    row = html[row_start : html.index("</tr>", row_start)]
    assert 'data-urgent="true"' in row
    assert "Urgent: baclofen withdrawal risk" in row
    overdue_row = html[html.index('data-serial="OVERDUE"') :]
    assert "data-urgent" not in overdue_row[: overdue_row.index("</tr>")]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "overdue"}, ["OVERDUE"]),
        ({"status": "battery"}, ["WINDOW"]),
        ({"status": "unknown"}, ["NEVER"]),
        ({"drug": "baclofen"}, ["DUE-BACLOFEN"]),
        ({"q": "upcom"}, ["UPCOMING"]),
        ({"model": "synchromed_ii_20"}, ["NEVER"]),
        ({"status": "nonsense"}, ["OVERDUE", "DUE-BACLOFEN", "UPCOMING", "WINDOW", "NEVER"]),
    ],
)
def test_filters_and_search(nurse_client, clinic, params, expected):
    assert serials_on_page(nurse_client.get(URL, params)) == expected


def test_search_by_record_number_and_family_name(nurse_client, today):
    pump = morphine_due_in(1, today, patient=PatientFactory(mrn="A1001", family_name="Zylstra"))
    morphine_due_in(1, today)
    assert serials_on_page(nurse_client.get(URL, {"q": "a1001"})) == [pump.serial]
    assert serials_on_page(nurse_client.get(URL, {"q": "zyls"})) == [pump.serial]


def test_booked_or_not_and_a_booking_after_the_deadline(nurse_client, clinic, today):
    late = clinic["upcoming"]
    patient_services.book_visit(
        patient=late.patient,
        pump=late,
        kind=VisitKind.REFILL,
        day=late.refill_deadline + timedelta(days=1),
        at=time(9),
        today=today,
    )
    assert serials_on_page(nurse_client.get(URL, {"booked": "yes"})) == ["UPCOMING"]
    assert "UPCOMING" not in serials_on_page(nurse_client.get(URL, {"booked": "no"}))
    html = nurse_client.get(URL).content.decode()
    row = html[html.index('data-serial="UPCOMING"') :]
    assert "Booked after the deadline" in row[: row.index("</tr>")]


def test_a_booking_on_the_deadline_day_is_not_a_problem(nurse_client, clinic, today):
    pump = clinic["upcoming"]
    patient_services.book_visit(
        patient=pump.patient,
        pump=pump,
        kind=VisitKind.REFILL,
        day=pump.refill_deadline,
        at=time(16, 30),
        today=today,
    )
    assert "Booked after the deadline" not in nurse_client.get(URL).content.decode()


def test_a_missed_visit_shows_until_it_is_rebooked(nurse_client, clinic, today):
    pump = clinic["overdue"]
    visit = patient_services.book_visit(
        patient=pump.patient, pump=pump, kind=VisitKind.REFILL, day=today, at=time(8), today=today
    )
    patient_services.set_visit_status(appointment=visit, status="missed")
    html = nurse_client.get(URL).content.decode()
    assert "Missed visit" in html
    patient_services.book_visit(
        patient=pump.patient,
        pump=pump,
        kind=VisitKind.REFILL,
        day=today + timedelta(days=1),
        at=time(8),
        today=today,
    )
    assert "Missed visit" not in nurse_client.get(URL).content.decode()


def test_the_worklist_is_paginated(nurse_client, today):
    for _ in range(30):
        morphine_due_in(1, today)
    first = nurse_client.get(URL)
    second = nurse_client.get(URL, {"page": 2})
    assert len(first.context["page"].object_list) == 25
    assert len(second.context["page"].object_list) == 5
    assert set(serials_on_page(first)).isdisjoint(serials_on_page(second))


def follow(client, query: str):
    return client.get(f"{URL}?{query}")


def test_next_and_previous_links_walk_the_list_by_key(nurse_client, today):
    for days in range(-3, 57):  # 60 pumps: overdue, due and upcoming, three pages
        morphine_due_in(days % 12 - 3, today)
    expected = [
        entry["serial"]
        for entry in build_due_list(
            today=today, lookahead_days=SchedulePolicy.current().lookahead_days, flagged_only=True
        )
    ]
    pages = [nurse_client.get(URL, {"drug": "morphine"})]
    while pages[-1].context["page"].next_query:
        pages.append(follow(nurse_client, pages[-1].context["page"].next_query))
    assert [serials_on_page(page) for page in pages] == [
        expected[0:25],
        expected[25:50],
        expected[50:60],
    ]
    third = pages[-1].context["page"]
    assert (third.number, third.num_pages, third.count) == (3, 3, 60)
    assert "after=" in pages[1].context["page"].next_query
    assert "drug=morphine" in third.previous_query  # the filters stay with the links
    back = follow(nurse_client, third.previous_query)
    assert "before=" in third.previous_query
    assert serials_on_page(back) == expected[25:50]
    assert back.context["page"].number == 2
    top = follow(nurse_client, back.context["page"].previous_query)
    assert serials_on_page(top) == expected[0:25]
    assert top.context["page"].previous_query == ""
    assert b'rel="next"' in top.content


@pytest.mark.parametrize(
    "query", ["after=junk", "before=9~x~y", "after=0~2026-99-01~SN", "after=6~2026-01-01~SN"]
)
def test_an_edited_page_link_shows_a_page_by_number(nurse_client, today, query):
    for _ in range(30):
        morphine_due_in(1, today)
    response = follow(nurse_client, query)
    assert response.status_code == 200
    assert len(serials_on_page(response)) == 25


def test_a_page_read_by_key_costs_the_same_queries(nurse_client, today, idle_clock_still):
    for _ in range(30):
        morphine_due_in(1, today)
    first = nurse_client.get(URL)
    with CaptureQueriesContext(connection) as queries:
        assert follow(nurse_client, first.context["page"].next_query).status_code == 200
    assert len(queries) == 9  # as below


def count_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(URL).status_code == 200
    return len(queries)


def test_the_worklist_query_count_is_pinned_and_does_not_grow(
    nurse_client, today, idle_clock_still
):
    morphine_due_in(1, today)
    # 1 session, 2 user with its roles, 3 schedule policy, 4 page rows count,
    # 5 page rows (pumps with patient, model, latest fill and drug, next booking),
    # 6 status counts, 7 drugs for the filter, 8 pump models for the filter,
    # 9 the view log's entry (issue 13: every page of patient data is recorded).
    assert count_queries(nurse_client) == 9
    for _ in range(20):
        baclofen_due_in(-1, today)
    assert count_queries(nurse_client) == 9


@pytest.mark.parametrize(("role", "status"), [(NURSE, 200), (PHYSICIAN, 200), (ADMINISTRATOR, 200)])
def test_every_staff_role_sees_the_worklist(client, role, status):
    client.force_login(UserFactory(roles=[role]))
    assert client.get(URL).status_code == status


def test_a_signed_out_visitor_is_sent_to_sign_in(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next=/"


def test_a_user_without_a_role_is_refused(client):
    client.force_login(UserFactory())
    assert client.get(URL).status_code == 403


def test_an_administrator_sees_no_log_refill_button(client, clinic):
    client.force_login(UserFactory(roles=[ADMINISTRATOR]))
    assert "Log refill" not in client.get(URL).content.decode()
