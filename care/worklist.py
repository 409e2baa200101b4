"""The nurse's worklist: active pumps that need action, in the due-list order.

The order is computed in SQL from the status table of ``pumps.status``, the
one the Python rule reads; tests compare it with ``build_due_list``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from functools import cached_property, lru_cache
from typing import Any, overload

from django.db import connection, models
from django.db.models import Exists, F, Func, Min, OuterRef, Q, QuerySet, Subquery, Value

from care.choices import VisitKind, VisitStatus
from care.models import Appointment, ContactAttempt
from core.compiled import Statement as CompiledStatement
from core.compiled import fetch, written_in
from patients.models import IN_FORCE
from pumps import status
from pumps.models import Pump, PumpQuerySet


def _card_filter(card: str) -> Q:
    """The card's statuses, on the annotated statuses."""
    condition = Q()
    for row in status.STATUSES:
        if row.card == card:
            condition |= Q(**{f"{row.kind}_status": row.value.value})
    return condition


# The status filter of the page: value -> condition on the annotated statuses.
# One per card of the status table, and the residual flag.
STATUS_FILTERS: dict[str, tuple[str, Q]] = {
    **{card: (label, _card_filter(card)) for card, label in status.CARDS.items()},
    # Section 4: any refill in force with an unsigned flag (stored count, indexed).
    "discrepancy": ("Unsigned discrepancy", Q(open_discrepancies__gt=0)),
}


@dataclass(frozen=True)
class WorklistFilters:
    status: str = ""
    drug: str = ""
    model: str = ""
    booked: str = ""  # "yes", "no" or ""
    query: str = ""


def with_due_rank(queryset: PumpQuerySet, today: date, lookahead_days: int) -> PumpQuerySet:
    """Annotate statuses, the due-list rank and the date that ranks the pump (pumps.status)."""
    return queryset.with_statuses(today, lookahead_days).annotate(**status.rank_annotations())


def next_refill_booking() -> Subquery:
    """The earliest booked refill visit of the pump.

    MIN rather than ORDER BY ... LIMIT 1: with an ORDER BY on scheduled_at,
    SQLite walks the (status, scheduled_at) index over every booked visit of
    the clinic for each row (120 ms a page at 100,000 pumps); MIN lets it use
    the (pump, kind, status) index.
    """
    return Subquery(
        Appointment.objects.filter(
            pump=OuterRef("pk"), kind=VisitKind.REFILL, status=VisitStatus.BOOKED
        )
        .order_by()
        .values("pump")
        .annotate(first=Min("scheduled_at"))
        .values("first")
    )


def last_contact_attempt(field: str) -> Subquery:
    """A field of the patient's latest attempt to reach them (in force), for each row.

    A subquery per row of the page (the patient's index on attempted_at), so the
    page's statements stay the same in number (issue 15, item 6).
    """
    return Subquery(
        ContactAttempt.objects.filter(IN_FORCE, patient=OuterRef("patient"))
        .order_by("-attempted_at", "-pk")
        .values(field)[:1]
    )


