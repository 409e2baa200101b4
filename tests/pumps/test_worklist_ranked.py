"""The worklist read rank by rank gives exactly the rows of the single ordered query."""

from datetime import date, timedelta

import pytest
from django.core.paginator import Paginator
from django.db.models import Count

from pumps import services
from pumps.models import Pump
from pumps.worklist import (
    STATUS_FILTERS,
    RankedWorklist,
    WorklistFilters,
    status_counts,
    worklist,
)
from pumps.worklist import ranked_ids_statement as ranked_statement
from tests.factories import FAR_FUTURE, fill, make_pump

pytestmark = pytest.mark.django_db

TODAY = date(2026, 4, 6)


@pytest.fixture
def registry():
    """Pumps in every rank, several per rank, so pages cross rank boundaries."""
    for n in range(4):
        make_pump(implant_date=TODAY - timedelta(days=10 + n))  # never filled
        for days, drug in ((-20, "morphine"), (2, "baclofen"), (10, "morphine"), (60, "morphine")):
            pump = make_pump(
                model="synchromed_ii_40",
                implant_date=TODAY - timedelta(days=365 * (2 + 2 * n)),
            )
            stability = 180 if drug == "baclofen" else 90
            fill(pump, on=TODAY + timedelta(days=days + n - stability), drug=drug, volume_ml="40")
        eri = make_pump(model="prometra_ii_20", implant_date=TODAY - timedelta(days=400))
        fill(eri, on=TODAY - timedelta(days=30), volume_ml="20")
        services.record_eri(pump=eri, seen_on=TODAY - timedelta(days=30), today=FAR_FUTURE)


@pytest.mark.parametrize(
    "filters",
    [WorklistFilters(), WorklistFilters(drug="baclofen"), WorklistFilters(status="battery")],
)
@pytest.mark.parametrize("per_page", [1, 3, 7, 25])
def test_every_page_matches_the_single_ordered_query(registry, filters, per_page):
    pumps = worklist(today=TODAY, lookahead_days=14, filters=filters)
    expected = [pump.serial for pump in pumps]
    ranked = Paginator(RankedWorklist(today=TODAY, lookahead_days=14, filters=filters), per_page)
    got = [pump.serial for number in ranked.page_range for pump in ranked.page(number).object_list]
    assert got == expected
    assert ranked.count == len(expected)


def test_counts_read_by_index_ranges_match_the_cards(registry):
    ranked = RankedWorklist(today=TODAY, lookahead_days=14, filters=WorklistFilters())
    # The plain aggregate over every active pump, without the index ranges.
    annotated = Pump.objects.active().with_statuses(TODAY, 14)
    reference = annotated.aggregate(
        **{key: Count("pk", filter=condition) for key, (_, condition) in STATUS_FILTERS.items()}
    )
    assert ranked.status_counts() == reference
    assert status_counts(today=TODAY, lookahead_days=14) == reference
    assert ranked.status_counts()["overdue"] == 4


def test_a_pump_that_leaves_the_list_between_two_statements_is_left_out(registry, monkeypatch):
    pumps = worklist(today=TODAY, lookahead_days=14, filters=WorklistFilters())
    ranked = RankedWorklist(today=TODAY, lookahead_days=14, filters=WorklistFilters())
    first, second = list(pumps[:2])
    gone = Pump.objects.active().exclude(pk__in=[p.pk for p in pumps]).first()
    assert gone is not None  # a pump with nothing to do, e.g. just refilled by a colleague
    monkeypatch.setattr(ranked, "_page_ids", lambda offset, limit: [first.pk, gone.pk, second.pk])

    assert [pump.pk for pump in ranked[0:3]] == [first.pk, second.pk]


@pytest.mark.parametrize("days_later", [1, 30, 200])
def test_a_statement_compiled_on_one_day_is_not_reused_on_another(registry, days_later):
    """The compiled page statement is kept per process; every input is part of its key."""
    ranked_statement.cache_clear()
    for day in (TODAY, TODAY + timedelta(days=days_later)):
        for lookahead in (14, 7):
            expected = [
                p.serial
                for p in worklist(today=day, lookahead_days=lookahead, filters=WorklistFilters())
            ]
            ranked = RankedWorklist(today=day, lookahead_days=lookahead, filters=WorklistFilters())
            assert [pump.serial for pump in ranked[0:25]] == expected[:25]
    assert ranked_statement.cache_info().misses >= 4  # one compile per (day, look-ahead)
