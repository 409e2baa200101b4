"""The refill and battery statuses, once (clinical-rules.md 3 and 5, interfaces.md).

``STATUSES`` is the one table. Each row is a status of one kind (refill or
battery) with its condition on the pump's stored dates, its place on the due
list, the stored date that orders it there, whether ``--flagged`` and the
worklist show it, whether it makes a refill urgent when the drug says so, and
the worklist card that counts it. Within a kind the rows are in ``CASE``
order: a pump has the first status of each kind whose condition holds.

Everything else is derived from the table, so the Python side and the SQL
side read the same boundaries:

- ``refill_status`` / ``battery_status``: one pump's status in Python;
- ``status_annotations``: the same as SQL ``CASE`` expressions;
- ``due_rank`` / ``sort_key`` and their SQL twins (``rank_annotations``);
- ``rank_ranges``: for each rank, a range of its ordering date (an index
  range) that every pump of that rank lies in, derived from the conditions;
- ``first_match``: the rows of one status as a filter on the stored dates
  (the admin's list filters, the worklist's cards and counts);
- ``is_flagged``, ``is_urgent`` and the ``urgent`` annotation.

Adding a status or changing a rank is a change to ``STATUSES`` (and, for a
new value, to ``pumps.choices``) only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

from django.db import models
from django.db.models import Q, Value

from pumps.choices import BatteryStatus, RefillStatus

Kind = Literal["refill", "battery"]
Bound = Literal["today", "horizon"]  # horizon: today + the look-ahead days
Op = Literal["missing", "set", "lt", "lte", "gt", "gte"]

# Stored together by pumps.services.compute_schedule: one is set iff the other is.
STORED_TOGETHER = (
    ("refill_due", "refill_deadline"),
    ("battery_window_opens", "battery_window_closes"),
    ("eri_reported_on", "eri_replace_by"),
)

# The stored dates a status reads (and the due list's order reads).
STATUS_FIELDS = (
    "refill_due",
    "refill_deadline",
    "battery_window_opens",
    "battery_window_closes",
    "eri_reported_on",
    "eri_replace_by",
)


@dataclass(frozen=True)
class Day:
    """The day statuses are judged on, with the look-ahead of the policy."""

    today: date
    lookahead_days: int

    def bound(self, name: Bound) -> date:
        return self.today + timedelta(days=self.lookahead_days if name == "horizon" else 0)


@dataclass(frozen=True)
class Atom:
    """One boundary on one stored date. A comparison never holds for a missing date
    (as in SQL). ``set`` is written as a range (``>= date.min``): without table
    statistics SQLite takes a range for selective and IS NOT NULL for not."""

    field: str
    op: Op
    bound: Bound | None = None

    def holds(self, dates: dict[str, date | None], day: Day) -> bool:
        value = dates[self.field]
        if self.op == "missing":
            return value is None
        if value is None:
            return False
        if self.op == "set":
            return True
        limit = day.bound(self.bound or "today")
        return {
            "lt": value < limit,
            "lte": value <= limit,
            "gt": value > limit,
            "gte": value >= limit,
        }[self.op]

    def q(self, day: Day) -> Q:
        if self.op == "missing":
            return Q(**{f"{self.field}__isnull": True})
        if self.op == "set":
            return Q(**{f"{self.field}__gte": date.min})
        return Q(**{f"{self.field}__{self.op}": day.bound(self.bound or "today")})

    def negated(self) -> Atom:
        """The complement among pumps whose date is set (``set``/``missing``: exact)."""
        opposite: dict[Op, Op] = {
            "missing": "set",
            "set": "missing",
            "lt": "gte",
            "lte": "gt",
            "gt": "lte",
            "gte": "lt",
        }
        return Atom(self.field, opposite[self.op], self.bound)


def missing(field: str) -> Atom:
    return Atom(field, "missing")


def present(field: str) -> Atom:
    return Atom(field, "set")


def before(field: str, bound: Bound) -> Atom:
    return Atom(field, "lt", bound)


def on_or_before(field: str, bound: Bound) -> Atom:
    return Atom(field, "lte", bound)


def after(field: str, bound: Bound) -> Atom:
    return Atom(field, "gt", bound)


@dataclass(frozen=True)
class Status:
    kind: Kind
    value: RefillStatus | BatteryStatus
    when: tuple[Atom, ...]  # all hold (and no earlier row of the kind matched)
    rank: int | None = None  # place on the due list, most urgent first; None: the rest
    ordered_by: str = "refill_deadline"  # the stored date that orders the rank
    flagged: bool = False  # on the worklist and in ``--flagged``
    urgent_when_due: bool = False  # urgent when the drug says so (baclofen)
    card: str = ""  # the worklist card that counts it

    @property
    def name(self) -> tuple[Kind, str]:
        return self.kind, self.value.value

    def holds(self, dates: dict[str, date | None], day: Day) -> bool:
        return all(atom.holds(dates, day) for atom in self.when)

    def q(self, day: Day) -> Q:
        condition = Q()
        for atom in self.when:
            condition &= atom.q(day)
        return condition


# --- The table ----------------------------------------------------------------------------

STATUSES: tuple[Status, ...] = (
    # Refill (section 3). A deadline is never before its due date.
    Status(
        "refill",
        RefillStatus.UNKNOWN,
        (missing("refill_deadline"),),
        rank=6,
        flagged=True,
        card="unknown",
    ),
    Status(
        "refill",
        RefillStatus.OVERDUE,
        (before("refill_deadline", "today"),),
        rank=0,
        flagged=True,
        urgent_when_due=True,
        card="overdue",
    ),
    Status(
        "refill",
        RefillStatus.DUE,
        (on_or_before("refill_due", "today"),),
        rank=2,
        flagged=True,
        urgent_when_due=True,
        card="due",
    ),
    Status(
        "refill",
        RefillStatus.UPCOMING,
        (on_or_before("refill_due", "horizon"),),
        rank=4,
        flagged=True,
        card="upcoming",
    ),
    Status("refill", RefillStatus.OK, (after("refill_due", "horizon"),)),
    # Battery (section 5). A window never closes before it opens.
    Status("battery", BatteryStatus.NOT_APPLICABLE, (missing("battery_window_opens"),)),
    Status(
        "battery",
        BatteryStatus.ERI,
        (present("eri_reported_on"),),
        rank=1,
        ordered_by="eri_replace_by",  # the pump stops ~90 days after ERI
        flagged=True,
        card="battery",
    ),
    Status(
        "battery",
        BatteryStatus.OVERDUE,
        (on_or_before("battery_window_closes", "today"),),
        rank=3,
        ordered_by="battery_window_closes",
        flagged=True,
        card="battery",
    ),
    Status(
        "battery",
        BatteryStatus.WINDOW,
        (on_or_before("battery_window_opens", "today"),),
        rank=5,
        ordered_by="battery_window_closes",
        flagged=True,
        card="battery",
    ),
    Status("battery", BatteryStatus.OK, (after("battery_window_opens", "today"),)),
)

# The worklist's cards, in the page's order: key -> label.
CARDS: dict[str, str] = {
    "overdue": "Refill overdue",
    "due": "Refill due",
    "upcoming": "Refill upcoming",
    "battery": "Battery (ERI, overdue, window)",
    "unknown": "Never filled",
}

# The rest of the due list (no flagged status) is ordered by the refill deadline.
REST_ORDERED_BY = "refill_deadline"


# --- Derived: the table by kind and by rank -------------------------------------------------


def of_kind(kind: Kind) -> tuple[Status, ...]:
    return tuple(status for status in STATUSES if status.kind == kind)


REFILL = of_kind("refill")
BATTERY = of_kind("battery")
RANKED: tuple[Status, ...] = tuple(
    sorted((s for s in STATUSES if s.rank is not None), key=lambda s: s.rank or 0)
)
REST_RANK = len(RANKED)
_RANK = {status.name: status.rank for status in RANKED}


def _check_table() -> None:
    ranks = [status.rank for status in RANKED]
    assert ranks == list(range(len(ranks))), f"ranks must be 0..n-1 without gaps: {ranks}"
    assert all(s.flagged for s in RANKED), "a ranked status is flagged"
    assert not any(s.flagged for s in STATUSES if s.rank is None), "a flagged status is ranked"
    assert {s.card for s in STATUSES if s.card} == set(CARDS), "every card counts a status"
    assert all(len(s.when) == 1 for s in STATUSES), "each condition is one boundary"
    for kind in ("refill", "battery"):
        values = [s.value for s in of_kind(kind)]  # type: ignore[arg-type]
        assert len(set(values)) == len(values), f"a {kind} status is listed twice"


_check_table()


# --- Derived: one pump's status in Python ------------------------------------------------------


def _first(statuses: Iterable[Status], dates: dict[str, date | None], day: Day) -> Status:
    for status in statuses:
        if status.holds(dates, day):
            return status
    # Only dates the services never store (a due date without a deadline)
    # match no row; SQL's CASE falls through to the same last row (its default).
    return tuple(statuses)[-1]


def dates_of(pump: Any) -> dict[str, date | None]:
    """The stored dates a status reads, from a Pump (or anything with those attributes)."""
    return {name: getattr(pump, name) for name in STATUS_FIELDS}


def refill_status(dates: dict[str, date | None], day: Day) -> RefillStatus:
    return _first(REFILL, dates, day).value  # type: ignore[return-value]


def battery_status(dates: dict[str, date | None], day: Day) -> BatteryStatus:
    return _first(BATTERY, dates, day).value  # type: ignore[return-value]


def lookup(kind: Kind, value: str) -> Status:
    for status in of_kind(kind):
        if status.value == value:
            return status
    raise ValueError(f"unknown {kind} status {value!r}")


def due_rank(refill: str, battery: str) -> int:
    """The rank of the more urgent of the pump's two statuses (REST_RANK if neither)."""
    ranks = [
        rank
        for rank in (_RANK.get(("refill", refill)), _RANK.get(("battery", battery)))
        if rank is not None
    ]
    return min(ranks, default=REST_RANK)


