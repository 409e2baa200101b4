"""The due list of docs/interfaces.md: order, --flagged, JSON, CSV and HTTP."""

import csv
import io
import json
from datetime import UTC, date, datetime

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from core.roles import NURSE, PHYSICIAN
from pumps import services
from tests.factories import FAR_FUTURE, PatientFactory, UserFactory, fill, make_pump

pytestmark = pytest.mark.django_db

D = date.fromisoformat
AS_OF = "2026-04-06"


def due_list(*args: str) -> str:
    out = io.StringIO()
    call_command("due_list", "--as-of", AS_OF, *args, stdout=out)
    return out.getvalue()


def serials(*args: str) -> list[str]:
    return [item["serial"] for item in json.loads(due_list(*args))]


def morphine(pump, on, volume="40", daily_dose="4", residual=None):
    # 20 mg/mL at 4 mg/day = 0.2 mL/day; stability 90 days.
    return fill(pump, on=D(on), volume_ml=volume, daily_dose=daily_dose, residual_ml=residual)


@pytest.fixture
def clinic():
    """One pump per rank of the due list on 2026-04-06, plus ties and the rest."""

    def pump(serial, *, implant="2024-01-01", model="synchromed_ii_40"):
        return make_pump(
            serial=serial,
            implant_date=D(implant),
            model=model,
            patient=PatientFactory(mrn=f"MRN-{serial}"),
        )

    # refill overdue: deadline 2026-04-01 (stability: filled 2026-01-01)
    morphine(pump("R-OVERDUE-B"), "2026-01-01")
    morphine(pump("R-OVERDUE-A"), "2026-01-01")  # same deadline: serial decides
    morphine(pump("R-OVERDUE-0"), "2025-12-31")  # earlier deadline comes first
    # battery ERI with refill ok
    eri = pump("B-ERI")
    morphine(eri, "2026-03-30")
    services.record_eri(pump=eri, seen_on=D("2026-03-30"), today=FAR_FUTURE)
    # refill due: deadline 2026-04-08
    morphine(pump("R-DUE"), "2026-01-08")
    # battery overdue: implanted 2019-01-01 closes 2026-01-01, refill ok
    morphine(pump("B-OVERDUE", implant="2019-01-01"), "2026-03-30")
    # refill upcoming: deadline 2026-04-20, due 2026-04-15
    morphine(pump("R-UPCOMING"), "2026-01-20")
    # battery window: implanted 2021-01-01, refill ok
    morphine(pump("B-WINDOW", implant="2021-01-01"), "2026-03-30")
    # refill unknown: never filled, battery ok
    pump("R-UNKNOWN")
    # the rest: refill ok, battery ok / not applicable
    morphine(pump("REST-LATE"), "2026-03-30")
    morphine(pump("REST-EARLY", model="codman_3000"), "2026-03-01", volume="30")
    # explanted: on no list at all
    gone = pump("GONE")
    morphine(gone, "2026-01-01")
    services.explant_pump(
        pump=gone, explant_date=D("2026-02-01"), reason="infection", today=FAR_FUTURE
    )


def test_the_due_list_is_in_the_documented_order(clinic):
    assert serials() == [
        "R-OVERDUE-0",
        "R-OVERDUE-A",
        "R-OVERDUE-B",
        "B-ERI",
        "R-DUE",
        "B-OVERDUE",
        "R-UPCOMING",
        "B-WINDOW",
        "R-UNKNOWN",
        "REST-EARLY",
        "REST-LATE",
    ]


def test_flagged_leaves_out_pumps_with_nothing_to_do(clinic):
    assert serials("--flagged") == [
        "R-OVERDUE-0",
        "R-OVERDUE-A",
        "R-OVERDUE-B",
        "B-ERI",
        "R-DUE",
        "B-OVERDUE",
        "R-UPCOMING",
        "B-WINDOW",
        "R-UNKNOWN",
    ]


def test_an_explanted_pump_leaves_the_list(clinic):
    assert "GONE" not in serials()


def test_a_never_filled_pump_has_null_dates_and_stays_on_the_list(clinic):
    entry = next(i for i in json.loads(due_list()) if i["serial"] == "R-UNKNOWN")
    assert entry["drug"] is None
    assert entry["refill"] == {
        "status": "unknown",
        "due": None,
        "deadline": None,
        "alarm": None,
        "limited_by": None,
        "urgent": False,
    }


def test_a_pump_without_battery_has_null_window_dates(clinic):
    entry = next(i for i in json.loads(due_list()) if i["serial"] == "REST-EARLY")
    assert entry["battery"] == {
        "status": "not_applicable",
        "window_opens": None,
        "window_closes": None,
        "replace_by": None,
    }


