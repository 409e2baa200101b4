"""The worklist read rank by rank gives exactly the rows of the single ordered query."""

import re
from datetime import date, timedelta

import pytest
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Count
from django.test.utils import CaptureQueriesContext

from care.worklist import (
    ORDER_ONLY,
    ROW_SLOTS,
    STATUS_FILTERS,
    PageKey,
    RankedWorklist,
    WorklistFilters,
    _sums,
    compiled_rows,
    counts_statement,
    range_count_querysets,
    status_counts,
    worklist,
)
from care.worklist import cached_page_statement as ranked_statement
from pumps import services
from pumps.models import Pump
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
            units = (
                {"concentration": "2000", "concentration_unit": "mcg/mL", "daily_dose": "100"}
                | {"dose_unit": "mcg/day"}
                if drug == "baclofen"
                else {}
            )
            fill(
                pump,
                on=TODAY + timedelta(days=days + n - stability),
                drug=drug,
                volume_ml="40",
                **units,
            )
        eri = make_pump(model="prometra_ii_20", implant_date=TODAY - timedelta(days=400))
        fill(eri, on=TODAY - timedelta(days=30), volume_ml="20")
        services.record_eri(pump=eri, seen_on=TODAY - timedelta(days=30), today=FAR_FUTURE)


@pytest.mark.parametrize(
    "filters",
    [
        WorklistFilters(),
        WorklistFilters(drug="baclofen"),
        WorklistFilters(status="battery"),
        # A search is a LIKE pattern, "%" in the SQL (and doubled where it is prepared).
        WorklistFilters(query="SN0"),
        WorklistFilters(query="0%_"),
    ],
)
@pytest.mark.parametrize("per_page", [1, 3, 7, 25])
def test_every_page_matches_the_single_ordered_query(registry, filters, per_page):
    pumps = worklist(today=TODAY, lookahead_days=14, filters=filters)
    expected = [pump.serial for pump in pumps]
    if filters.query == "SN0":
        assert expected, "the search finds pumps"
    ranked = Paginator(RankedWorklist(today=TODAY, lookahead_days=14, filters=filters), per_page)
    got = [pump.serial for number in ranked.page_range for pump in ranked.page(number).object_list]
    assert got == expected
    assert ranked.count == len(expected)


def test_a_page_reads_only_the_ranks_that_can_reach_it(registry):
    """The range counts bound how many pumps the first ranks hold: the 4 refills
    overdue fill a page of 3 alone, and a page after them starts at the next rank."""
    ranked = RankedWorklist(today=TODAY, lookahead_days=14, filters=WorklistFilters())
    expected = [
        pump.serial for pump in worklist(today=TODAY, lookahead_days=14, filters=WorklistFilters())
    ]
    for (start, stop), branches in (((0, 3), ["0"]), ((0, 4), ["0"]), ((4, 5), ["1", "2"])):
        with CaptureQueriesContext(connection) as queries:
            assert [pump.serial for pump in ranked[start:stop]] == expected[start:stop]
        (page,) = [query["sql"] for query in queries if " AS rank_" in query["sql"]]
        assert re.findall(r" AS rank_(\d+)", page) == branches
    with CaptureQueriesContext(connection) as queries:
        ranked[0:25]  # more than the list holds: every rank
    (page,) = [query["sql"] for query in queries if " AS rank_" in query["sql"]]
    assert len(re.findall(r" AS rank_(\d+)", page)) == len(ranked.ranges)


def test_the_rank_floors_add_no_range_count_of_their_own():
    """A range count reads every entry of its range (at 100,000 pumps, three more
    made the page 15 ms slower): the floors use only ranges the cards count anyway."""
    for lookahead in (0, 14, 60):
        sums = _sums(TODAY, lookahead)
        floors = {name for name in sums if name.startswith("up_to_rank_")}
        assert "up_to_rank_0_refill" in floors  # the overdue refills, as the first rank
        counted = {term for name, total in sums.items() if name not in floors for term in total}
        assert {term for name in floors for term in sums[name]} <= counted
        ranges = range_count_querysets(today=TODAY, lookahead_days=lookahead)
        assert len(ranges) == len(counted) + 1  # and the open discrepancies


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
    rows = [(pump.pk, 0, "2026-01-01", pump.serial) for pump in (first, gone, second)]
    monkeypatch.setattr(ranked, "_offset_rows", lambda offset, limit: rows)

    assert [pump.pk for pump in ranked[0:3]] == [first.pk, second.pk]


def described(pump: Pump) -> dict[str, object]:
    """Every column, annotation and related row a page shows of ``pump``."""
    fill = pump.latest_fill
    return {
        **{name: value for name, value in vars(pump).items() if not name.startswith("_")},
        "patient": vars(pump.patient) | {"_state": None},
        "model": vars(pump.model) | {"_state": None},
        "fill": None if fill is None else vars(fill) | {"_state": None},
        "drug": None if fill is None else vars(fill.drug) | {"_state": None},
    }