def ordered_by(rank: int) -> str:
    """The stored date that orders the pumps of ``rank``."""
    return RANKED[rank].ordered_by if rank < REST_RANK else REST_ORDERED_BY


def sort_key(
    *, refill: str, battery: str, dates: dict[str, date | None], serial: str
) -> tuple[int, date, str]:
    """Rank, then the date that put the pump there (missing: last), then serial."""
    rank = due_rank(refill, battery)
    return rank, dates.get(ordered_by(rank)) or date.max, serial


def is_flagged(refill: str, battery: str) -> bool:
    """Anything with a flagged status of either kind (``--flagged``, the worklist)."""
    return lookup("refill", refill).flagged or lookup("battery", battery).flagged


def is_urgent(refill: str, drug_urgent_when_due: bool) -> bool:
    """A refill status that is urgent for a drug marked so (baclofen: withdrawal)."""
    return bool(drug_urgent_when_due) and lookup("refill", refill).urgent_when_due


# --- Derived: the same in SQL -------------------------------------------------------------------


def _case(statuses: Iterable[Status], day: Day) -> models.Case:
    statuses = tuple(statuses)
    return models.Case(
        *[models.When(s.q(day), then=Value(s.value.value)) for s in statuses[:-1]],
        default=Value(statuses[-1].value.value),
        output_field=models.CharField(),
    )


