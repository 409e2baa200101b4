"""Logging a refill in the browser form: prefill, refusals, warnings, once-only saving."""

import re
import uuid
from datetime import date, time, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from care import services as patient_services
from care.choices import VisitKind, VisitStatus
from core.roles import ADMINISTRATOR, NURSE, PHYSICIAN
from pumps import services
from pumps.models import Pump, Refill
from tests.factories import UserFactory, baclofen_pump, fill, make_pump

pytestmark = pytest.mark.django_db


@pytest.fixture
def today() -> date:
    return timezone.localdate()


@pytest.fixture
def pump(today) -> Pump:
    """SynchroMed II 20 mL with baclofen 2000 mcg/mL at 400 mcg/day (0.2 mL/day),
    filled to 20 mL ten days ago: 18 mL expected today."""
    pump = baclofen_pump(today=today, implanted_days_ago=500)
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
    assert response.context["expected"] == "about 18 mL"
    html = response.content.decode()
    assert 'name="concentration" value="2000"' in html
    assert "Expected about 18 mL today." in html
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
        (
            {"concentration": "lots"},
            "concentration",
            "“lots” cannot be read as one number: use digits and one decimal point or comma, "
            "without spaces or thousands separators (e.g. 12.5).",
        ),
        ({"refill_date": "31/12/2026"}, "refill_date", "Enter a valid date."),
        ({"volume_ml": ""}, "volume_ml", "This field is required."),
        ({"pain_score": "11"}, "pain_score", "Ensure this value is less than or equal to 10."),
        # Whole numbers are text boxes too: "7,5" reaches the server and is refused.
        ({"pain_score": "7,5"}, "pain_score", "Enter a whole number."),
        ({"boluses_per_day": "2,5"}, "boluses_per_day", "Enter a whole number."),
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
    tomorrow = today + timedelta(days=1)
    response = nurse_client.post(url(pump), form_data(today, refill_date=str(tomorrow)))
    assert response.context["form"].errors["refill_date"] == [
        f"{tomorrow} is after today ({today}): it has not happened yet."
    ]
    assert not Refill.objects.filter(pump=pump, refill_date=tomorrow).exists()


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


@pytest.mark.parametrize("residual", ["17", "19"])
def test_exactly_1_ml_off_in_a_20_ml_pump_saves_without_asking(nurse_client, pump, today, residual):
    """The SynchroMed II 20 mL model's threshold is 1.0 mL (section 4; it was 2 mL for all)."""
    assert nurse_client.post(url(pump), form_data(today, residual_ml=residual)).status_code == 302
    assert Refill.objects.get(pump=pump, refill_date=today).discrepancy is False


@pytest.mark.parametrize(("residual", "difference"), [("16.99", "less"), ("19.01", "more")])
def test_1_01_ml_off_in_a_20_ml_pump_must_be_confirmed(
    nurse_client, pump, today, residual, difference
):
    response = nurse_client.post(url(pump), form_data(today, residual_ml=residual))
    assert response.context["warnings"] == [
        f"You withdrew {residual} mL but about 18 mL was expected: 1.01 mL {difference} than "
        f"expected, so {LEAK if difference == 'less' else BLOCK}. Check the volume. If it is "
        "right, the refill will be flagged for physician review."
    ]
    assert not Refill.objects.filter(pump=pump, refill_date=today).exists()
    saved = confirm(nurse_client, pump, response, form_data(today, residual_ml=residual))
    assert saved.discrepancy is True


LEAK = "there may be a leak, or an earlier pocket fill"
BLOCK = "the catheter may be blocked or kinked, or the pump may have stalled"


def confirm(client, pump, response, data) -> Refill:
    """Post the same values again with the confirm box ticked, as the nurse does."""
    digest = response.context["form"].data["warnings_digest"]
    assert 'name="confirm"' in response.content.decode()
    again = client.post(url(pump), {**data, "confirm": "on", "warnings_digest": digest})
    assert again.status_code == 302, again.context["form"].errors
    return Refill.objects.get(
        pump=pump, refill_date=data["refill_date"], entered_in_error_at__isnull=True
    )


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


