"""Print-outs (issue 14): the whole worklist on paper, and the handover summary."""

from datetime import date, time, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from care import services as patient_services
from care.choices import VisitKind
from care.models import Complication
from care.worklist import RankedWorklist, WorklistFilters
from care.worklist_pages import every_row
from core.roles import ADMINISTRATOR, NURSE, PHYSICIAN
from pumps.due_list import build_due_list
from pumps.models import SchedulePolicy
from tests.factories import PatientFactory, UserFactory, fill, make_pump
from web.pump_views import WORKLIST_PAGE_SIZE

pytestmark = pytest.mark.django_db

URL = reverse("pumps:worklist_print")


@pytest.fixture
def today() -> date:
    # The pages judge statuses on the clinic's real today.
    return timezone.localdate()


def morphine_due_in(days: int, today: date, **kwargs):
    """A morphine pump whose deadline (90-day stability) falls ``days`` after today."""
    phone = kwargs.pop("phone", "")
    pump = make_pump(
        model="synchromed_ii_40",
        implant_date=today - timedelta(days=400),
        patient=PatientFactory(phone=phone),
        **kwargs,
    )
    fill(pump, on=today + timedelta(days=days - 90), volume_ml="40")
    return pump


def baclofen_due_in(days: int, today: date):
    pump = make_pump(model="synchromed_ii_40", implant_date=today - timedelta(days=400))
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


def flagged_serials(today: date) -> list[str]:
    lookahead = SchedulePolicy.current().lookahead_days
    return [
        entry["serial"]
        for entry in build_due_list(today=today, lookahead_days=lookahead, flagged_only=True)
    ]


def printed_serials(response) -> list[str]:
    return [pump.serial for pump in response.context["rows"]]


def test_the_print_out_lists_every_row_not_one_page(nurse_client, today):
    for days in range(-3, 57):  # 60 pumps: more than two screen pages
        morphine_due_in(days % 12 - 3, today)
    response = nurse_client.get(URL)
    assert response.status_code == 200
    assert 2 * WORKLIST_PAGE_SIZE < 60
    assert printed_serials(response) == flagged_serials(today)  # the due list's order
    assert response.content.decode().count('<span class="tick-box"') == 60


def test_every_row_reads_in_chunks_in_the_list_order_up_to_its_cap(today):
    for days in range(-3, 30):
        morphine_due_in(days % 12 - 3, today)
    pumps = RankedWorklist(today=today, lookahead_days=14, filters=WorklistFilters())
    expected = flagged_serials(today)
    rows, count = every_row(pumps, chunk=7)
    assert [pump.serial for pump in rows] == expected
    assert count == len(expected) == 33
    capped, count = every_row(pumps, cap=10, chunk=4)
    assert [pump.serial for pump in capped] == expected[:10]
    assert count == 33


def test_the_print_out_has_phones_a_tick_column_and_the_clinic_and_day_in_its_header(
    nurse_client, today, settings
):
    settings.CLINIC_NAME = "Riverside Pain Clinic"
    morphine_due_in(1, today, serial="PHONED", phone="+1 555 0100")
    html = nurse_client.get(URL).content.decode()
    thead = html[html.index("<thead>") : html.index("</thead>")]
    assert "Riverside Pain Clinic" in thead
    assert today.strftime("%B") in thead
    assert str(today.year) in thead
    assert ">Done</th>" in thead
    assert ">Phone</th>" in thead
    row = html[html.index('data-serial="PHONED"') :]
    assert "+1 555 0100" in row[: row.index("</tr>")]


def test_the_print_out_keeps_the_worklists_filter(nurse_client, today):
    morphine = [morphine_due_in(1, today).serial for _ in range(3)]
    baclofen = [baclofen_due_in(1, today).serial for _ in range(2)]
    response = nurse_client.get(URL, {"drug": "baclofen"})
    assert sorted(printed_serials(response)) == sorted(baclofen)
    assert not set(morphine) & set(printed_serials(response))
    assert "filter: drug Baclofen" in response.content.decode()
    assert response.context["count"] == 2


def test_the_worklist_links_to_the_print_out_with_its_filter(nurse_client, today):
    morphine_due_in(1, today)
    html = nurse_client.get(reverse("pumps:worklist"), {"drug": "morphine"}).content.decode()
    assert f'href="{URL}?drug=morphine"' in html


