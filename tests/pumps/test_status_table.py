"""The status table of pumps/status.py: its SQL side equals its Python side.

On a generated registry (bench.synthetic + bench.registry) and on hand-made
pumps whose stored dates sit on every boundary (the day before, on and after
the due date, the deadline, the look-ahead's horizon, the window's opening
and close; ERI; never filled; no battery), for many days and look-aheads:
the annotated statuses, the due rank and its date, the urgent flag, the
admin's filters, the worklist's order, its pages, its cards and its length,
each read in SQL, equal what the Python rule gives for every pump.
"""

from datetime import date, timedelta
from itertools import product

import pytest
from django.core.paginator import Paginator

from bench import registry, synthetic
from care.worklist import RankedWorklist, WorklistFilters, with_due_rank, worklist
from pumps import services, status
from pumps.choices import BatteryStatus, RefillStatus
from pumps.due_list import build_due_list
from pumps.models import Pump, SchedulePolicy
from tests.factories import FAR_FUTURE, fill, make_pump

pytestmark = pytest.mark.django_db

TODAY = date(2026, 4, 6)
BACLOFEN = {
    "drug": "baclofen",
    "concentration": "2000",
    "concentration_unit": "mcg/mL",
    "daily_dose": "100",
    "dose_unit": "mcg/day",
}

# Stored dates relative to TODAY: (due, deadline) and (opens, closes, ERI seen).
REFILLS = [None, (0, 0), (0, 1), (0, 5), (14, 19)]
BATTERIES = [None, (0, 0), (0, 1), (-400, 20), (-30, 700, -10), (200, 900, -5)]


def at(offset: int | None) -> date | None:
    return TODAY + timedelta(days=offset) if offset is not None else None


@pytest.fixture
def pumps():
    """A synthetic registry, and a pump for each pair of boundary cases."""
    registry.build(synthetic.registry(150, today=TODAY), today=TODAY)
    for n, (refill, battery) in enumerate(product(REFILLS, BATTERIES)):
        pump = make_pump(
            model="synchromed_ii_40", implant_date=date(2020, 1, 1), serial=f"B{n:03d}"
        )
        if refill is not None:
            units = BACLOFEN if n % 2 else {"drug": "morphine"}
            fill(pump, on=TODAY - timedelta(days=60), volume_ml="40", **units)
        due, deadline = refill if refill is not None else (None, None)
        opens, closes, eri = (*battery, None)[:3] if battery is not None else (None,) * 3
        # The stored dates set straight on the boundaries, as the services would
        # store them (set together; a deadline never before its due date).
        Pump.objects.filter(pk=pump.pk).update(
            refill_due=at(due),
            refill_deadline=at(deadline),
            battery_window_opens=at(opens),
            battery_window_closes=at(closes),
            eri_reported_on=at(eri),
            eri_replace_by=at(eri + 90) if eri is not None else None,
        )
    gone = make_pump(implant_date=date(2018, 1, 1))
    services.explant_pump(
        pump=gone, explant_date=date(2025, 1, 1), reason="other", today=FAR_FUTURE
    )
    return list(Pump.objects.active().with_list_relations())


def python_side(pumps, day: status.Day):
    """Each pump's statuses, sort key and urgency by the Python rule."""
    result = {}
    for pump in pumps:
        dates = status.dates_of(pump)
        refill = status.refill_status(dates, day)
        battery = status.battery_status(dates, day)
        drug = pump.latest_fill.drug if pump.latest_fill else None
        result[pump.pk] = {
            "refill": refill.value,
            "battery": battery.value,
            "key": status.sort_key(refill=refill, battery=battery, dates=dates, serial=pump.serial),
            "flagged": status.is_flagged(refill, battery),
            "urgent": drug is not None and status.is_urgent(refill, drug.urgent_when_due),
        }
    return result


DAYS = [TODAY + timedelta(days=offset) for offset in range(-2, 22)] + [
    TODAY - timedelta(days=31),
    TODAY + timedelta(days=199),
    TODAY + timedelta(days=200),
    TODAY + timedelta(days=201),
    TODAY + timedelta(days=700),
    TODAY + timedelta(days=901),
]


