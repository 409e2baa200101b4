"""Logging a refill in the browser form: prefill, refusals, warnings, once-only saving."""

import uuid
from datetime import date, time, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from patients import services as patient_services
from patients.choices import VisitKind, VisitStatus
from patients.roles import ADMINISTRATOR, NURSE, PHYSICIAN
from pumps.models import Pump, Refill
from tests.factories import UserFactory, fill, make_pump

pytestmark = pytest.mark.django_db


@pytest.fixture
def today() -> date:
    return timezone.localdate()


@pytest.fixture
def pump(today) -> Pump:
    """SynchroMed II 20 mL with baclofen 2000 mcg/mL at 400 mcg/day (0.2 mL/day),
    filled to 20 mL ten days ago: 18 mL expected today."""
    pump = make_pump(model="synchromed_ii_20", implant_date=today - timedelta(days=500))
    fill(
        pump,
        on=today - timedelta(days=10),
        drug="baclofen",
        concentration="2000",
        concentration_unit="mcg/mL",
        daily_dose="400",
        dose_unit="mcg/day",
        volume_ml="20",
    )
    pump.refresh_from_db()
    return pump


def url(pump: Pump) -> str:
    return reverse("pumps:log_refill", args=[pump.pk])


def form_data(today: date, **changes) -> dict[str, str]:
    data = {
        "refill_date": today.isoformat(),
        "drug": "baclofen",
        "concentration": "2000",
        "concentration_unit": "mcg/mL",
        "daily_dose": "400",
        "dose_unit": "mcg/day",
        "residual_ml": "18",
        "volume_ml": "20",
        "pain_score": "",
        "ashworth_score": "2",
        "notes": "",
        "submission_token": str(uuid.uuid4()),
    }
    data.update(changes)
    return data


def test_the_form_is_prefilled_from_the_current_fill_and_shows_the_expected_residual(
    nurse_client, pump
):
    response = nurse_client.get(url(pump))
    assert response.status_code == 200
    initial = response.context["form"].initial
    assert initial["drug"] == "baclofen"
    assert initial["concentration"] == "2000"
    assert initial["concentration_unit"] == "mcg/mL"
    assert initial["daily_dose"] == "400"
    assert initial["dose_unit"] == "mcg/day"
    assert response.context["expected"] == "18"
    html = response.content.decode()
    assert 'name="concentration" value="2000"' in html
    assert "Expected residual today" in html
    assert "This pump holds at most 20 mL." in html
    # Units are visible radio buttons, not hidden defaults.
    assert html.count('name="concentration_unit"') == 2
    assert html.count('name="dose_unit"') == 2


def test_a_first_fill_has_no_preset_unit(nurse_client, today):
    pump = make_pump()
    initial = nurse_client.get(url(pump)).context["form"].initial
    assert "concentration_unit" not in initial
    assert "dose_unit" not in initial


def test_a_clean_refill_saves_and_states_the_new_dates(nurse_client, pump, today):
    response = nurse_client.post(url(pump), form_data(today), follow=True)
    refill = Refill.objects.get(pump=pump, refill_date=today)
    assert response.redirect_chain[-1][0] == reverse("pumps:refill_saved", args=[refill.pk])
    pump.refresh_from_db()
    html = response.content.decode()
    assert f"{pump.refill_deadline:%A %-d %B %Y}" in html
    assert f"{pump.refill_due:%A %-d %B %Y}" in html
    assert f"{pump.refill_alarm:%A %-d %B %Y}" in html
    assert "Low-reservoir alarm" in html
    assert refill.recorded_by.username == "nurse"
    assert refill.ashworth_score == "2"


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        (
            {"volume_ml": "20.5"},
            "volume_ml",
            "20.5 mL is more than this pump's reservoir holds (20 mL).",
        ),
        (
            {"residual_ml": "21"},
            "residual_ml",
            "21 mL is more than this pump's reservoir holds (20 mL).",
        ),
        ({"concentration": "0"}, "concentration", "The concentration must be above zero."),
        ({"concentration": "-5"}, "concentration", "The concentration must be above zero."),
        ({"daily_dose": "-1"}, "daily_dose", "The daily dose cannot be negative."),
        ({"concentration_unit": ""}, "concentration_unit", "This field is required."),
        (
            {"dose_unit": "mg"},
            "dose_unit",
            "Select a valid choice. mg is not one of the available choices.",
        ),
        ({"concentration": "lots"}, "concentration", "Enter a number."),
        ({"refill_date": "31/12/2026"}, "refill_date", "Enter a valid date."),
        ({"volume_ml": ""}, "volume_ml", "This field is required."),
        ({"pain_score": "11"}, "pain_score", "Ensure this value is less than or equal to 10."),
    ],
)
def test_bad_input_is_refused_with_a_field_error_and_nothing_saved(
    nurse_client, pump, today, changes, field, message
):
    before = Refill.objects.count()
    response = nurse_client.post(url(pump), form_data(today, **changes))
    assert response.status_code == 200
    assert message in response.context["form"].errors[field]
    assert Refill.objects.count() == before


def test_a_refill_dated_tomorrow_is_refused(nurse_client, pump, today):
    response = nurse_client.post(
        url(pump), form_data(today, refill_date=str(today + timedelta(days=1)))
    )
    assert response.context["form"].errors["refill_date"] == [
        "The refill date cannot be in the future."
    ]