def test_a_baclofen_dose_in_the_wrong_unit_is_refused(nurse_client, pump, today):
    """400 mg/day at 2000 mcg/mL is 200 mL a day: section 8 refuses it (it used to warn)."""
    response = nurse_client.post(url(pump), form_data(today, dose_unit="mg/day"))
    assert response.context["form"].errors["daily_dose"] == [
        "The daily volume would be 200 mL a day, above the 10 mL a day any pump programme "
        "runs: check the dose, the concentration and their units."
    ]
    assert not Refill.objects.filter(pump=pump, refill_date=today).exists()


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


def test_an_explanted_pump_has_no_refill_form_but_says_why(nurse_client, pump, today):
    Pump.objects.filter(pk=pump.pk).update(explant_date=today, explant_reason="infection")
    response = nurse_client.get(url(pump))
    assert response.status_code == 200
    html = response.content.decode()
    assert f"Pump {pump.serial} was explanted on {today:%-d %B %Y}" in html
    assert 'id="refill-form"' not in html
    assert "has no active pump recorded" in html


def test_an_unknown_pump_is_still_a_404(nurse_client, pump):
    assert nurse_client.get(reverse("pumps:log_refill", args=[pump.pk + 1000])).status_code == 404


@pytest.mark.parametrize(("role", "status"), [(NURSE, 200), (PHYSICIAN, 200), (ADMINISTRATOR, 403)])
def test_nurses_and_physicians_log_refills_administrators_do_not(client, pump, role, status):
    client.force_login(UserFactory(roles=[role]))
    assert client.get(url(pump)).status_code == status


def test_an_administrator_cannot_post_a_refill(client, pump, today):
    client.force_login(UserFactory(roles=[ADMINISTRATOR]))
    assert client.post(url(pump), form_data(today)).status_code == 403
    assert not Refill.objects.filter(pump=pump, refill_date=today).exists()


# --- Decimal input (section 8): a comma is a point, nothing ambiguous is guessed ----------


def test_a_decimal_comma_saves_the_number_typed(nurse_client, pump, today):
    response = nurse_client.post(
        url(pump), form_data(today, volume_ml="12,5", residual_ml="17,95", daily_dose="400,0")
    )
    assert response.status_code == 302
    refill = Refill.objects.get(pump=pump, refill_date=today)
    assert refill.volume_ml == Decimal("12.5")
    assert refill.residual_ml == Decimal("17.95")
    assert refill.daily_dose == Decimal("400")


@pytest.mark.parametrize("field", ["concentration", "daily_dose", "residual_ml", "volume_ml"])
@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("1.234,5", "“1.234,5” cannot be read as one number"),
        ("1,234.5", "“1,234.5” cannot be read as one number"),
        ("12.5.1", "“12.5.1” cannot be read as one number"),
        ("12,500", "“12,500” could mean 12.500 or 12500: type 12.5 or 12500 without a comma."),
        ("12\u200b5", "“12U+200B5” cannot be read as one number"),
    ],
)
def test_a_number_that_reads_two_ways_is_a_field_error_and_saves_nothing(
    nurse_client, pump, today, field, typed, message
):
    before = Refill.objects.count()
    response = nurse_client.post(url(pump), form_data(today, **{field: typed}))
    assert response.status_code == 200
    (error,) = response.context["form"].errors[field]
    assert error.startswith(message)
    assert Refill.objects.count() == before


def test_decimal_fields_are_text_boxes_with_a_decimal_keypad(nurse_client, pump):
    html = nurse_client.get(url(pump)).content.decode()
    for name in ("concentration", "daily_dose", "bolus_dose", "residual_ml", "volume_ml"):
        tag = re.search(rf'<input[^>]*name="{name}"[^>]*>', html).group(0)
        assert 'type="text"' in tag, tag
        assert 'inputmode="decimal"' in tag, tag


