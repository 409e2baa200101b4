"""The refill form's decisions without a browser: pumps.refill_entry.submit_refill."""

import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import NON_FIELD_ERRORS

from pumps import refill_entry, services
from pumps.models import Drug, Pump, Refill, SchedulePolicy
from tests.factories import UserFactory, baclofen_pump

pytestmark = pytest.mark.django_db

TODAY = date(2026, 6, 1)


@pytest.fixture
def pump() -> Pump:
    """20 mL, baclofen 2000 mcg/mL at 400 mcg/day (0.2 mL/day), 20 mL ten days ago."""
    return baclofen_pump(today=TODAY, implanted_days_ago=500)


@pytest.fixture
def nurse():
    return UserFactory()


def a_fill(**changes) -> services.Fill:
    values = {
        "refill_date": TODAY,
        "drug": Drug.objects.get(code="baclofen"),
        "concentration": Decimal("2000"),
        "concentration_unit": "mcg/mL",
        "daily_dose": Decimal("400"),
        "dose_unit": "mcg/day",
        "volume_ml": Decimal("20"),
        "residual_ml": Decimal("18"),
    }
    values.update(changes)
    return services.Fill(**values)


def submit(pump: Pump, user, *, token=None, confirmed_digest=None, **changes):
    return refill_entry.submit_refill(
        pump_id=pump.pk,
        fill=a_fill(**changes),
        token=token or uuid.uuid4(),
        confirmed_digest=confirmed_digest,
        user=user,
        today=TODAY,
        policy=SchedulePolicy.current(),
    )


def test_a_clean_fill_is_saved_and_the_pump_moves_on(pump, nurse):
    outcome = submit(pump, nurse)
    assert outcome.saved is not None
    assert not outcome.already_saved
    pump.refresh_from_db()
    assert pump.latest_fill_id == outcome.saved.pk
    assert pump.refill_alarm == TODAY + timedelta(days=90)  # (20 - 2) / 0.2


def test_warnings_are_returned_until_exactly_they_are_confirmed(pump, nurse):
    token = uuid.uuid4()
    outcome = submit(pump, nurse, token=token, residual_ml=Decimal("5"))
    assert outcome.saved is None
    assert any("You withdrew 5 mL" in w for w in outcome.warnings_to_confirm)
    assert outcome.entry.expected_text == "about 18 mL"
    digest = refill_entry.warnings_digest(outcome.warnings_to_confirm)
    wrong = submit(pump, nurse, token=token, residual_ml=Decimal("6"), confirmed_digest=digest)
    assert wrong.saved is None
    assert wrong.warnings_to_confirm
    saved = submit(pump, nurse, token=token, residual_ml=Decimal("5"), confirmed_digest=digest)
    assert saved.saved is not None
    assert saved.saved.discrepancy


def test_refusals_come_by_field_and_nothing_is_saved(pump, nurse):
    outcome = submit(pump, nurse, volume_ml=Decimal("25"))
    assert outcome.refusals == {
        "volume_ml": ["25 mL is more than this pump's reservoir holds (20 mL)."]
    }
    assert not Refill.objects.filter(pump=pump, refill_date=TODAY).exists()


def test_a_second_submission_of_one_form_is_already_saved(pump, nurse):
    token = uuid.uuid4()
    first = submit(pump, nurse, token=token)
    again = submit(pump, nurse, token=token)
    assert again.already_saved
    assert again.saved == first.saved
    assert Refill.objects.filter(pump=pump).count() == 2


def test_a_token_spent_by_another_user_is_refused_with_a_fresh_token_asked_for(pump, nurse):
    token = uuid.uuid4()
    submit(pump, nurse, token=token)
    outcome = submit(pump, UserFactory(), token=token)
    assert outcome.token_spent
    assert outcome.saved is None
    assert outcome.refusals[NON_FIELD_ERRORS] == [refill_entry.TOKEN_SPENT]


def test_an_explanted_pump_is_a_stale_form(pump, nurse):
    services.explant_pump(pump=pump, explant_date=TODAY, reason="battery_end_of_life", today=TODAY)
    outcome = submit(pump, nurse)
    assert outcome.stale_pump
    assert outcome.saved is None
    assert not Refill.objects.filter(pump=pump, refill_date=TODAY).exists()


def test_an_unknown_pump_raises_does_not_exist(nurse):
    with pytest.raises(Pump.DoesNotExist):
        submit(Pump(pk=999_999), nurse)


def test_the_expected_residual_counts_a_dose_change_since_the_last_fill(pump, nurse):
    services.adjust_dose(
        pump=pump,
        adjusted_on=TODAY - timedelta(days=5),
        daily_dose=Decimal("800"),
        dose_unit="mcg/day",
        today=TODAY,
    )
    # 20 - 5 x 0.2 - 5 x 0.4 = 17 mL
    pump = Pump.objects.with_list_relations().get(pk=pump.pk)
    assert refill_entry.open_refill(pump, today=TODAY).expected_text == "about 17 mL"
    outcome = submit(pump, nurse, residual_ml=Decimal("17"))
    assert outcome.saved is not None
    assert not outcome.saved.discrepancy