@pytest.mark.parametrize(
    "filters",
    [WorklistFilters(), WorklistFilters(drug="baclofen"), WorklistFilters(booked="no")],
)
def test_the_compiled_rows_are_the_querysets_pumps(registry, filters):
    """The rows statement compiled once gives the pumps the queryset gives, value for value."""
    pumps = worklist(today=TODAY, lookahead_days=14, filters=filters)
    # The rank and its date order the page's ids; the rows leave them out.
    expected = {
        pump.pk: {name: value for name, value in described(pump).items() if name not in ORDER_ONLY}
        for pump in pumps
    }
    assert expected
    ranked = RankedWorklist(today=TODAY, lookahead_days=14, filters=filters)
    # One id, a page's worth, more than one statement's slots (padded to the next power of 2).
    ids = list(expected)
    for chosen in (ids[:1], ids[:7], ids, ids * (ROW_SLOTS // len(ids) + 1)):
        got = {pump.pk: described(pump) for pump in ranked._rows_of(chosen)}
        assert got == {pk: expected[pk] for pk in chosen}
    # An id the list does not hold (a pump with nothing to do) gives no pump.
    idle = Pump.objects.active().exclude(pk__in=ids).first()
    assert idle is not None
    assert ranked._rows_of([idle.pk]) == []


def test_the_rows_statement_is_compiled_once_per_input(registry):
    compiled_rows.cache_clear()
    for _ in range(3):
        ranked = RankedWorklist(today=TODAY, lookahead_days=14, filters=WorklistFilters())
        ranked[0:25]
    assert compiled_rows.cache_info().misses == 1
    RankedWorklist(today=TODAY + timedelta(days=1), lookahead_days=14, filters=WorklistFilters())[
        0:25
    ]
    assert compiled_rows.cache_info().misses == 2


@pytest.mark.parametrize("days_later", [1, 30, 200])
def test_a_statement_compiled_on_one_day_is_not_reused_on_another(registry, days_later):
    """The compiled statements are kept per process; every input is part of their key."""
    ranked_statement.cache_clear()
    counts_statement.cache_clear()
    for day in (TODAY, TODAY + timedelta(days=days_later)):
        for lookahead in (14, 7):
            inputs = {"today": day, "lookahead_days": lookahead, "filters": WorklistFilters()}
            expected = [pump.serial for pump in worklist(**inputs)]
            ranked = RankedWorklist(**inputs)
            assert [pump.serial for pump in ranked[0:25]] == expected[:25]
            assert ranked.count() == len(expected)
            cards = {
                key: Count("pk", filter=condition) for key, (_, condition) in STATUS_FILTERS.items()
            }
            reference = Pump.objects.active().with_statuses(day, lookahead).aggregate(**cards)
            assert ranked.status_counts() == reference
    assert ranked_statement.cache_info().misses >= 4  # one compile per (day, look-ahead)
    assert counts_statement.cache_info().misses == 4


# --- Pages read by key ------------------------------------------------------------------


@pytest.mark.parametrize(
    "filters",
    [WorklistFilters(), WorklistFilters(drug="baclofen"), WorklistFilters(status="battery")],
)
@pytest.mark.parametrize("size", [1, 3, 7])
def test_walking_by_key_forward_and_back_gives_the_single_ordered_query(registry, filters, size):
    expected = [pump.serial for pump in worklist(today=TODAY, lookahead_days=14, filters=filters)]
    ranked = RankedWorklist(today=TODAY, lookahead_days=14, filters=filters)
    pages = [ranked[0:size]]
    more = ranked.count() > size
    while more:
        page, more = ranked.after(pages[-1][-1].page_key, size)
        pages.append(page)
    assert [pump.serial for page in pages for pump in page] == expected
    # Back from the last page, each page before the first row of the one after.
    back = [pages[-1]]
    while len(back) < len(pages):
        page, _ = ranked.before(back[-1][0].page_key, size)
        back.append(page)
    assert [[p.serial for p in page] for page in back[1:]] == [
        [p.serial for p in page] for page in reversed(pages[:-1])
    ]
    assert not ranked.before(pages[0][0].page_key, size)[1]  # nothing before the top


def test_a_key_survives_its_link_as_text(registry):
    ranked = RankedWorklist(today=TODAY, lookahead_days=14, filters=WorklistFilters())
    for pump in ranked[0 : ranked.count()]:
        key = pump.page_key
        assert PageKey.parse(key.token()) == key
        assert ranked.fits(key)


@pytest.mark.parametrize(
    "token",
    ["", "x", "0~2026-01-01", "a~2026-01-01~SN", "0~2026-13-01~SN", "0~2026-01-01~", "123~-~SN"],
)
def test_a_token_that_is_not_a_key_is_refused(token):
    key = PageKey.parse(token)
    assert key is None or not RankedWorklist(
        today=TODAY, lookahead_days=14, filters=WorklistFilters()
    ).fits(key)


def test_a_key_with_a_date_for_a_rank_ordered_by_serial_does_not_fit():
    ranked = RankedWorklist(today=TODAY, lookahead_days=14, filters=WorklistFilters())
    never_filled = len(ranked.ranges) - 1
    assert not ranked.fits(PageKey(never_filled, TODAY, "SN"))
    assert not ranked.fits(PageKey(0, None, "SN"))
    assert ranked.fits(PageKey(never_filled, None, "SN"))


def test_a_pump_leaving_the_list_does_not_shift_the_next_page(registry):
    ranked = RankedWorklist(today=TODAY, lookahead_days=14, filters=WorklistFilters())
    first = ranked[0:5]
    expected_next = [pump.serial for pump in ranked[5:10]]
    # A colleague refills a pump of the first page: by offset, page 2 would
    # now start one row later and skip a pump; by key it does not.
    leaving = Pump.objects.get(pk=first[1].pk)
    fill(leaving, on=TODAY, drug="morphine", volume_ml="40")
    again = RankedWorklist(today=TODAY, lookahead_days=14, filters=WorklistFilters())
    assert [pump.serial for pump in again[5:10]] != expected_next  # offset: shifted
    page, _ = again.after(first[-1].page_key, 5)
    assert [pump.serial for pump in page] == expected_next