@pytest.mark.parametrize(
    ("fill_date", "status", "urgent"),
    [
        ("2025-10-07", "overdue", True),  # deadline 2026-04-05, the day before
        ("2025-10-08", "due", True),  # deadline is the day itself
        ("2025-10-13", "due", True),  # due is the day itself
        ("2025-10-14", "upcoming", False),
        ("2026-01-01", "ok", False),
    ],
)
def test_an_overdue_or_due_baclofen_refill_is_urgent(fill_date, status, urgent):
    pump = make_pump(model="synchromed_ii_40")
    # 2000 mcg/mL at 100 mcg/day = 0.05 mL/day: the 180-day stability limit decides.
    fill(
        pump,
        on=D(fill_date),
        drug="baclofen",
        concentration="2000",
        concentration_unit="mcg/mL",
        daily_dose="100",
        dose_unit="mcg/day",
        volume_ml="40",
    )
    (entry,) = json.loads(due_list())
    assert entry["refill"]["status"] == status
    assert entry["refill"]["urgent"] is urgent


def test_an_overdue_morphine_refill_is_not_marked_urgent():
    morphine(make_pump(), "2025-12-01", volume="20")
    (entry,) = json.loads(due_list())
    assert entry["refill"]["status"] == "overdue"
    assert entry["refill"]["urgent"] is False


def test_discrepancy_is_true_while_the_latest_flag_is_unsigned():
    pump = make_pump(model="synchromed_ii_40")
    morphine(pump, "2026-03-01")
    refill = morphine(pump, "2026-03-11", residual="30")  # expected 38
    assert json.loads(due_list())[0]["discrepancy"] is True
    services.sign_off_discrepancy(
        refill=refill,
        user=UserFactory(roles=[PHYSICIAN]),
        comment="seen",
        now=datetime(2026, 4, 6, tzinfo=UTC),
    )
    assert json.loads(due_list())[0]["discrepancy"] is False


def test_csv_has_the_same_fields_flattened_with_underscores(clinic):
    rows = list(csv.DictReader(io.StringIO(due_list("--format", "csv"))))
    items = json.loads(due_list())
    assert [row["serial"] for row in rows] == [item["serial"] for item in items]
    assert list(rows[0]) == [
        "mrn",
        "serial",
        "pump_model",
        "drug",
        "refill_status",
        "refill_due",
        "refill_deadline",
        "refill_alarm",
        "refill_limited_by",
        "refill_urgent",
        "battery_status",
        "battery_window_opens",
        "battery_window_closes",
        "battery_replace_by",
        "discrepancy",
    ]
    first = rows[0]
    assert first["refill_status"] == "overdue"
    assert first["refill_deadline"] == "2026-03-31"
    unknown = next(row for row in rows if row["serial"] == "R-UNKNOWN")
    assert unknown["refill_due"] == ""
    assert unknown["discrepancy"] == "false"


def test_as_of_defaults_to_the_clinics_local_today(clinic, settings, monkeypatch):
    from django.utils import timezone

    monkeypatch.setattr(timezone, "localdate", lambda *a, **k: D(AS_OF))
    out = io.StringIO()
    call_command("due_list", stdout=out)
    assert json.loads(out.getvalue()) == json.loads(due_list())


def test_a_bad_as_of_date_is_refused_with_a_clear_message():
    with pytest.raises(CommandError, match="--as-of: '2026-13-01' is not a date"):
        call_command("due_list", "--as-of", "2026-13-01")


# --- Over HTTP --------------------------------------------------------------------


def test_the_http_due_list_matches_the_command(client, clinic):
    client.force_login(UserFactory(roles=[NURSE]))
    response = client.get(reverse("pumps:due_list_json"), {"as_of": AS_OF})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == json.loads(due_list())
    flagged = client.get(reverse("pumps:due_list_json"), {"as_of": AS_OF, "flagged": "1"})
    assert flagged.json() == json.loads(due_list("--flagged"))


def test_the_http_due_list_needs_a_signed_in_staff_member(client, clinic):
    response = client.get(reverse("pumps:due_list_json"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    client.force_login(UserFactory(username="no-role"))
    assert client.get(reverse("pumps:due_list_json")).status_code == 403


def test_a_bad_as_of_over_http_is_a_400_with_a_message(client):
    client.force_login(UserFactory(roles=[NURSE]))
    response = client.get(reverse("pumps:due_list_json"), {"as_of": "yesterday"})
    assert response.status_code == 400
    assert "YYYY-MM-DD" in response.json()["error"]
