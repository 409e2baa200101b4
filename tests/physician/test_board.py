"""The pump status board: filters, sort order, pages, CSV export and its query count."""

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from core.csv_export import safe_cell
from core.roles import PHYSICIAN
from patients.choices import Indication
from pumps import services
from tests.factories import PatientFactory, UserFactory, fill, make_pump
from tests.physician.conftest import page_queries

pytestmark = pytest.mark.django_db

URL = reverse("pumps:board")
CSV_URL = reverse("pumps:board_csv")


def serials(response) -> list[str]:
    return [pump.serial for pump in response.context["page"].object_list]


def csv_rows(response) -> list[dict[str, str]]:
    assert response.streaming
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture
def clinic(today):
    """Four active pumps and an explanted one, each with something to tell apart."""
    other_doctor = UserFactory(username="dr_other", roles=[PHYSICIAN])
    ok = make_pump(serial="A-OK", implant_date=today - timedelta(days=400))
    fill(ok, on=today - timedelta(days=10), volume_ml="20")  # morphine, deadline in 80 days
    flagged = make_pump(
        serial="B-FLAG",
        model="synchromed_ii_40",
        implant_date=today - timedelta(days=800),
        patient=PatientFactory(indication=Indication.MULTIPLE_SCLEROSIS),
    )
    fill(
        flagged,
        on=today - timedelta(days=40),
        drug="baclofen",
        concentration="2000",
        concentration_unit="mcg/mL",
        daily_dose="200",
        dose_unit="mcg/day",
        volume_ml="40",
    )
    # Expected 40 - 0.1 x 10 = 39 mL; 30 withdrawn is a discrepancy.
    fill(
        flagged,
        on=today - timedelta(days=30),
        drug="baclofen",
        concentration="2000",
        concentration_unit="mcg/mL",
        daily_dose="200",
        dose_unit="mcg/day",
        volume_ml="40",
        residual_ml="30",
    )
    eri = make_pump(
        serial="C-ERI",
        implant_date=today - timedelta(days=6 * 365),
        patient=PatientFactory(treating_physician=other_doctor),
    )
    services.record_eri(pump=eri, seen_on=today - timedelta(days=3), today=today)
    never = make_pump(serial="D-NEVER", model="codman_3000", implant_date=today - timedelta(days=5))
    gone = make_pump(serial="E-GONE", implant_date=today - timedelta(days=900))
    services.explant_pump(pump=gone, explant_date=today, reason="infection", today=today)
    return {"ok": ok, "flagged": flagged, "eri": eri, "never": never, "doctor": other_doctor}


def test_the_board_lists_every_active_pump_by_refill_deadline(physician_client, clinic):
    response = physician_client.get(URL)
    assert response.status_code == 200
    # Deadlines: B-FLAG (fill 30 days ago, 180-day baclofen but 38 mL / 0.1 = 380 days:
    # stability), A-OK in 80 days; never-filled pumps have none and come last.
    assert serials(response) == ["A-OK", "B-FLAG", "C-ERI", "D-NEVER"]


def test_the_flags_and_days_since_implant_show(physician_client, clinic, today):
    html = physician_client.get(URL).content.decode()
    flag_row = html[html.index('data-serial="B-FLAG"') :]
    flag_row = flag_row[: flag_row.index("</tr>")]
    assert 'data-flag="discrepancy"' in flag_row
    assert "800 days ago" in flag_row
    eri_row = html[html.index('data-serial="C-ERI"') :]
    assert 'data-flag="eri"' in eri_row[: eri_row.index("</tr>")]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"refill_status": "unknown"}, ["C-ERI", "D-NEVER"]),
        ({"refill_status": "ok"}, ["A-OK", "B-FLAG"]),
        ({"battery_status": "eri"}, ["C-ERI"]),
        ({"battery_status": "not_applicable"}, ["D-NEVER"]),
        ({"drug": "baclofen"}, ["B-FLAG"]),
        ({"model": "codman_3000"}, ["D-NEVER"]),
        ({"indication": "multiple_sclerosis"}, ["B-FLAG"]),
        ({"discrepancy": "yes"}, ["B-FLAG"]),
        ({"discrepancy": "no"}, ["A-OK", "C-ERI", "D-NEVER"]),
        ({"drug": "baclofen", "discrepancy": "no"}, []),
    ],
)
def test_filters(physician_client, clinic, params, expected):
    assert serials(physician_client.get(URL, params)) == expected


def test_the_physician_filter(physician_client, clinic):
    response = physician_client.get(URL, {"physician": clinic["doctor"].pk})
    assert serials(response) == ["C-ERI"]


def test_an_invalid_filter_value_is_a_field_error_not_a_crash(physician_client, clinic):
    response = physician_client.get(URL, {"refill_status": "sideways"})
    assert response.status_code == 200
    assert "refill_status" in response.context["filter"].form.errors
    assert len(serials(response)) == 4