def status_annotations(day: Day) -> dict[str, models.Case]:
    """``refill_status`` and ``battery_status`` as SQL, for ``QuerySet.annotate``."""
    return {"refill_status": _case(REFILL, day), "battery_status": _case(BATTERY, day)}


def rank_annotations() -> dict[str, models.Case]:
    """``due_rank`` and ``rank_date``, on a queryset with the status annotations."""
    due = models.Case(
        *[
            models.When(Q(**{f"{s.kind}_status": s.value.value}), then=Value(s.rank))
            for s in RANKED
        ],
        default=Value(REST_RANK),
        output_field=models.IntegerField(),
    )
    rank_date = models.Case(
        *[
            models.When(due_rank=s.rank, then=models.F(s.ordered_by))
            for s in RANKED
            if s.ordered_by != REST_ORDERED_BY
        ],
        default=models.F(REST_ORDERED_BY),
        output_field=models.DateField(),
    )
    return {"due_rank": due, "rank_date": rank_date}


def urgent_annotation() -> models.Case:
    """``urgent``, on a queryset with the status annotations (reads the latest fill's drug)."""
    urgent = [s.value.value for s in REFILL if s.urgent_when_due]
    return models.Case(
        models.When(
            Q(refill_status__in=urgent, latest_fill__drug__urgent_when_due=True), then=Value(True)
        ),
        default=Value(False),
        output_field=models.BooleanField(),
    )


def first_match(kind: Kind, value: str, day: Day) -> Q:
    """The rows whose status of ``kind`` is ``value``, on the stored dates.

    Each row's condition holds only once the earlier ones failed (``due`` is
    ``refill_due <= today`` after ``unknown`` and ``overdue`` are ruled out).
    Written with the negated boundaries (each earlier row's date is then set)
    so that every part is a range on an indexed date.
    """
    condition = Q()
    for status in of_kind(kind):
        if status.value == value:
            return condition & status.q(day)
        condition &= _negation(status)(day)
    raise ValueError(f"unknown {kind} status {value!r}")


def _negation(status: Status) -> Callable[[Day], Q]:
    if len(status.when) != 1:
        return lambda day: ~status.q(day)
    (atom,) = status.when
    return atom.negated().q