@pytest.mark.parametrize(
    ("field", "typed", "message"),
    [
        ("volume_ml", "12.345", "Use at most 2 decimal places (12.345 has 3)."),
        (
            "concentration",
            "123456789",
            "Ensure that there are no more than 8 digits before the decimal point.",
        ),
        ("boluses_per_day", "100", "Ensure this value is less than or equal to 99."),
    ],
)
def test_numbers_the_columns_cannot_hold_are_field_errors(
    nurse_client, pump, today, field, typed, message
):
    response = nurse_client.post(url(pump), form_data(today, **{field: typed}))
    assert response.status_code == 200
    assert response.context["form"].errors[field] == [message]


# --- Refusals (section 8), each naming the field, the number and its unit ------------------


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        (
            {"concentration": "2000", "concentration_unit": "mg/mL"},
            "concentration",
            "2000 mg/mL is outside the accepted baclofen concentrations (from 0.05 to 4 mg/mL). "
            "2000 mg/mL is 2000000 mcg/mL: check the unit (mg/mL or mcg/mL).",
        ),
        (
            {"concentration": "49", "concentration_unit": "mcg/mL", "daily_dose": "40"},
            "concentration",
            "49 mcg/mL is outside the accepted baclofen concentrations (from 50 to 4000 mcg/mL). "
            "49 mcg/mL is 0.049 mg/mL: check the unit (mg/mL or mcg/mL).",
        ),
        (
            {"daily_dose": "20002"},  # 10.001 mL a day
            "daily_dose",
            "The daily volume would be 10.001 mL a day, above the 10 mL a day any pump "
            "programme runs: check the dose, the concentration and their units.",
        ),
        (
            {"volume_ml": "3", "daily_dose": "4000"},  # 2 mL a day, 1 mL above the alarm
            "daily_dose",
            "The daily volume (2 mL a day) would empty the reservoir to its alarm within a "
            "day: check the dose, the concentration and their units.",
        ),
        (
            {"bolus_dose": "1000", "boluses_per_day": "19"},  # (400 + 19 000) / 2000 = 9.7
            "volume_ml",
            None,  # 9.7 mL a day is allowed; the alarm at 18 / 9.7 days only asks to confirm
        ),
        (
            {"bolus_dose": "1000", "boluses_per_day": "20"},  # 10.2 mL a day with boluses
            "daily_dose",
            "The daily volume with every allowed bolus would be 10.2 mL a day, above the 10 mL "
            "a day any pump programme runs: check the dose, the concentration and their units.",
        ),
        (
            {"volume_ml": "20.01"},
            "volume_ml",
            "20.01 mL is more than this pump's reservoir holds (20 mL).",
        ),
        (
            {"volume_ml": "1.99"},
            "volume_ml",
            "1.99 mL is below this pump's low-reservoir alarm (2 mL): the pump would alarm at "
            "once. Enter the volume in the pump after the fill.",
        ),
        (
            {"bolus_dose": "50"},
            "boluses_per_day",
            "Enter how many boluses the patient may take a day: the refill date assumes every "
            "allowed bolus is taken.",
        ),
        (
            {"bolus_dose": "50", "boluses_per_day": "0"},
            "boluses_per_day",
            "Enter how many boluses the patient may take a day: the refill date assumes every "
            "allowed bolus is taken.",
        ),
        (
            {"refill_date": "1899-12-31"},
            "refill_date",
            "1899-12-31 is outside the dates this app accepts (1900-01-01 to 2100-12-31).",
        ),
        (
            {"refill_date": "2101-01-01"},
            "refill_date",
            "2101-01-01 is outside the dates this app accepts (1900-01-01 to 2100-12-31).",
        ),
    ],
)
def test_section_8_refusals_name_the_field_number_and_unit(
    nurse_client, pump, today, changes, field, message
):
    before = Refill.objects.count()
    response = nurse_client.post(url(pump), form_data(today, **changes))
    assert response.status_code == 200
    errors = response.context["form"].errors
    if message is None:  # the boundary just inside: no refusal, a confirmation
        assert not errors
        assert response.context["warnings"]
    else:
        assert errors[field] == [message]
    assert Refill.objects.count() == before


