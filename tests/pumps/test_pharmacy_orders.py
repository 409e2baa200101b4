"""The pharmacy order list (issue 14): refills booked or due, by drug and concentration."""

import csv
import io
from datetime import date, time, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from care import pharmacy
from care import services as patient_services
from care.choices import VisitKind
from core.roles import ADMINISTRATOR, NURSE, PHYSICIAN
from pumps.models import Drug, Pump
from tests.factories import PatientFactory, UserFactory, fill, make_pump
from tests.pumps.test_print_outs import count_queries

pytestmark = pytest.mark.django_db

URL = reverse("pumps:pharmacy_orders")
CSV_URL = reverse("pumps:pharmacy_orders_csv")


@pytest.fixture
def today() -> date:
    return timezone.localdate()


def baclofen(today: date, *, concentration="2000", unit="mcg/mL", volume="20", model="20", **kw):
    """A baclofen pump filled 10 days ago (180-day stability: due months ahead)."""
    pump = make_pump(
        model=f"synchromed_ii_{model}",
        implant_date=today - timedelta(days=400),
        patient=kw.pop("patient", None) or PatientFactory(),
    )
    fill(
        pump,
        on=today - timedelta(days=10),
        drug="baclofen",
        concentration=concentration,
        concentration_unit=unit,
        daily_dose="100",
        dose_unit="mcg/day",
        volume_ml=volume,
    )
    return pump


def book(pump, day: date, today: date) -> None:
    patient_services.book_visit(
        patient=pump.patient, pump=pump, kind=VisitKind.REFILL, day=day, at=time(23, 30),
        today=today,
    )  # fmt: skip


def lines(today: date, start: date, end: date, basis=pharmacy.BASIS_LAST_FILL):
    return pharmacy.order_lines(start=start, end=end, today=today, basis=basis)


def test_refills_are_grouped_by_drug_and_concentration_with_exact_totals(today):
    day = today + timedelta(days=3)
    for concentration, unit, volume in [
        ("2000", "mcg/mL", "20"),
        ("2", "mg/mL", "18.5"),  # the same concentration written in mg/mL
        ("2000", "mcg/mL", "19.25"),
        ("500", "mcg/mL", "20"),
    ]:
        book(baclofen(today, concentration=concentration, unit=unit, volume=volume), day, today)
    groups = pharmacy.grouped(lines(today, today, today + timedelta(days=7)))
    totals = {
        (group.concentration_mcg_per_ml, len(group.lines)): (group.total_ml, group.total_amount)
        for group in groups
    }
    assert totals == {
        (Decimal("2000"), 3): (Decimal("57.75"), Decimal("115500")),  # mcg
        (Decimal("500"), 1): (Decimal("20"), Decimal("10000")),
    }


def test_the_volume_is_the_last_fill_or_the_full_reservoir(today):
    pump = baclofen(today, volume="12.5", model="40")
    book(pump, today + timedelta(days=1), today)
    end = today + timedelta(days=2)
    [last] = lines(today, today, end)
    [full] = lines(today, today, end, basis=pharmacy.BASIS_RESERVOIR)
    assert last.volume_ml == Decimal("12.5")
    assert full.volume_ml == Decimal("40")


@pytest.mark.parametrize(
    ("offset", "listed"), [(-1, False), (0, True), (5, True), (10, True), (11, False)]
)
def test_a_booked_refill_is_listed_from_the_first_to_the_last_day_of_the_range(
    today, offset, listed
):
    start = today + timedelta(days=1)
    end = start + timedelta(days=10)
    book(baclofen(today), start + timedelta(days=offset), today)
    assert len(lines(today, start, end)) == (1 if listed else 0)


def morphine_due_on(due: date, today: date):
    """A morphine pump whose stored due date is ``due`` (set directly: this list
    reads the stored dates, which the schedule's own tests cover)."""
    pump = make_pump(model="synchromed_ii_40", implant_date=today - timedelta(days=400))
    fill(pump, on=today - timedelta(days=30), volume_ml="40")
    Pump.objects.filter(pk=pump.pk).update(refill_due=due, refill_deadline=due + timedelta(days=5))
    pump.refresh_from_db()
    return pump


@pytest.mark.parametrize(("offset", "listed"), [(-1, False), (0, True), (7, True), (8, False)])
def test_an_unbooked_refill_is_listed_on_its_due_day(today, offset, listed):
    start = today + timedelta(days=5)
    end = start + timedelta(days=7)
    pump = morphine_due_on(start + timedelta(days=offset), today)
    found = [line.pump.serial for line in lines(today, start, end)]
    assert (pump.serial in found) == listed


def test_an_unbooked_refill_already_due_is_listed_today(today):
    pump = morphine_due_on(today - timedelta(days=3), today)
    [line] = [line for line in lines(today, today, today) if line.pump == pump]
    assert (line.refill_day, line.booked) == (today, False)
    # A range that starts tomorrow does not list it: it belongs to today's order.
    assert pump not in [
        line.pump for line in lines(today, today + timedelta(days=1), today + timedelta(days=9))
    ]