def test_a_signed_off_discrepancy_no_longer_filters_as_unsigned(
    physician_client, clinic, physician
):
    refill = clinic["flagged"].refills.get(discrepancy=True)
    services.sign_off_discrepancy(
        refill=refill, user=physician, comment="Catheter checked.", now=timezone.now()
    )
    assert serials(physician_client.get(URL, {"discrepancy": "yes"})) == []


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("implant", ["C-ERI", "B-FLAG", "A-OK", "D-NEVER"]),
        ("-implant", ["D-NEVER", "A-OK", "B-FLAG", "C-ERI"]),
        ("serial", ["A-OK", "B-FLAG", "C-ERI", "D-NEVER"]),
        ("-serial", ["D-NEVER", "C-ERI", "B-FLAG", "A-OK"]),
        ("model", ["D-NEVER", "A-OK", "C-ERI", "B-FLAG"]),
        ("-refill", ["B-FLAG", "A-OK", "C-ERI", "D-NEVER"]),  # empty dates last both ways
        ("password", ["A-OK", "B-FLAG", "C-ERI", "D-NEVER"]),  # not whitelisted: default
    ],
)
def test_sortable_columns(physician_client, clinic, sort, expected):
    assert serials(physician_client.get(URL, {"sort": sort})) == expected


def test_equal_sort_values_fall_back_to_the_serial(physician_client, today):
    day = today - timedelta(days=100)
    for serial in ("Z99", "M55", "A11"):
        make_pump(serial=serial, implant_date=day)
    assert serials(physician_client.get(URL, {"sort": "implant"})) == ["A11", "M55", "Z99"]
    assert serials(physician_client.get(URL, {"sort": "-implant"})) == ["A11", "M55", "Z99"]


def test_pages_of_fifty_keep_the_filters_and_the_sort(physician_client, today):
    for number in range(52):
        make_pump(serial=f"P{number:03d}", implant_date=today - timedelta(days=number + 1))
    first = physician_client.get(URL, {"sort": "-serial", "model": "synchromed_ii_20"})
    assert len(serials(first)) == 50
    assert "model=synchromed_ii_20&amp;sort=-serial&amp;page=2" in first.content.decode()
    second = physician_client.get(URL, {"sort": "-serial", "model": "synchromed_ii_20", "page": 2})
    assert serials(second) == ["P001", "P000"]


def test_the_csv_has_the_filtered_sorted_rows(physician_client, clinic, today):
    response = physician_client.get(CSV_URL, {"battery_status": "ok", "sort": "-serial"})
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert f'filename="pump-board-{today}.csv"' in response["Content-Disposition"]
    rows = csv_rows(response)
    assert [row["serial"] for row in rows] == ["B-FLAG", "A-OK"]
    flagged = rows[0]
    assert flagged["drug"] == "baclofen"
    assert (flagged["daily_dose"], flagged["dose_unit"]) == ("200", "mcg/day")
    assert flagged["unsigned_discrepancy"] == "true"
    assert flagged["days_since_implant"] == "800"
    assert flagged["indication"] == "multiple_sclerosis"
    assert rows[1]["unsigned_discrepancy"] == "false"


def test_csv_cells_that_a_spreadsheet_would_run_are_quoted(physician_client, today):
    patient = PatientFactory(family_name='=HYPERLINK("http://x")', given_name="@SUM(A1)")
    # A serial may start with a hyphen (letters, digits and hyphens, section 8).
    make_pump(serial="-SN1", patient=patient, implant_date=today - timedelta(days=3))
    row = csv_rows(physician_client.get(CSV_URL))[0]
    assert row["family_name"] == '\'=HYPERLINK("http://x")'
    assert row["given_name"] == "'@SUM(A1)"
    assert row["serial"] == "'-SN1"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("-2", "'-2"), ("\tx", "'\tx"), ("plain", "plain"), ("a=b", "a=b"), (None, "")],
)
def test_safe_cell(value, expected):
    assert safe_cell(value) == expected


def count_queries(user, url, params=None) -> int:
    return len(page_queries(user, url, params))


def add_pumps(n: int, today) -> None:
    for _ in range(n):
        pump = make_pump(implant_date=today - timedelta(days=300))
        fill(pump, on=today - timedelta(days=5))


def test_the_board_query_count_is_pinned_and_does_not_grow(physician, today):
    add_pumps(3, today)
    # 1 session, 2 user with its roles, 3 schedule policy, 4 row count, 5 the page's
    # pumps (patient, physician, model, latest fill and drug joined; statuses and
    # the discrepancy flag annotated), 6 the outbox's counts (sent, failed, awaiting
    # consent, open tasks: one statement, issue 15), 7-9 the filter choices: drugs,
    # pump models, physicians.
    assert count_queries(physician, URL) == 9
    add_pumps(27, today)
    assert count_queries(physician, URL) == 9


def test_the_csv_query_count_is_pinned_and_does_not_grow(physician, today):
    add_pumps(3, today)
    # 1 session, 2 user with its roles, 3 schedule policy, 4 the rows (one query, streamed).
    assert count_queries(physician, CSV_URL) == 4
    add_pumps(27, today)
    assert count_queries(physician, CSV_URL) == 4


def test_filtered_query_count_is_constant_too(physician, today):
    add_pumps(3, today)
    params = {"drug": "morphine", "model": "synchromed_ii_20", "discrepancy": "no"}
    small = count_queries(physician, URL, params)
    add_pumps(27, today)
    assert count_queries(physician, URL, params) == small


@pytest.mark.parametrize("client_fixture", ["nurse_client", "admin_client_role"])
def test_nurses_and_administrators_may_read_the_board(request, client_fixture, clinic):
    client = request.getfixturevalue(client_fixture)
    assert client.get(URL).status_code == 200
    assert client.get(CSV_URL).status_code == 200


def test_anonymous_users_are_sent_to_sign_in(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
