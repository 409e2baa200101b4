"""The SQL status annotation and the Python rule agree on the same data (style.md 4)."""

from datetime import date, timedelta

import pytest

from pumps import services
from pumps.models import Pump
from tests.factories import FAR_FUTURE, fill, make_pump

pytestmark = pytest.mark.django_db

D = date.fromisoformat


@pytest.fixture
def registry():
    """Pumps in every state: never filled, each drug limit, ERI, no battery, explanted."""
    make_pump(implant_date=D("2021-03-01"))  # never filled
    make_pump(model="codman_3000", implant_date=D("2012-05-05"))
    # Each concentration inside its drug's accepted range (clinical-rules.md 2).
    concentrations = {"morphine": "1000", "baclofen": "500", "ziconotide": "25"}
    for offset, drug in enumerate(["morphine", "baclofen", "ziconotide", "hydromorphone"]):
        pump = make_pump(
            model="synchromed_ii_40", implant_date=D("2019-06-20") + timedelta(days=offset * 200)
        )
        fill(
            pump,
            on=D("2026-01-01") + timedelta(days=offset * 9),
            drug=drug,
            concentration=concentrations.get(drug, "1000"),
            concentration_unit="mcg/mL",
            daily_dose=str(offset + 1),
            dose_unit="mcg/day",
            volume_ml="40",
        )
    eri_pump = make_pump(model="prometra_ii_20", implant_date=D("2025-09-01"))
    fill(eri_pump, on=D("2026-03-20"), drug="hydromorphone", concentration="5", daily_dose="0.6")
    services.record_eri(pump=eri_pump, seen_on=D("2026-03-20"), today=FAR_FUTURE)
    gone = make_pump(implant_date=D("2018-01-01"))
    services.explant_pump(pump=gone, explant_date=D("2025-01-01"), reason="other", today=FAR_FUTURE)


def test_sql_and_python_statuses_agree_on_every_day_of_two_years(registry):
    lookahead = 14
    pumps = list(Pump.objects.all())
    day = D("2025-06-01")
    compared = 0
    while day <= D("2027-06-01"):
        annotated = {
            row["pk"]: (row["refill_status"], row["battery_status"])
            for row in Pump.objects.with_statuses(day, lookahead).values(
                "pk", "refill_status", "battery_status"
            )
        }
        for pump in pumps:
            python = (pump.refill_status(day, lookahead).value, pump.battery_status(day).value)
            assert annotated[pump.pk] == python, (pump.serial, day)
            compared += 1
        day += timedelta(days=3)
    # Every status value occurred somewhere, so the comparison covered them all.
    seen = {
        status
        for day in (D("2025-06-01"), D("2026-01-20"), D("2026-04-01"), D("2026-09-01"))
        for row in Pump.objects.with_statuses(day, lookahead).values(
            "refill_status", "battery_status"
        )
        for status in (f"r:{row['refill_status']}", f"b:{row['battery_status']}")
    }
    assert compared > 1000
    assert {"r:unknown", "r:ok", "r:upcoming", "r:due", "r:overdue"} <= seen
    assert {"b:ok", "b:window", "b:overdue", "b:eri", "b:not_applicable"} <= seen