def test_a_booked_pump_is_listed_on_its_booking_not_its_due_day(today):
    pump = morphine_due_on(today + timedelta(days=2), today)
    book(pump, today + timedelta(days=20), today)
    assert pump not in [line.pump for line in lines(today, today, today + timedelta(days=5))]
    [line] = lines(today, today + timedelta(days=20), today + timedelta(days=20))
    assert (line.pump, line.booked) == (pump, True)


@pytest.mark.parametrize(
    ("code", "compounded", "own", "lead"),
    [
        ("baclofen", False, None, 7),  # PHARMACY_LEAD_DAYS
        ("baclofen", True, None, 14),  # PHARMACY_LEAD_DAYS_COMPOUNDED
        ("baclofen", True, 3, 3),  # the drug's own lead time wins
        ("baclofen", False, 0, 0),
    ],
)
def test_the_order_is_due_the_lead_time_before_the_refill(today, code, compounded, own, lead):
    Drug.objects.filter(code=code).update(compounded=compounded, pharmacy_lead_days=own)
    day = today + timedelta(days=30)
    book(baclofen(today), day, today)
    [line] = lines(today, day, day)
    assert line.order_by == day - timedelta(days=lead)
    assert pharmacy.grouped([line])[0].order_by == line.order_by


def test_the_lead_time_settings_are_read_at_use(today, settings):
    settings.PHARMACY_LEAD_DAYS = 10
    assert Drug.objects.get(code="baclofen").lead_days == 10
    settings.PHARMACY_LEAD_DAYS_COMPOUNDED = 21
    assert Drug.objects.get(code="admixture").lead_days == 21  # shipped as compounded


def test_a_group_orders_by_its_earliest_line(today):
    early, late = today + timedelta(days=9), today + timedelta(days=12)
    book(baclofen(today), late, today)
    book(baclofen(today), early, today)
    [group] = pharmacy.grouped(lines(today, today, today + timedelta(days=14)))
    assert group.order_by == early - timedelta(days=7)
    assert [line.refill_day for line in group.lines] == [early, late]


def test_the_page_prints_groups_totals_and_a_late_order(nurse_client, today, settings):
    settings.CLINIC_NAME = "Riverside Pain Clinic"
    book(baclofen(today, volume="20"), today + timedelta(days=2), today)  # order by: 5 days ago
    book(baclofen(today, volume="18.5"), today + timedelta(days=3), today)
    response = nurse_client.get(
        URL, {"start": today.isoformat(), "end": (today + timedelta(days=5)).isoformat()}
    )
    html = response.content.decode()
    assert "Riverside Pain Clinic" in html[html.index("<thead>") : html.index("</thead>")]
    assert "38.5 mL" in html
    assert "77000 mcg" in html
    assert "late: order today" in html
    assert "data-print" in html


def test_a_bad_or_long_range_falls_back_and_says_so(nurse_client, today):
    response = nurse_client.get(URL, {"start": "2026-13-01"})
    assert response.context["start"] == today
    assert "YYYY-MM-DD" in response.context["problem"]
    response = nurse_client.get(
        URL, {"start": today.isoformat(), "end": (today + timedelta(days=400)).isoformat()}
    )
    assert response.context["end"] == today + timedelta(days=pharmacy.MAX_RANGE_DAYS)


def test_the_csv_has_a_row_per_refill_through_the_one_writer(nurse_client, today):
    patient = PatientFactory(family_name="=HYPERLINK(1)", given_name="Eve")
    book(baclofen(today, volume="19.25", patient=patient), today + timedelta(days=4), today)
    response = nurse_client.get(
        CSV_URL, {"start": today.isoformat(), "end": (today + timedelta(days=5)).isoformat()}
    )
    assert (
        response["Content-Disposition"]
        == f'attachment; filename="pharmacy-orders-{today.isoformat()}.csv"'
    )
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    [row] = rows
    assert row["drug"] == "Baclofen"
    assert row["concentration"] == "2000.0000"
    assert row["volume_ml"] == "19.25"
    assert row["order_by"] == (today - timedelta(days=3)).isoformat()
    assert row["booked"] == "true"
    assert row["patient"].startswith("'=")  # the formula guard of core/csv_export


def test_the_page_query_count_does_not_grow(nurse_client, today):
    book(baclofen(today), today + timedelta(days=3), today)
    nurse_client.get(URL)  # the session's first request also writes the session
    # 1 session, 2 user with its roles, 3 schedule policy (the default range), 4 the
    # pumps with patient, model, fill, drug and booking, 5 the audit log's entry.
    assert count_queries(nurse_client, URL) == 5
    for days in range(10):
        book(baclofen(today), today + timedelta(days=days % 5 + 1), today)
    assert count_queries(nurse_client, URL) == 5


@pytest.mark.parametrize(("role", "status"), [(NURSE, 200), (PHYSICIAN, 200), (ADMINISTRATOR, 200)])
def test_every_staff_role_sees_the_order_list(client, role, status):
    client.force_login(UserFactory(roles=[role]))
    assert client.get(URL).status_code == status
    assert client.get(CSV_URL).status_code == status


def test_no_role_no_order_list(client):
    client.force_login(UserFactory())
    assert client.get(URL).status_code == 403
    assert client.get(CSV_URL).status_code == 403