# --- Confirmations (section 8): shown, and they must be ticked to save ----------------------


def test_a_unit_slip_is_shown_in_both_units_and_must_be_confirmed(nurse_client, today):
    pump = make_pump(implant_date=today - timedelta(days=300))
    fill(pump, on=today - timedelta(days=10))  # morphine 20 mg/mL, 4 mg/day: 0.2 mL/day
    data = form_data(
        today,
        drug="morphine",
        concentration="2",
        concentration_unit="mg/mL",
        daily_dose="4",
        dose_unit="mg/day",
    )
    response = nurse_client.post(url(pump), data)
    assert response.context["warnings"] == [
        "2 mg/mL is 2000 mcg/mL; the last fill was 20 mg/mL. A tenfold change looks like a "
        "unit slip.",
        "The pump would run 2 mL a day; the last fill ran 0.2 mL a day. A tenfold change looks "
        "like a unit slip.",
        "This fill reaches the low-reservoir alarm in 9 days, sooner than 14 days: check the "
        "volume, the dose and their units.",
    ]
    assert "2 mg/mL is 2000 mcg/mL; the last fill was 20 mg/mL" in response.content.decode()
    # Saving again without the tick asks again and saves nothing.
    digest = response.context["form"].data["warnings_digest"]
    unticked = nurse_client.post(url(pump), {**data, "warnings_digest": digest})
    assert unticked.status_code == 200
    assert not Refill.objects.filter(pump=pump, refill_date=today).exists()
    assert confirm(nurse_client, pump, response, data).concentration == Decimal("2")


def test_a_dose_outside_the_plausible_range_must_be_confirmed(nurse_client, pump, today):
    data = form_data(today, daily_dose="2100")
    response = nurse_client.post(url(pump), data)
    assert response.context["warnings"] == [
        "2.1 mg/day is above the usual baclofen range (warning over 2 mg/day). Check the dose "
        "and its unit.",
        "The dose changes by 425 % from the last refill (0.4 mg/day to 2.1 mg/day).",
    ]
    assert not Refill.objects.filter(pump=pump, refill_date=today).exists()
    assert confirm(nurse_client, pump, response, data).daily_dose == Decimal("2100")


def test_fewer_than_14_days_to_the_alarm_must_be_confirmed(nurse_client, pump, today):
    # 0.2 mL a day above a 2 mL alarm: 4.6 mL lasts 13 days, 4.8 mL lasts 14.
    assert nurse_client.post(url(pump), form_data(today, volume_ml="4.8")).status_code == 302
    void(pump, today)
    data = form_data(today, volume_ml="4.6")
    response = nurse_client.post(url(pump), data)
    assert response.context["warnings"] == [
        "This fill reaches the low-reservoir alarm in 13 days, sooner than 14 days: check the "
        "volume, the dose and their units."
    ]
    assert confirm(nurse_client, pump, response, data).volume_ml == Decimal("4.6")


def void(pump: Pump, day: date) -> None:
    """Mark the day's refill entered in error (section 9), to try other values that day."""
    services.mark_refill_entered_in_error(
        refill=Refill.objects.get(pump=pump, refill_date=day),
        user=UserFactory(roles=[NURSE]),
        reason="test: try again",
        now=timezone.now(),
    )


# --- Boluses (sections 2 to 4) ---------------------------------------------------------------


def test_the_alarm_date_assumes_every_allowed_bolus_is_taken(nurse_client, pump, today):
    # 400 + 4 x 50 = 600 mcg/day at 2000 mcg/mL: 0.3 mL/day; (20 - 2) / 0.3 = 60 days.
    response = nurse_client.post(url(pump), form_data(today, bolus_dose="50", boluses_per_day="4"))
    assert response.status_code == 302
    refill = Refill.objects.get(pump=pump, refill_date=today)
    assert (refill.bolus_dose, refill.boluses_per_day) == (Decimal("50"), 4)
    pump.refresh_from_db()
    assert pump.refill_alarm == today + timedelta(days=60)
    saved = nurse_client.get(reverse("pumps:refill_saved", args=[refill.pk])).content.decode()
    assert "Boluses: up to 4 a day of 50 mcg." in saved