def test_sql_equals_python_for_every_pump_on_every_boundary_day(pumps):
    seen: set[tuple[str, str]] = set()
    for today, lookahead in [(day, 14) for day in DAYS] + [(TODAY, 0), (TODAY, 5), (TODAY, 1)]:
        day = status.Day(today, lookahead)
        python = python_side(pumps, day)
        annotated = {
            row["pk"]: row
            for row in with_due_rank(Pump.objects.active(), today, lookahead)
            .with_urgency()
            .values("pk", "refill_status", "battery_status", "due_rank", "rank_date", "urgent")
        }
        for pk, expected in python.items():
            row = annotated[pk]
            assert (row["refill_status"], row["battery_status"]) == (
                expected["refill"],
                expected["battery"],
            ), (pk, today)
            rank, rank_date, _ = expected["key"]
            assert row["due_rank"] == rank, (pk, today)
            assert (row["rank_date"] or date.max) == rank_date, (pk, today)
            assert row["urgent"] == expected["urgent"], (pk, today)
            seen |= {("refill", expected["refill"]), ("battery", expected["battery"])}

        # The admin's filters: the rows of each status, on the stored dates.
        for row in status.STATUSES:
            filtered = set(
                Pump.objects.active()
                .filter(status.first_match(row.kind, row.value.value, day))
                .values_list("pk", flat=True)
            )
            assert filtered == {pk for pk, p in python.items() if p[row.kind] == row.value}, (
                row.name,
                today,
            )

        # Each rank lies in its index range.
        for rank, (condition, _) in enumerate(status.rank_ranges(day)):
            members = {pk for pk, p in python.items() if p["key"][0] == rank}
            inside = set(
                Pump.objects.filter(condition, pk__in=members).values_list("pk", flat=True)
            )
            assert inside == members, (rank, today)

        # The worklist: order, pages, length and cards.
        flagged = sorted((p["key"], pk) for pk, p in python.items() if p["flagged"])
        order = [pk for _, pk in flagged]
        filters = WorklistFilters()
        assert [p.pk for p in worklist(today=today, lookahead_days=lookahead, filters=filters)] == (
            order
        )
        ranked = RankedWorklist(today=today, lookahead_days=lookahead, filters=filters)
        assert ranked.count() == len(order)
        pages = Paginator(ranked, 40)
        assert [p.pk for n in pages.page_range for p in pages.page(n).object_list] == order
        cards = dict.fromkeys(status.CARDS, 0)
        for p in python.values():
            for kind in ("refill", "battery"):
                card = status.lookup(kind, p[kind]).card
                if card:
                    cards[card] += 1
        counts = ranked.status_counts()
        assert {key: counts[key] for key in status.CARDS} == cards, today
    # Every status of the table occurred, so the comparison covered them all.
    assert seen == {row.name for row in status.STATUSES}


def test_the_due_list_and_the_worklist_agree_on_the_order(pumps):
    lookahead = SchedulePolicy.current().lookahead_days
    for today in (TODAY, TODAY + timedelta(days=14), TODAY + timedelta(days=200)):
        serials = [
            pump.serial
            for pump in worklist(today=today, lookahead_days=lookahead, filters=WorklistFilters())
        ]
        due_list = build_due_list(today=today, lookahead_days=lookahead, flagged_only=True)
        assert [item["serial"] for item in due_list] == serials
        urgent = {item["serial"] for item in due_list if item["refill"]["urgent"]}
        assert urgent == {
            pump.serial
            for pump in worklist(today=today, lookahead_days=lookahead, filters=WorklistFilters())
            if pump.urgent  # type: ignore[attr-defined]
        }
        assert urgent  # the hand-made baclofen pumps on their due day


def test_the_table_is_ordered_and_complete():
    assert [row.rank for row in status.RANKED] == list(range(status.REST_RANK))
    assert {row.value for row in status.REFILL} == set(RefillStatus)
    assert {row.value for row in status.BATTERY} == set(BatteryStatus)
    # The counts are index range counts: none compares two kinds' dates in one CASE.
    day = status.Day(TODAY, 14)
    for total in (status.count_of(status.STATUSES[:1], day), status.count_of(status.RANKED, day)):
        for term in total:
            assert len(term) <= 3