def queries_of(client, url: str) -> list[dict[str, str]]:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return queries.captured_queries


def count_queries(client, url: str) -> int:
    return len(queries_of(client, url))


def test_the_print_out_query_count_is_pinned_and_does_not_grow(nurse_client, today):
    morphine_due_in(1, today)
    nurse_client.get(URL)  # the session's first request also writes the session
    # 1 session, 2 user with its roles, 3 schedule policy, 4 counts (one statement),
    # 5 the chunk's rows (one UNION ALL by rank), 6 their pumps with patient,
    # model, fill, drug and booking, 7 the audit log's entry.
    assert count_queries(nurse_client, URL) == 7
    for _ in range(40):
        baclofen_due_in(-1, today)
    assert count_queries(nurse_client, URL) == 7


@pytest.mark.parametrize(("role", "status"), [(NURSE, 200), (PHYSICIAN, 200), (ADMINISTRATOR, 200)])
def test_every_staff_role_prints(client, role, status):
    client.force_login(UserFactory(roles=[role]))
    assert client.get(URL).status_code == status


def test_no_role_no_print_out(client):
    client.force_login(UserFactory())
    assert client.get(URL).status_code == 403
    client.logout()
    assert client.get(URL).status_code == 302


# --- The handover summary ------------------------------------------------------------


def summary_url(patient) -> str:
    return reverse("patients:summary", args=[patient.pk])


@pytest.fixture
def handover(today):
    patient = PatientFactory(phone="+1 555 0199", family_name="Handover")
    pump = make_pump(
        model="synchromed_ii_20", implant_date=today - timedelta(days=800), patient=patient
    )
    fill(
        pump,
        on=today - timedelta(days=40),
        drug="baclofen",
        concentration="2000",
        concentration_unit="mcg/mL",
        daily_dose="400",
        dose_unit="mcg/day",
        volume_ml="20",
    )
    fill(
        pump,
        on=today - timedelta(days=10),
        drug="baclofen",
        concentration="2000",
        concentration_unit="mcg/mL",
        daily_dose="400",
        dose_unit="mcg/day",
        volume_ml="20",
        residual_ml="2",  # 14 mL expected: a discrepancy awaiting sign-off
    )
    patient_services.book_visit(
        patient=patient, pump=pump, kind=VisitKind.REFILL, day=today + timedelta(days=20),
        at=time(10, 0), today=today,
    )  # fmt: skip
    pump.refresh_from_db()
    return patient, pump


def test_the_summary_has_the_pump_drug_dose_dates_flags_and_contacts(nurse_client, handover):
    patient, pump = handover
    html = nurse_client.get(summary_url(patient)).content.decode()
    assert "+1 555 0199" in html
    assert pump.serial in html
    assert "Baclofen 2000 mcg/mL" in html
    assert "400 mcg/day" in html
    assert pump.refill_deadline.strftime("%-d %b %Y") in html
    assert "Residual discrepancy" in html
    assert 'data-review="physician_review"' in html  # two years, no review: yearly, overdue
    assert "Yearly physician review overdue" in html
    assert "Refill" in html
    assert "10:00" in html


def test_the_summary_query_count_does_not_grow_with_the_record(nurse_client, handover, today):
    patient, pump = handover
    before = count_queries(nurse_client, summary_url(patient))
    for days in range(5):
        Complication.objects.create(
            patient=patient, pump=pump, kind="pruritus", severity="mild", outcome="resolved",
            occurred_on=today - timedelta(days=days + 1),
        )  # fmt: skip
    assert count_queries(nurse_client, summary_url(patient)) == before


def test_the_patient_page_links_to_its_summary(nurse_client, handover):
    patient, _ = handover
    html = nurse_client.get(reverse("patients:detail", args=[patient.pk])).content.decode()
    assert f'href="{summary_url(patient)}"' in html


def test_the_summary_of_a_patient_without_a_pump(nurse_client):
    patient = PatientFactory()
    response = nurse_client.get(summary_url(patient))
    assert response.status_code == 200
    assert "No active pump." in response.content.decode()


def test_no_role_no_summary(client, handover):
    patient, _ = handover
    client.force_login(UserFactory())
    assert client.get(summary_url(patient)).status_code == 403