# --- Derived: where each rank lies in its ordering date's index ----------------------------------


def _together(field: str) -> set[str]:
    for pair in STORED_TOGETHER:
        if field in pair:
            return set(pair)
    return {field}


def _known_atoms(status: Status) -> list[Atom]:
    """Boundaries every pump of ``status`` meets: its own, and the negation of each
    earlier single-boundary row of its kind (a date compared there is set)."""
    atoms = list(status.when)
    for earlier in of_kind(status.kind):
        if earlier is status:
            break
        if len(earlier.when) == 1:
            atoms.append(earlier.when[0].negated())
            if earlier.when[0].op not in ("missing", "set"):
                atoms.append(present(earlier.when[0].field))
    return atoms


def rank_ranges(day: Day) -> list[tuple[Q, tuple[str, ...]]]:
    """For each rank: a range of its ordering date that every pump of the rank lies
    in (so the index on that date serves it), and the rank's order."""
    ranges: list[tuple[Q, tuple[str, ...]]] = []
    for status in RANKED:
        field = status.ordered_by
        on_field = [
            atom
            for atom in _known_atoms(status)
            if atom.field == field
            or (atom.op in ("missing", "set") and field in _together(atom.field))
        ]
        if any(atom.op == "missing" for atom in on_field):
            ranges.append((Q(**{f"{field}__isnull": True}), ("serial",)))
            continue
        compared = [atom for atom in on_field if atom.op not in ("missing", "set")]
        if not compared and not on_field:
            raise ValueError(f"{status.name}: no condition bounds its date {field}")
        condition = Q()
        for atom in compared or [present(field)]:
            condition &= Atom(field, atom.op, atom.bound).q(day)
        ranges.append((condition, (field, "serial")))
    return ranges


# --- Derived: counts as sums of index range counts ---------------------------------------------
#
# Counting the pumps of a status with its CASE (or with NOT of the earlier
# rows) reads every pump's row. Instead each count is a sum, with signs, of
# counts of "terms": conjunctions of boundaries that an index on the stored
# dates answers alone. A kind's statuses up to row i are the union of the
# rows' own boundaries (P_i); the status of row i is P_i - P_(i-1); a union
# is split into disjoint terms (missing dates first); boundaries implied by
# others are dropped, using what the services store: a deadline is never
# before its due date, a window never closes before it opens, and the dates
# of STORED_TOGETHER are set together.

# (earlier, later): the first is never after the second when both are set.
STORED_ORDER = (
    ("refill_due", "refill_deadline"),
    ("battery_window_opens", "battery_window_closes"),
)
UPPER: tuple[Op, ...] = ("lt", "lte")
LOWER: tuple[Op, ...] = ("gt", "gte")

Term = tuple[Atom, ...]  # a conjunction, in a canonical order
Sum = dict[Term, int]  # a signed sum of term counts


def _canonical(atom: Atom) -> Atom:
    """``missing``/``set`` on the first date of its stored-together pair (the indexed one)."""
    if atom.op in ("missing", "set"):
        for pair in STORED_TOGETHER:
            if atom.field in pair:
                return Atom(pair[0], atom.op)
    return atom


def _not_after(first: str, second: str) -> bool:
    return first == second or (first, second) in STORED_ORDER


def implies(a: Atom, b: Atom, day: Day) -> bool:
    """Whether ``a`` holding makes ``b`` hold, for dates the services store."""
    if a == b:
        return True
    if b.op == "set":
        return a.op != "missing" and a.field in _together(b.field)
    if b.op == "missing" or a.op in ("missing", "set"):
        return a.op == b.op and a.field in _together(b.field)
    x, y = day.bound(a.bound or "today"), day.bound(b.bound or "today")
    if a.op in UPPER and b.op in UPPER and _not_after(b.field, a.field):
        # b.field <= a.field (<) x <= y
        return x < y or (x == y and (b.op == "lte" or a.op == "lt"))
    if a.op in LOWER and b.op in LOWER and _not_after(a.field, b.field):
        return x > y or (x == y and (b.op == "gte" or a.op == "gt"))
    return False