def worklist(
    *, today: date, lookahead_days: int, filters: WorklistFilters, listed_only: bool = True
) -> PumpQuerySet:
    """Active pumps with something to do, most urgent first, with their next booking.

    ``listed_only=False`` keeps pumps of every rank, for a caller that asks for
    one listed rank itself (``page_statement``: its branches would otherwise
    carry the rank's CASE twice).
    """
    # (mypy's Django plugin cannot see annotations, hence the ignores below.)
    pumps = with_due_rank(Pump.objects.active(), today, lookahead_days)
    if listed_only:
        pumps = pumps.filter(due_rank__lt=status.REST_RANK)  # type: ignore[misc]
    pumps = pumps.with_urgency()
    pumps = pumps.annotate(
        next_booking=next_refill_booking(),
        missed_visit=Exists(Appointment.objects.missed_not_rebooked().filter(pump=OuterRef("pk"))),
        last_contact_at=last_contact_attempt("attempted_at"),
        last_contact_outcome=last_contact_attempt("outcome"),
        last_contact_channel=last_contact_attempt("channel"),
    )
    if filters.status in STATUS_FILTERS:
        pumps = pumps.filter(STATUS_FILTERS[filters.status][1])
    if filters.drug:
        pumps = pumps.filter(latest_fill__drug__code=filters.drug)
    if filters.model:
        pumps = pumps.filter(model__code=filters.model)
    if filters.booked == "yes":
        pumps = pumps.filter(next_booking__isnull=False)
    elif filters.booked == "no":
        pumps = pumps.filter(next_booking__isnull=True)
    if filters.query:
        text = filters.query.strip()
        pumps = pumps.filter(
            Q(patient__mrn__iexact=text)
            | Q(serial__icontains=text)
            | Q(patient__family_name__icontains=text)
            | Q(patient__given_name__icontains=text)
        )
    return pumps.with_list_relations().order_by(  # type: ignore[misc]
        "due_rank", "rank_date", "serial"
    )


# --- Reading a page rank by rank ---------------------------------------------------
#
# Ordering every flagged pump by the CASE rank reads and sorts them all (about
# 2 s at 100,000 pumps in SQLite), and so does counting them with the CASE.
# Each rank, though, lies in a range of one stored, indexed date (docs/style.md
# 3): a page is read as one UNION ALL of the ranks, each branch walking its
# index in order and stopping after the rows the page needs; and the counts
# are differences of index range counts, which read the index alone.


def rank_ranges(today: date, lookahead_days: int) -> list[tuple[Q, tuple[str, ...]]]:
    """For each rank: a condition on its indexed date that every pump of that rank
    meets (so the index can serve it), and its order (pumps.status.rank_ranges)."""
    return status.rank_ranges(status.Day(today, lookahead_days))


def _count(queryset: QuerySet[Any]) -> QuerySet[Any]:
    # COUNT as a plain function: Django adds no GROUP BY, so the statement
    # always returns one row, usable as a scalar subquery.
    return queryset.order_by().values(
        n=Func(F("pk"), function="COUNT", output_field=models.IntegerField())
    )


Statement = tuple[tuple[str, ...], str, tuple[Any, ...] | None]  # value names, SQL, parameters


def _scalars_statement(querysets: dict[str, QuerySet[Any]]) -> Statement:
    """One statement selecting each one-row, one-column queryset's value (its
    parameters written in: it is kept and run many times, core.compiled)."""
    parts: list[str] = []
    params: list[Any] = []
    for queryset in querysets.values():
        sql, query_params = queryset.query.sql_with_params()
        parts.append(f"({sql})")
        params += query_params
    sql, kept_params = written_in(connection.alias, "SELECT " + ", ".join(parts), params)
    return tuple(querysets), sql, kept_params


def _scalars(statement: Statement) -> dict[str, int]:
    names, sql, params = statement
    (row,) = fetch(connection.alias, sql, params)
    return {name: int(value or 0) for name, value in zip(names, row, strict=True)}


_KINDS = tuple(dict.fromkeys(row.kind for row in status.RANKED))  # refill, battery


@lru_cache(maxsize=256)
def _sums(today: date, lookahead_days: int) -> dict[str, status.Sum]:
    """Each card, the list's length, the first rank and the ranks' floors, as signed sums
    of range counts (derived once per process and day; read only)."""
    day = status.Day(today, lookahead_days)
    sums = {
        card: status.count_of([row for row in status.STATUSES if row.card == card], day)
        for card in status.CARDS
    }
    sums["listed"] = status.count_of([row for row in status.STATUSES if row.flagged], day)
    sums["first_rank"] = status.count_of([status.RANKED[0]], day)
    counted = {term for total in sums.values() for term in total}
    for rank in range(len(status.RANKED)):
        for kind in _KINDS:
            of_kind = [row for row in status.RANKED[: rank + 1] if row.kind == kind]
            floor = status.count_of(of_kind, day) if of_kind else {}
            # Only from the range counts read anyway: a range of its own is
            # counted entry by entry (at 100,000 pumps, three more cost the
            # page 15 ms to spare the page statement 1).
            if floor and set(floor) <= counted:
                sums[_floor_name(rank, kind)] = floor
    return sums


