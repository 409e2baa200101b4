"""The due list built from plain rows equals the one built from model instances.

build_due_list reads tuples of columns for speed (100,000 pumps); ``entry``
builds the same dict from a Pump, the way the rest of the app reads it. On a
synthetic registry with every status, both must agree, order included.
"""

from datetime import date, timedelta

import pytest

from bench import registry, synthetic
from pumps import schedule
from pumps.choices import BatteryStatus, RefillStatus
from pumps.due_list import build_due_list, entry, is_flagged
from pumps.models import Pump, SchedulePolicy

pytestmark = pytest.mark.django_db

TODAY = date(2026, 4, 6)


def by_instances(today: date, *, flagged_only: bool) -> list[dict[str, object]]:
    pumps = Pump.objects.active().with_list_relations()
    items = [entry(pump, today=today, lookahead_days=14) for pump in pumps]
    if flagged_only:
        items = [item for item in items if is_flagged(item)]

    def key(item: dict) -> tuple:
        refill, battery = item["refill"], item["battery"]
        return schedule.due_list_sort_key(
            refill=RefillStatus(refill["status"]),
            battery=BatteryStatus(battery["status"]),
            refill_deadline=date.fromisoformat(refill["deadline"]) if refill["deadline"] else None,
            window_closes=(
                date.fromisoformat(battery["window_closes"]) if battery["window_closes"] else None
            ),
            replace_by=(
                date.fromisoformat(battery["replace_by"]) if battery["replace_by"] else None
            ),
            serial=item["serial"],
        )

    return sorted(items, key=key)


@pytest.mark.parametrize("flagged_only", [False, True])
def test_rows_and_instances_give_the_same_due_list(flagged_only):
    registry.build(synthetic.registry(120, today=TODAY), today=TODAY)
    for offset in (-30, 0, 45):
        day = TODAY + timedelta(days=offset)
        assert build_due_list(
            today=day,
            lookahead_days=SchedulePolicy.current().lookahead_days,
            flagged_only=flagged_only,
        ) == by_instances(day, flagged_only=flagged_only)