def test_the_bolus_allowance_is_offered_again_and_the_residual_is_a_range(nurse_client, today):
    pump = make_pump(implant_date=today - timedelta(days=300))
    fill(
        pump,
        on=today - timedelta(days=10),
        drug="baclofen",
        concentration="2000",
        concentration_unit="mcg/mL",
        daily_dose="400",
        dose_unit="mcg/day",
        bolus_dose="50",
        boluses_per_day=4,
    )
    response = nurse_client.get(url(pump))
    initial = response.context["form"].initial
    assert (initial["bolus_dose"], initial["boluses_per_day"]) == ("50", 4)
    # 20 mL less 10 days at 0.2 (no bolus) or 0.3 (every bolus) mL/day.
    assert response.context["expected"] == "between 17 and 18 mL"
    assert "Expected between 17 and 18 mL today." in response.content.decode()
    # Inside the range is no discrepancy; 1.01 mL below its low end is.
    assert nurse_client.post(url(pump), form_data(today, residual_ml="17")).status_code == 302
    void(pump, today)
    response = nurse_client.post(url(pump), form_data(today, residual_ml="15.99"))
    assert "but between 17 and 18 mL was expected: 1.01 mL less" in response.context["warnings"][0]


# --- A stale form and the submission token --------------------------------------------------


def test_a_form_submitted_after_the_pump_was_replaced_says_so_and_keeps_the_values(
    nurse_client, pump, today
):
    services.explant_pump(pump=pump, explant_date=today, reason="battery_end_of_life", today=today)
    new = make_pump(patient=pump.patient, implant_date=today, serial="NEW-0001")
    data = form_data(today, volume_ml="19,5", notes="Pocket fine")
    response = nurse_client.post(url(pump), data)
    assert response.status_code == 409
    html = response.content.decode()
    assert f"Pump {pump.serial} was explanted on {today:%-d %B %Y}" in html
    assert f'href="{url(new)}"' in html
    assert "19,5" in html
    assert "Pocket fine" in html
    assert not Refill.objects.filter(refill_date=today).exists()


def test_a_token_spent_on_another_pumps_refill_is_refused(nurse_client, pump, today):
    other = make_pump(implant_date=today - timedelta(days=100))
    data = form_data(today, volume_ml="19")
    assert nurse_client.post(url(other), data).status_code == 302
    response = nurse_client.post(url(pump), data)
    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [
        "This form was already used to save another refill, so nothing was saved. Check the "
        "values below and save again."
    ]
    assert not Refill.objects.filter(pump=pump, refill_date=today).exists()
    fresh = response.context["form"].data["submission_token"]
    assert fresh != data["submission_token"]
    # With the fresh token the same values save.
    assert nurse_client.post(url(pump), {**data, "submission_token": fresh}).status_code == 302


def test_a_token_spent_by_another_user_is_refused(client, nurse_client, pump, today):
    data = form_data(today)
    assert nurse_client.post(url(pump), data).status_code == 302
    client.force_login(UserFactory(roles=[NURSE]))
    response = client.post(url(pump), data)
    assert response.status_code == 200
    assert "already used to save another refill" in response.content.decode()
    assert Refill.objects.filter(pump=pump, refill_date=today).count() == 1


# --- ERI replace-by (section 5) ---------------------------------------------------------------


def test_the_form_shows_when_the_battery_stops(nurse_client, pump, today):
    services.record_eri(pump=pump, seen_on=today - timedelta(days=80), today=today)
    stops = today + timedelta(days=10)
    html = nurse_client.get(url(pump)).content.decode()
    assert f"ERI: the battery stops about {stops:%-d %B %Y}: replace the pump by then." in html


def test_a_due_date_after_the_battery_stops_is_marked(nurse_client, pump, today):
    services.record_eri(pump=pump, seen_on=today - timedelta(days=80), today=today)
    response = nurse_client.post(url(pump), form_data(today), follow=True)
    pump.refresh_from_db()
    assert pump.refill_due > pump.eri_replace_by
    assert "the battery stops before this date" in response.content.decode()