def _floor_name(rank: int, kind: str) -> str:
    return f"up_to_rank_{rank}_{kind}"


def _last_rank_needed(counts: dict[str, int], sums: dict[str, status.Sum], rows: int) -> int:
    """The last rank that can hold one of the list's first ``rows`` pumps.

    The pumps of ranks 0 to r are at least those with a refill status of those
    ranks, and at least those with a battery status of them (each one kind's
    statuses, which the range counts give exactly). Once either reaches
    ``rows``, no later rank reaches the first ``rows``: its branch is not read.
    """
    for rank in range(len(status.RANKED)):
        floors = [
            _total(counts, sums[name])
            for kind in _KINDS
            if (name := _floor_name(rank, kind)) in sums
        ]
        if max(floors, default=0) >= rows:
            return rank
    return len(status.RANKED) - 1


def range_count_querysets(*, today: date, lookahead_days: int) -> dict[str, QuerySet[Any]]:
    """Index range counts from which every card and the list's length follow.

    pumps.status derives them from the status table: each status count is a
    sum, with signs, of counts of conjunctions of stored-date ranges that an
    index answers alone (e.g. refill due = due <= today minus deadline < today).
    """
    active = Pump.objects.active()
    day = status.Day(today, lookahead_days)
    terms = {term for total in _sums(today, lookahead_days).values() for term in total}
    querysets = {
        status.term_name(term): _count(active.filter(status.term_q(term, day)))
        for term in sorted(terms, key=status.term_name)
    }
    # Few pumps carry an open flag: the partial index holds just them.
    querysets["discrepancy"] = _count(active.filter(open_discrepancies__gt=0))
    return querysets


def _total(counts: dict[str, int], total: status.Sum) -> int:
    return sum(sign * counts[status.term_name(term)] for term, sign in total.items())


def cards_from(counts: dict[str, int], *, today: date, lookahead_days: int) -> dict[str, int]:
    """The status cards (STATUS_FILTERS) from the range counts."""
    sums = _sums(today, lookahead_days)
    cards = {card: _total(counts, sums[card]) for card in status.CARDS}
    cards["discrepancy"] = counts["discrepancy"]
    return {key: cards[key] for key in STATUS_FILTERS}


