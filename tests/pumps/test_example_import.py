"""Smoke test of the services on the worked example's pump E105 (ziconotide)."""

from datetime import date

import pytest

from pumps.choices import LimitedBy
from tests.factories import fill, make_pump

pytestmark = pytest.mark.django_db


def test_first_ziconotide_fill_is_limited_to_14_days_by_stability():
    pump = make_pump(model="synchromed_ii_40", implant_date=date(2026, 3, 1))
    fill(
        pump,
        on=date(2026, 3, 1),
        drug="ziconotide",
        concentration="25",
        concentration_unit="mcg/mL",
        daily_dose="1.2",
        dose_unit="mcg/day",
        volume_ml="20",
    )
    pump.refresh_from_db()
    assert pump.refill_alarm == date(2027, 3, 11)
    assert pump.refill_deadline == date(2026, 3, 15)
    assert pump.refill_due == date(2026, 3, 10)
    assert pump.refill_limited_by == LimitedBy.STABILITY
    assert pump.battery_window_opens == date(2031, 3, 1)
    assert pump.battery_window_closes == date(2033, 3, 1)