def test_a_refill_dated_before_the_previous_fill_is_refused(nurse_client, pump, today):
    response = nurse_client.post(
        url(pump), form_data(today, refill_date=str(today - timedelta(days=11)))
    )
    assert "A later refill is already recorded" in response.context["form"].errors["refill_date"][0]


def test_a_discrepancy_asks_for_confirmation_and_saves_once_confirmed(nurse_client, pump, today):
    data = form_data(today, residual_ml="15.9")  # 2.1 mL less than the 18 expected
    response = nurse_client.post(url(pump), data)
    assert response.status_code == 200
    assert not Refill.objects.filter(pump=pump, refill_date=today).exists()
    (warning,) = response.context["warnings"]
    assert "You withdrew 15.9 mL but about 18 mL was expected" in warning
    assert "leak" in warning
    digest = response.context["form"].data["warnings_digest"]
    response = nurse_client.post(url(pump), {**data, "confirm": "on", "warnings_digest": digest})
    refill = Refill.objects.get(pump=pump, refill_date=today)
    assert refill.discrepancy is True
    assert response.status_code == 302


def test_exactly_2_ml_off_saves_without_asking(nurse_client, pump, today):
    nurse_client.post(url(pump), form_data(today, residual_ml="16"))
    assert Refill.objects.get(pump=pump, refill_date=today).discrepancy is False


def test_confirming_one_warning_does_not_confirm_a_different_one(nurse_client, pump, today):
    first = nurse_client.post(url(pump), form_data(today, residual_ml="15"))
    digest = first.context["form"].data["warnings_digest"]
    response = nurse_client.post(
        url(pump), form_data(today, residual_ml="12", confirm="on", warnings_digest=digest)
    )
    assert response.status_code == 200
    assert "12 mL" in response.context["warnings"][0]
    assert not Refill.objects.filter(pump=pump, refill_date=today).exists()


def test_a_dose_change_above_30_percent_asks_for_confirmation(nurse_client, pump, today):
    response = nurse_client.post(url(pump), form_data(today, daily_dose="530"))
    assert response.context["warnings"] == [
        "The dose changes by 32 % from the last refill (400 mcg/day to 530 mcg/day)."
    ]
    assert nurse_client.post(url(pump), form_data(today, daily_dose="520")).status_code == 302


def test_a_baclofen_dose_in_the_wrong_unit_is_caught(nurse_client, pump, today):
    response = nurse_client.post(url(pump), form_data(today, dose_unit="mg/day"))
    warnings = response.context["warnings"]
    assert "400 mg/day is above the usual baclofen range" in warnings[0]
    assert "Check the dose and its unit" in warnings[0]
    assert "changes by 99900 %" in warnings[1]


def test_a_ziconotide_starting_dose_above_2_4_mcg_per_day_warns(nurse_client, today):
    pump = make_pump(model="synchromed_ii_40")
    data = form_data(
        today, drug="ziconotide", concentration="25", daily_dose="3", residual_ml="", volume_ml="20"
    )
    warnings = nurse_client.post(url(pump), data).context["warnings"]
    assert warnings == [
        "3 mcg/day is above the usual starting dose of ziconotide (2.4 mcg/day or less)."
    ]


def test_the_same_form_submitted_twice_saves_once(nurse_client, pump, today):
    data = form_data(today)
    first = nurse_client.post(url(pump), data)
    second = nurse_client.post(url(pump), data)
    assert Refill.objects.filter(pump=pump, refill_date=today).count() == 1
    assert first["Location"] == second["Location"]


def test_logging_a_refill_closes_the_booked_refill_visit(nurse_client, pump, today):
    visit = patient_services.book_visit(
        patient=pump.patient, pump=pump, kind=VisitKind.REFILL, day=today, at=time(10), today=today
    )
    nurse_client.post(url(pump), form_data(today))
    visit.refresh_from_db()
    assert visit.status == VisitStatus.DONE


def test_the_saved_page_offers_to_book_the_next_visit_on_the_due_date(nurse_client, pump, today):
    response = nurse_client.post(url(pump), form_data(today), follow=True)
    pump.refresh_from_db()
    book = reverse("patients:book_visit", args=[pump.patient_id])
    link = f"{book}?kind=refill&amp;day={pump.refill_due:%Y-%m-%d}"
    assert link in response.content.decode()


def test_eri_on_the_form_sets_the_battery_status(nurse_client, pump, today):
    nurse_client.post(url(pump), form_data(today, eri="on"))
    pump.refresh_from_db()
    assert pump.battery_status(today) == "eri"


def test_an_explanted_pump_has_no_refill_form(nurse_client, pump, today):
    Pump.objects.filter(pk=pump.pk).update(explant_date=today, explant_reason="infection")
    assert nurse_client.get(url(pump)).status_code == 404


@pytest.mark.parametrize(("role", "status"), [(NURSE, 200), (PHYSICIAN, 200), (ADMINISTRATOR, 403)])
def test_nurses_and_physicians_log_refills_administrators_do_not(client, pump, role, status):
    client.force_login(UserFactory(roles=[role]))
    assert client.get(url(pump)).status_code == status


def test_an_administrator_cannot_post_a_refill(client, pump, today):
    client.force_login(UserFactory(roles=[ADMINISTRATOR]))
    assert client.post(url(pump), form_data(today)).status_code == 403
    assert not Refill.objects.filter(pump=pump, refill_date=today).exists()