class RankedWorklist:
    """The worklist as Paginator reads it: ``count()`` and slices, rank by rank."""

    def __init__(self, *, today: date, lookahead_days: int, filters: WorklistFilters) -> None:
        self.filters = filters
        self.filtered = filters != WorklistFilters()
        self.today = today
        self.lookahead_days = lookahead_days
        self.ranges = rank_ranges(today, lookahead_days)
        self._counts: dict[str, int] | None = None

    @cached_property
    def pumps(self) -> PumpQuerySet:
        """The single CASE-ordered query: the rows' shape, and the reference order.

        Built only when asked for (about a tenth of a page's time): a page reads
        its statements compiled (``cached_page_statement``, ``compiled_rows``).
        """
        return worklist(today=self.today, lookahead_days=self.lookahead_days, filters=self.filters)

    def counts(self) -> dict[str, int]:
        """The range counts, and the filtered list's length if filtered: one query."""
        if self._counts is None:
            statement = counts_statement(self.today, self.lookahead_days, self.filters)
            self._counts = _scalars(statement)
        return self._counts

    def status_counts(self) -> dict[str, int]:
        return cards_from(self.counts(), today=self.today, lookahead_days=self.lookahead_days)

    def count(self) -> int:
        counts = self.counts()
        if self.filtered:
            return counts["filtered"]
        return _total(counts, _sums(self.today, self.lookahead_days)["listed"])

    def __len__(self) -> int:
        return self.count()

    def __iter__(self) -> Iterator[Pump]:
        return iter(self[0 : self.count()])

    @overload
    def __getitem__(self, key: int, /) -> Pump: ...
    @overload
    def __getitem__(self, key: slice, /) -> list[Pump]: ...
    def __getitem__(self, key: int | slice, /) -> Pump | list[Pump]:
        if isinstance(key, int):
            (pump,) = self[key : key + 1]
            return pump
        start, stop = key.start or 0, key.stop if key.stop is not None else self.count()
        return self._pumps(self._offset_rows(start, stop - start))

    def fits(self, key: PageKey) -> bool:
        """Whether ``key`` names a place in this list's order (a link may be edited)."""
        if key.rank >= len(self.ranges):
            return False
        _, order = self.ranges[key.rank]
        return (key.day is not None) == (len(order) > 1)

    def after(self, key: PageKey, size: int) -> tuple[list[Pump], bool]:
        """The ``size`` pumps after ``key`` in the list's order, and whether more follow.

        Read by key, not offset: each rank's index is entered at the key, so
        a page deep in the list costs what the first one does.
        """
        ranks = tuple(rank for rank in range(len(self.ranges)) if rank >= key.rank)
        rows = self._keyed_rows(ranks, size + 1, after=key)
        return self._pumps(rows[:size]), len(rows) > size

    def before(self, key: PageKey, size: int) -> tuple[list[Pump], bool]:
        """The ``size`` pumps before ``key`` (in the list's order), and whether more precede."""
        ranks = tuple(rank for rank in range(len(self.ranges)) if rank <= key.rank)
        rows = self._keyed_rows(ranks, size + 1, before=key)
        return self._pumps(list(reversed(rows[:size]))), len(rows) > size

    def _pumps(self, rows: list[tuple[Any, ...]]) -> list[Pump]:
        """The pumps of (id, rank, date, serial) rows, in their order, each with its key."""
        found = {pump.pk: pump for pump in self._rows_of([row[0] for row in rows])}
        pumps = []
        for pk, rank, day, serial in rows:
            # A pump refilled between the two statements has left the list: it
            # is left out of this page rather than shown with a stale rank.
            if pk in found:
                pump = found[pk]
                pump.page_key = PageKey.of_row(rank, day, serial)  # type: ignore[attr-defined]
                pumps.append(pump)
        return pumps

    def _rows_of(self, ids: list[int]) -> list[Pump]:
        """``self.pumps.filter(pk__in=ids)``, through its statement compiled once."""
        if not ids:
            return []
        slots = max(ROW_SLOTS, 1 << (len(ids) - 1).bit_length())
        rows = compiled_rows(self.today, self.lookahead_days, self.filters, slots, connection.alias)
        return rows.rows_of_ids(ids)

    def _offset_rows(self, offset: int, limit: int) -> list[tuple[Any, ...]]:
        """Rows offset to offset + limit: one UNION ALL of the ranks."""
        if limit <= 0:
            return []
        ranks = tuple(range(len(self.ranges)))
        if not self.filtered:
            # Only the ranks that can reach the page are read (a filtered list has
            # no range counts). The first rank's pumps (refill overdue) are
            # counted exactly: a page past them skips that rank.
            sums = _sums(self.today, self.lookahead_days)
            counts = self.counts()
            ranks = ranks[: _last_rank_needed(counts, sums, offset + limit) + 1]
            overdue = _total(counts, sums["first_rank"])
            if offset >= overdue:
                ranks, offset = ranks[1:], offset - overdue
        sql, params = cached_page_statement(
            self.today, self.lookahead_days, self.filters, ranks, offset + limit, connection.alias
        )
        # Each branch is in order; the outer ORDER BY makes the concatenation so.
        return _fetch(f"{sql} ORDER BY 2, 3, 4 LIMIT {int(limit)} OFFSET {int(offset)}", params)

    def _keyed_rows(
        self,
        ranks: tuple[int, ...],
        limit: int,
        *,
        after: PageKey | None = None,
        before: PageKey | None = None,
    ) -> list[tuple[Any, ...]]:
        sql, params = page_statement(
            self.today, self.lookahead_days, self.filters, ranks, limit, after=after, before=before
        )
        order = "2 DESC, 3 DESC, 4 DESC" if before is not None else "2, 3, 4"
        return _fetch(f"{sql} ORDER BY {order} LIMIT {int(limit)}", params)


