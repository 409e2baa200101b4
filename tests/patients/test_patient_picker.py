"""Issue 14: the patient picker. The search (care/patient_search.py) by name, record
number, pump serial and birth date; its page without JavaScript, carrying the choice
into the trial form; its JSON for search as you type; who may use them; the view log;
one query whatever it finds, each match an index range."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit.models import AuditEntry
from care.models import Trial
from care.patient_search import matching, read_search, search_patients
from core.roles import ADMINISTRATOR, NURSE, PHYSICIAN
from patients.models import Patient
from pumps import services
from tests.factories import PatientFactory, UserFactory, make_pump

pytestmark = pytest.mark.django_db

FIND = reverse("patients:find")
FIND_JSON = reverse("patients:find_json")
TRIALS = reverse("patients:trials")


def client_for(*roles: str) -> Client:
    client = Client()
    client.force_login(UserFactory(roles=list(roles)))
    return client


@pytest.fixture
def clinic() -> dict[str, Patient]:
    patients = {
        "ada": PatientFactory(
            mrn="A1001", family_name="Okafor", given_name="Ada", birth_date=date(1961, 5, 2)
        ),
        "obi": PatientFactory(
            mrn="A1002", family_name="Okafor", given_name="Obi", birth_date=date(1958, 4, 3)
        ),
        "van": PatientFactory(
            mrn="B2001",
            family_name="van der Berg",
            given_name="Lotte",
            birth_date=date(1958, 3, 4),
        ),
        "emil": PatientFactory(
            mrn="C3001", family_name="Smith", given_name="Emil", birth_date=date(1970, 12, 31)
        ),
    }
    old = make_pump(patient=patients["emil"], serial="NGP100001H", implant_date=date(2015, 1, 1))
    services.explant_pump(
        pump=old,
        explant_date=date(2020, 6, 1),
        reason="battery_end_of_life",
        today=date(2026, 1, 1),
    )
    make_pump(patient=patients["emil"], serial="NGP200002H", implant_date=date(2020, 6, 1))
    make_pump(patient=patients["ada"], serial="PII300003", implant_date=date(2022, 2, 2))
    return patients


def found(text: str) -> list[str]:
    return [patient.mrn for patient in search_patients(text).patients]


# --- What a search finds ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "mrns"),
    [
        ("okafor", ["A1001", "A1002"]),
        ("OKA", ["A1001", "A1002"]),
        ("okafor ada", ["A1001"]),
        ("ada okafor", ["A1001"]),
        ("Okafor, Obi", ["A1002"]),
        ("ok o", ["A1002"]),
        ("van der", ["B2001"]),
        ("van der berg lotte", ["B2001"]),
        ("lotte van", ["B2001"]),
        ("emil", ["C3001"]),
        ("a1001", ["A1001"]),
        ("A100", ["A1001", "A1002"]),
        ("  \u200bA1002 ", ["A1002"]),
        ("ngp2", ["C3001"]),
        ("NGP100001H", ["C3001"]),  # the explanted pump's serial still finds its patient
        ("pii300003", ["A1001"]),
        ("1961-05-02", ["A1001"]),
        ("02/05/1961", ["A1001"]),  # day first
        ("31/12/1970", ["C3001"]),
        ("12/31/1970", ["C3001"]),  # can only be month first
        ("03/04/1958", ["A1002", "B2001"]),  # 3 April or 4 March: both shown
        ("nobody", []),
        ("okafor zed", []),
    ],
)
def test_a_search_finds_by_name_record_number_serial_or_birth_date(
    clinic: dict[str, Patient], text: str, mrns: list[str]
) -> None:
    assert sorted(found(text)) == mrns


def test_matches_come_in_name_order_with_their_pumps(clinic: dict[str, Patient]) -> None:
    result = search_patients("ngp1")
    (emil,) = result.patients
    assert emil.active_serial == "NGP200002H"  # type: ignore[attr-defined]
    assert emil.matched_serial == "NGP100001H"  # type: ignore[attr-defined]
    assert emil.matched_explant_date == date(2020, 6, 1)  # type: ignore[attr-defined]
    assert [p.given_name for p in search_patients("okafor").patients] == ["Ada", "Obi"]


def test_an_ambiguous_slash_date_says_how_it_was_read() -> None:
    assert "3 April 1958 (day first) or 4 March 1958" in read_search("03/04/1958").note
    assert read_search("04/04/1958").note == ""


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "Type a name"),
        ("   ", "Type a name"),
        ("31/02/1961", "is not a date"),
        ("1961-13-01", "is not a date"),
        ("x" * 101, "at most 100 characters"),
    ],
)
def test_a_search_that_cannot_be_made_says_why(text: str, problem: str) -> None:
    result = search_patients(text)
    assert problem in result.search.problem
    assert result.patients == []


def test_one_letter_searches_record_numbers_and_serials_not_names(
    clinic: dict[str, Patient],
) -> None:
    assert found("o") == []  # "Okafor", "Obi": names need two letters
    assert sorted(found("a")) == ["A1001", "A1002"]  # record numbers from the first


def test_at_most_twenty_and_says_more_match() -> None:
    Patient.objects.bulk_create(
        PatientFactory.build(mrn=f"Z{n:03d}", family_name="Zed", given_name=f"G{n:03d}")
        for n in range(25)
    )
    result = search_patients("zed")
    assert len(result.patients) == 20
    assert result.more
    assert not search_patients("zed g02").more


def test_a_search_is_one_query_whatever_it_finds(
    clinic: dict[str, Patient], django_assert_num_queries
) -> None:
    Patient.objects.bulk_create(
        PatientFactory.build(mrn=f"Z{n:03d}", family_name="Zed", given_name=f"G{n:03d}")
        for n in range(25)
    )
    for text in ("nobody", "ada", "zed", "ngp", "03/04/1958"):
        with django_assert_num_queries(1):
            search_patients(text)


def test_each_way_of_matching_walks_an_index_not_the_table(clinic: dict[str, Patient]) -> None:
    texts = ("okafor ada", "a1001", "ngp2", "1961-05-02", "03/04/1958")
    if connection.vendor == "postgresql":
        # A small table is cheaper to read whole: forbid that, and a search that
        # has no index to walk still reads the table (and fails here).
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
    for text in texts:
        plan = matching(read_search(text))[:21].explain()
        for table in ("patients_patient", "pumps_pump"):
            assert f"SCAN {table}" not in plan, (text, plan)  # SQLite
            assert f"Seq Scan on {table}" not in plan, (text, plan)  # PostgreSQL


# --- The page without JavaScript, carrying the choice into the trial form ---------------


def test_without_javascript_a_physician_finds_a_patient_and_records_a_trial(
    clinic: dict[str, Patient],
) -> None:
    physician = client_for(PHYSICIAN)
    form_page = physician.get(TRIALS).content.decode()
    # The dropdown of every patient is gone; a link to the search page is there.
    assert (
        "<option" not in form_page[form_page.index('id="trial-form"') :].split("id_trial_date")[0]
    )
    assert "Find a patient" in form_page
    link = form_page[form_page.index("data-picker-link") - 200 :]
    find_url = link[link.index('href="') + 6 :].split('"')[0].replace("&amp;", "&")
    assert parse_qs(urlsplit(find_url).query) == {"field": ["patient"], "next": [TRIALS]}

    results = physician.get(find_url + "&q=okafor+obi").content.decode()
    assert "Okafor, Obi" in results
    assert "Okafor, Ada" not in results
    choose = results[results.index("data-choose") - 200 :]
    chosen_url = choose[choose.index('href="') + 6 :].split('"')[0].replace("&amp;", "&")
    assert chosen_url == f"{TRIALS}?patient={clinic['obi'].pk}"

    form_page = physician.get(chosen_url).content.decode()
    assert f'name="patient" value="{clinic["obi"].pk}"' in form_page
    assert "Okafor, Obi · A1002 · born 3 Apr 1958" in form_page
    assert "Change patient" in form_page

    response = physician.post(
        TRIALS,
        {
            "patient": str(clinic["obi"].pk),
            "trial_date": "2026-01-05",
            "method": "single_bolus",
            "drug": "baclofen",
            "dose": "50",
            "dose_unit": "mcg",
            "scale": "ashworth",
            "score_before": "3",
            "score_after": "1",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    trial = Trial.objects.get()
    assert trial.patient == clinic["obi"]
    assert trial.dose == Decimal("50")


@pytest.mark.parametrize("chosen", ["", "abc", "999999", "-1", "1" * 30])
def test_the_trial_form_refuses_no_or_an_unknown_patient_in_words(chosen: str) -> None:
    response = client_for(PHYSICIAN).post(
        TRIALS, {"patient": chosen, "trial_date": "2026-01-05", "method": "single_bolus"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Choose a patient" in html or "That patient was not found" in html
    assert not Trial.objects.exists()


def test_the_search_page_alone_links_to_the_patient_pages(clinic: dict[str, Patient]) -> None:
    html = client_for(NURSE).get(FIND, {"q": "smith"}).content.decode()
    assert f'href="/patients/{clinic["emil"].pk}/"' in html
    assert "pump NGP200002H" in html
    assert "data-choose" not in html


def test_the_page_says_why_nothing_was_searched_and_what_matched_nothing(
    clinic: dict[str, Patient],
) -> None:
    nurse = client_for(NURSE)
    assert "is not a date" in nurse.get(FIND, {"q": "31/02/1961"}).content.decode()
    assert "No patient matches “zzz”" in nurse.get(FIND, {"q": "zzz"}).content.decode()
    both = nurse.get(FIND, {"q": "03/04/1958"}).content.decode()
    assert "3 April 1958 (day first) or 4 March 1958 (month first)" in both


@pytest.mark.parametrize(
    "next_url", ["https://elsewhere.example/", "//elsewhere.example/x", "javascript:alert(1)"]
)
def test_a_choice_is_never_carried_off_the_site(clinic: dict[str, Patient], next_url: str) -> None:
    html = client_for(NURSE).get(FIND, {"q": "smith", "next": next_url}).content.decode()
    assert "elsewhere" not in html
    assert "javascript:" not in html
    assert f'href="/patients/{clinic["emil"].pk}/"' in html


def test_an_odd_field_name_is_not_carried(clinic: dict[str, Patient]) -> None:
    html = (
        client_for(NURSE)
        .get(FIND, {"q": "smith", "next": TRIALS, "field": '"><script>'})
        .content.decode()
    )
    assert "<script>" not in html.split("</main>")[0].split("<main")[1]
    assert f"{TRIALS}?patient={clinic['emil'].pk}" in html


# --- The JSON for search as you type --------------------------------------------------


def test_the_json_lists_the_matches(clinic: dict[str, Patient]) -> None:
    data = client_for(NURSE).get(FIND_JSON, {"q": "ngp1"}).json()
    assert data["problem"] == ""
    assert data["more"] is False
    (emil,) = data["patients"]
    assert emil == {
        "id": clinic["emil"].pk,
        "label": "Smith, Emil · C3001 · born 31 Dec 1970",
        "name": "Smith, Emil",
        "mrn": "C3001",
        "birth_date": "1970-12-31",
        "status": "Implanted",
        "pump": "pump NGP100001H explanted 1 Jun 2020; now NGP200002H",
        "url": f"/patients/{clinic['emil'].pk}/",
    }


def test_the_json_says_why_nothing_was_searched() -> None:
    data = client_for(NURSE).get(FIND_JSON, {"q": "99/99/2000"}).json()
    assert "is not a date" in data["problem"]
    assert data["patients"] == []


@pytest.mark.parametrize("url", [FIND, FIND_JSON])
def test_signed_out_is_sent_to_sign_in_and_given_no_data(
    clinic: dict[str, Patient], url: str
) -> None:
    response = Client().get(url, {"q": "okafor"})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert b"Okafor" not in response.content
    assert not AuditEntry.objects.exists()


@pytest.mark.parametrize("url", [FIND, FIND_JSON])
def test_a_signed_in_user_without_a_staff_role_is_refused(
    clinic: dict[str, Patient], url: str
) -> None:
    response = client_for().get(url, {"q": "okafor"})
    assert response.status_code == 403
    assert b"Okafor" not in response.content


@pytest.mark.parametrize("role", [NURSE, PHYSICIAN, ADMINISTRATOR])
@pytest.mark.parametrize("url", [FIND, FIND_JSON])
def test_every_staff_role_searches_and_each_search_is_in_the_view_log(
    clinic: dict[str, Patient], role: str, url: str
) -> None:
    response = client_for(role).get(url, {"q": "okafor"})
    assert response.status_code == 200
    assert b"Okafor" in response.content
    entry = AuditEntry.objects.get()
    assert entry.what.startswith("patient search")
    assert "q=okafor" in entry.path


def test_the_page_and_the_json_keep_their_query_count(
    clinic: dict[str, Patient], idle_clock_still: None, nurse_client: Client
) -> None:
    nurse = nurse_client
    Patient.objects.bulk_create(
        PatientFactory.build(mrn=f"Z{n:03d}", family_name="Zed", given_name=f"G{n:03d}")
        for n in range(25)
    )
    counts = []
    for url in (FIND, FIND_JSON):
        for text in ("nobody", "obi", "zed"):
            with CaptureQueriesContext(connection) as context:
                assert nurse.get(url, {"q": text}).status_code == 200
            counts.append(len(context.captured_queries))
    # Per request: session, user with its roles, the search, the log entry (the
    # idle clock held still: its touch is once a minute).
    assert counts == [4] * 6, counts