def _simplified(atoms: Iterable[Atom], day: Day) -> Term | None:
    """The conjunction without boundaries implied by others; None if it cannot hold."""
    unique = list(dict.fromkeys(_canonical(atom) for atom in atoms))
    for a in unique:
        for b in unique:
            if a.op == "missing" and b.op != "missing" and b.field in _together(a.field):
                return None
            if a.field == b.field and a.op in UPPER and b.op in LOWER:
                highest = day.bound(a.bound or "today") - timedelta(days=a.op == "lt")
                lowest = day.bound(b.bound or "today") + timedelta(days=b.op == "gt")
                if lowest > highest:
                    return None
    kept = [
        atom
        for index, atom in enumerate(unique)
        if not any(
            implies(other, atom, day) and (not implies(atom, other, day) or other_index < index)
            for other_index, other in enumerate(unique)
            if other_index != index
        )
    ]
    return tuple(sorted(kept, key=lambda atom: (atom.field, atom.op, atom.bound or "")))


def _union(kind: Kind, upto: int, day: Day) -> list[Atom]:
    """The boundaries of the kind's first ``upto`` rows, without redundant ones,
    missing dates first (so later ones know their dates are set), "set" last."""
    union: list[Atom] = []
    for row in of_kind(kind)[:upto]:
        (atom,) = row.when
        union.append(_canonical(atom))
    union = [
        atom
        for index, atom in enumerate(union)
        if not any(
            implies(atom, other, day) and (not implies(other, atom, day) or j < index)
            for j, other in enumerate(union)
            if j != index
        )
    ]
    union.sort(key=lambda atom: {"missing": 0, "set": 2}.get(atom.op, 1))
    return union


def _none_of(union: list[Atom]) -> list[Atom]:
    """None of ``union``'s boundaries holds, as a conjunction (exact: see _union)."""
    negations = []
    for index, atom in enumerate(union):
        if atom.op not in ("missing", "set") and not any(
            e.op == "missing" and atom.field in _together(e.field) for e in union[:index]
        ):
            raise ValueError(f"a boundary on {atom.field} needs a missing row first")
        negations.append(atom.negated())
    return negations


def _split(kind: Kind, upto: int, day: Day) -> list[Term]:
    """The pumps whose status of ``kind`` is among its first ``upto`` rows, as disjoint terms."""
    union = _union(kind, upto, day)
    terms: list[Term] = []
    for index, atom in enumerate(union):
        term = _simplified([atom, *_none_of(union[:index])], day)
        if term is not None:
            terms.append(term)
    return terms


def _add(total: Sum, terms: Iterable[Term], sign: int) -> None:
    for term in terms:
        total[term] = total.get(term, 0) + sign
        if total[term] == 0:
            del total[term]


def _status_terms(kind: Kind, value: str, day: Day) -> list[tuple[list[Term], int]]:
    index = [s.value for s in of_kind(kind)].index(value)  # type: ignore[arg-type]
    return [(_split(kind, index + 1, day), 1), (_split(kind, index, day), -1)]


def count_of(statuses: Iterable[Status], day: Day) -> Sum:
    """The pumps with any of ``statuses`` (of either kind), as a signed sum of terms."""
    total: Sum = {}
    chosen = list(statuses)
    refill = [s for s in chosen if s.kind == "refill"]
    battery = [s for s in chosen if s.kind == "battery"]
    for first, second in ((refill, battery), (battery, refill)):
        if first and second and first == list(of_kind(first[0].kind)[: len(first)]):
            # The first kind's statuses are the first rows of its order: count
            # them, then the second kind's among pumps with none of them.
            _add(total, _split(first[0].kind, len(first), day), 1)
            none = _none_of(_union(first[0].kind, len(first), day))
            for row in second:
                for terms, sign in _status_terms(row.kind, row.value.value, day):
                    with_none = [_simplified(term + tuple(none), day) for term in terms]
                    _add(total, [term for term in with_none if term is not None], sign)
            return total
    for row in chosen:
        for terms, sign in _status_terms(row.kind, row.value.value, day):
            _add(total, terms, sign)
    # Pumps with one of each kind were counted twice: take their pairs away once.
    for r in refill:
        for b in battery:
            for r_terms, r_sign in _status_terms("refill", r.value.value, day):
                for b_terms, b_sign in _status_terms("battery", b.value.value, day):
                    products = [
                        product
                        for t1 in r_terms
                        for t2 in b_terms
                        if (product := _simplified(t1 + t2, day)) is not None
                    ]
                    _add(total, products, -r_sign * b_sign)
    return total


def term_q(term: Term, day: Day) -> Q:
    condition = Q()
    for atom in term:
        condition &= atom.q(day)
    return condition


def term_name(term: Term) -> str:
    """A readable, stable name for a term (``refill_due<=horizon&...``)."""
    signs = {"missing": " missing", "set": " set", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
    return "&".join(f"{a.field}{signs[a.op]}{a.bound or ''}" for a in term)