def _fetch(sql: str, params: tuple[Any, ...] | None) -> list[tuple[Any, ...]]:
    return fetch(connection.alias, sql, params)


@dataclass(frozen=True)
class PageKey:
    """A place in the worklist's order: the rank, the date that orders it, the serial.

    Links to the next and previous pages carry the key of the row they start
    after (or end before), as text: ``rank~YYYY-MM-DD~serial`` ("-" for a rank
    ordered by serial alone).
    """

    rank: int
    day: date | None
    serial: str

    @classmethod
    def of_row(cls, rank: Any, day: Any, serial: str) -> PageKey:
        # SQLite's cursor gives dates as text, PostgreSQL's as dates.
        if isinstance(day, str):
            day = date.fromisoformat(day)
        return cls(int(rank), day, serial)

    def token(self) -> str:
        return f"{self.rank}~{self.day.isoformat() if self.day else '-'}~{self.serial}"

    @classmethod
    def parse(cls, text: str) -> PageKey | None:
        """The key of a link's token; None for anything else."""
        parts = text.split("~", 2)
        if len(parts) != 3 or not parts[0].isdigit() or not parts[2] or len(parts[0]) > 2:
            return None
        rank, day, serial = parts
        if day == "-":
            return cls(int(rank), None, serial)
        try:
            return cls(int(rank), date.fromisoformat(day), serial)
        except ValueError:
            return None


def _beyond(key: PageKey, order: tuple[str, ...], *, descending: bool) -> Q:
    """Rows of ``key``'s rank strictly after it (before it, when descending)."""
    beyond, reached = ("lt", "lte") if descending else ("gt", "gte")
    if len(order) == 1:
        return Q(**{f"serial__{beyond}": key.serial})
    field = order[0]
    # The date's range first, so the rank's index is entered at the key.
    return Q(**{f"{field}__{reached}": key.day}) & (
        Q(**{f"{field}__{beyond}": key.day}) | Q(**{f"serial__{beyond}": key.serial})
    )


def page_statement(
    today: date,
    lookahead_days: int,
    filters: WorklistFilters,
    ranks: tuple[int, ...],
    rows: int,
    *,
    after: PageKey | None = None,
    before: PageKey | None = None,
) -> tuple[str, tuple[Any, ...]]:
    """UNION ALL of the first ``rows`` (id, rank, date, serial) of each rank, unordered;
    past ``after`` or, read backwards, before ``before``."""
    # Each branch asks for one listed rank (due_rank=rank).
    pumps = worklist(today=today, lookahead_days=lookahead_days, filters=filters, listed_only=False)
    ranges = rank_ranges(today, lookahead_days)
    key = after or before
    descending = before is not None
    parts: list[str] = []
    params: list[Any] = []
    for rank in ranks:
        condition, order = ranges[rank]
        if key is not None and rank == key.rank:
            condition &= _beyond(key, order, descending=descending)
        branch = (
            pumps.filter(condition, due_rank=rank)  # type: ignore[misc]
            .annotate(
                page_rank=Value(rank),
                page_date=F(order[0] if len(order) > 1 else "refill_deadline"),
            )
            .order_by(*(f"-{name}" if descending else name for name in order))
            .values_list("pk", "page_rank", "page_date", "serial")
        )[:rows]
        sql, branch_params = branch.query.sql_with_params()
        parts.append(f"SELECT * FROM ({sql}) AS rank_{rank}")
        params += branch_params
    return f"SELECT * FROM ({' UNION ALL '.join(parts)}) AS page", tuple(params)