def test_a_due_date_before_the_battery_stops_is_not_marked(nurse_client, pump, today):
    response = nurse_client.post(url(pump), form_data(today), follow=True)
    assert "the battery stops before this date" not in response.content.decode()
    services.record_eri(pump=pump, seen_on=today, today=today)
    pump.refresh_from_db()
    assert pump.refill_due < pump.eri_replace_by
    refill = pump.latest_fill
    page = nurse_client.get(reverse("pumps:refill_saved", args=[refill.pk])).content.decode()
    assert "the battery stops before this date" not in page


# --- Query counts -------------------------------------------------------------------------------


def test_the_refill_form_costs_a_fixed_number_of_queries(
    nurse_client, pump, today, django_assert_num_queries, idle_clock_still
):
    """At most 15 a request, the view log's entry (issue 13) included (issue 11):
    a new query here is a choice, not an accident."""
    nurse_client.get(url(pump))  # the session's first save is not the page's
    with django_assert_num_queries(GET_QUERIES):
        assert nurse_client.get(url(pump)).status_code == 200
    with django_assert_num_queries(POST_WARNING_QUERIES):
        response = nurse_client.post(url(pump), form_data(today, residual_ml="5"))
        assert response.status_code == 200
        assert response.context["warnings"]
    with django_assert_num_queries(POST_SAVE_QUERIES):
        assert nurse_client.post(url(pump), form_data(today)).status_code == 302


# GET:
#  1. the session
#  2. the user, with its roles (core.roles.StaffBackend)
#  3. the pump, with its patient, model, latest fill and that fill's drug
#  4. the dose changes since the latest fill (the expected residual)
#  5. the drugs, for the select
#  6. the view log's entry (one INSERT, the patient read inside it)
GET_QUERIES = 6
# POST that asks to confirm a warning:
#  1-2. session, user with its roles
#  3. the drug chosen (the form's conversion)
#  4. the schedule policy, read once for the warnings and the save
#  5. SAVEPOINT (the service's transaction; BEGIN in production, not counted)
#  6. the pump, locked, with its patient and model
#  7. its latest fills in force, or the refill this form's token already saved
#  8. the dose changes since the previous fill (residual check, new schedule)
#  9. RELEASE SAVEPOINT (COMMIT in production)
# 10. the drugs, for the select on the page shown again
# 11. the view log's entry
POST_WARNING_QUERIES = 11
# POST that saves:
#  1-8 as above, then
#  9. INSERT the refill
# 10. INSERT its history row
# 11. the pump's booked refill visits, locked (the one this refill fulfils is closed)
# 12. UPDATE the pump's schedule (with its ERI date when the fill saw ERI)
# 13. INSERT the pump's history row
# 14. RELEASE SAVEPOINT
# 15. the view log's entry
POST_SAVE_QUERIES = 15


def test_the_schedule_policy_is_read_once_per_submitted_form(nurse_client, pump, today):
    from unittest import mock

    from pumps.models import SchedulePolicy

    with mock.patch.object(SchedulePolicy, "current", wraps=SchedulePolicy.current) as current:
        nurse_client.get(url(pump))
        assert current.call_count == 0  # the empty form needs no policy
        nurse_client.post(url(pump), form_data(today, residual_ml="5"))  # warnings
        assert current.call_count == 1
        assert nurse_client.post(url(pump), form_data(today)).status_code == 302
        assert current.call_count == 2


def test_no_clinical_number_on_the_refill_form_is_a_browser_number_box(nurse_client, pump):
    """A type=number box drops a decimal comma before the server sees it (issue 12)."""
    import re

    page = nurse_client.get(url(pump)).content.decode()
    assert 'type="number"' not in page
    for name in ("concentration", "daily_dose", "bolus_dose", "residual_ml", "volume_ml"):
        (tag,) = re.findall(rf'<input[^>]*name="{name}"[^>]*>', page)
        assert 'type="text"' in tag
        assert 'inputmode="decimal"' in tag