# Compiling the seven branches (each inlines the status CASE expressions) took
# 32 ms of a 65 ms page. The statement depends on its arguments alone, and the
# same few (today's first pages) are asked for all day, so each process
# compiles them once. Dates, ints and the frozen filters are hashable. (Pages
# read by key are not kept: their keys are all different.) Its thousand or so
# parameters are written in once too (core.compiled.written_in): psycopg took
# about 4 ms of CPU a page to quote them.
@lru_cache(maxsize=256)
def cached_page_statement(
    today: date,
    lookahead_days: int,
    filters: WorklistFilters,
    ranks: tuple[int, ...],
    rows: int,
    alias: str,
) -> tuple[str, tuple[Any, ...] | None]:
    """``page_statement``, kept per process, for ``cursor.execute`` on ``alias``."""
    return written_in(alias, *page_statement(today, lookahead_days, filters, ranks, rows))


# --- The page's rows, compiled once ----------------------------------------------------
#
# The rows of a page are the worklist query (statuses, rank, urgency, next
# booking, missed visit, with patient, model, latest fill and drug) for the
# page's ids. Compiling it took about 7 ms of a 25 ms page at 1,000 pumps
# (with building the query, a third of the page's time), every request. Its
# SQL depends on the day, the look-ahead and the filters only, the ids being
# parameters: it is compiled once per process and inputs for a fixed number
# of ids (shorter lists are padded with their first id), and its rows become
# pumps as QuerySet would make them (django.db.models.query.ModelIterable).
# tests/pumps/test_worklist_ranked.py compares the pumps with the queryset's.

ORDER_ONLY = frozenset({"due_rank", "rank_date"})  # annotations a row does not carry
ROW_SLOTS = 32  # ids per compiled statement: a page of 25, with room; doubled as needed
_SLOT = -(10**15)  # the placeholder ids are _SLOT - i: no pump's id is negative


@lru_cache(maxsize=256)
def compiled_rows(
    today: date, lookahead_days: int, filters: WorklistFilters, slots: int, alias: str
) -> CompiledStatement:
    """The worklist's rows for ``slots`` ids, compiled (the page orders them itself)."""
    placeholders = [_SLOT - i for i in range(slots)]
    pumps = (
        worklist(today=today, lookahead_days=lookahead_days, filters=filters)
        .filter(pk__in=placeholders)
        .order_by()
    )
    # The rank and its date order the page's ids (the page statement); a row
    # needs neither. Left out of the SELECT (still in the WHERE that keeps a
    # pump refilled meanwhile off the page), they no longer double the
    # statement PostgreSQL plans on every page.
    pumps.query.set_annotation_mask(set(pumps.query.annotations) - ORDER_ONLY)
    compiler = pumps.query.get_compiler(using=alias)
    sql, params = compiler.as_sql()
    positions = tuple(params.index(pk) for pk in placeholders)
    if any(params.count(pk) != 1 for pk in placeholders):
        raise AssertionError("an id placeholder is not one parameter")  # never seen
    return CompiledStatement(compiler, alias, sql, tuple(params), positions, as_models=True)


# Like the page's statement, compiled once per process and inputs (about 2 ms
# a page, more with a filter, whose count compiles the whole worklist query).
@lru_cache(maxsize=256)
def counts_statement(today: date, lookahead_days: int, filters: WorklistFilters) -> Statement:
    """The range counts, and the filtered list's length if filtered: one statement."""
    querysets = range_count_querysets(today=today, lookahead_days=lookahead_days)
    if filters != WorklistFilters():
        # A filter (drug, model, search...) has no index range: count its rows.
        pumps = worklist(today=today, lookahead_days=lookahead_days, filters=filters)
        querysets["filtered"] = _count(pumps)
    return _scalars_statement(querysets)


def status_counts(*, today: date, lookahead_days: int) -> dict[str, int]:
    """How many active pumps are in each worklist status (one query, index ranges)."""
    counts = _scalars(counts_statement(today, lookahead_days, WorklistFilters()))
    return cards_from(counts, today=today, lookahead_days=lookahead_days)
