"""The pharmacy order list (issue 14): what must be prepared for the refills ahead.

For a range of days, every active pump whose next refill falls in it: booked
(the earliest booked refill visit), or due and not booked (the stored due
date; a pump already past it is due today). Each line carries the drug and
concentration of the fill in force and the volume to prepare, and the lines
are grouped by drug and concentration with their totals. Each line and group
has the day by which its order must reach the pharmacy: the refill day minus
the drug's lead time (``Drug.lead_days``: the drug's own, or the clinic's
setting, longer for a compounded drug).

Amounts are Decimal throughout: they go to a pharmacy.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Q
from django.utils import timezone

from care.worklist import next_refill_booking
from pumps.choices import ConcentrationUnit
from pumps.models import Drug, Pump

# How far ahead a list may reach: a quarter is as far as a pharmacy plans.
MAX_RANGE_DAYS = 92

# What the volume to prepare is: what the pump was last filled with (the
# usual amount), or the pump's full reservoir (the most it can take).
BASIS_LAST_FILL = "last_fill"
BASIS_RESERVOIR = "reservoir"
BASES = {BASIS_LAST_FILL: "the volume last filled", BASIS_RESERVOIR: "the full reservoir"}

MCG_PER_MG = Decimal(1000)


@dataclass(frozen=True)
class OrderLine:
    """One refill to prepare."""

    pump: Pump
    refill_day: date
    booked: bool
    drug: Drug
    concentration: Decimal
    concentration_unit: str
    volume_ml: Decimal
    order_by: date

    @property
    def concentration_mcg_per_ml(self) -> Decimal:
        if self.concentration_unit == ConcentrationUnit.MG_PER_ML:
            return self.concentration * MCG_PER_MG
        return self.concentration


@dataclass
class OrderGroup:
    """The lines of one drug at one concentration (500 mcg/mL and 0.5 mg/mL are one)."""

    drug: Drug
    concentration: Decimal  # in the unit of the group's first line
    concentration_unit: str
    lines: list[OrderLine] = field(default_factory=list)

    @property
    def concentration_mcg_per_ml(self) -> Decimal:
        return self.lines[0].concentration_mcg_per_ml

    @property
    def total_ml(self) -> Decimal:
        return sum((line.volume_ml for line in self.lines), Decimal(0))

    @property
    def total_amount(self) -> Decimal:
        """The drug in the group's volume, in mg or mcg as its concentration is."""
        return self.total_ml * self.concentration

    @property
    def amount_unit(self) -> str:
        return self.concentration_unit.split("/")[0]

    @property
    def order_by(self) -> date:
        """The earliest line's: the whole group travels in one order."""
        return min(line.order_by for line in self.lines)

    @property
    def first_refill(self) -> date:
        return min(line.refill_day for line in self.lines)


def order_by_day(refill_day: date, lead_days: int) -> date:
    """The day the order must reach the pharmacy for a refill on ``refill_day``."""
    return refill_day - timedelta(days=lead_days)


def order_lines(*, start: date, end: date, today: date, basis: str) -> list[OrderLine]:
    """Every refill booked or due from ``start`` to ``end`` (inclusive), soonest first.

    One query. SQL selects the candidates (a booking on a day in the range, or
    no booking and a due date that places the refill in it); the day each line
    is listed on is decided below from the same values.
    """
    booked_in_range = Q(next_booking__date__gte=start, next_booking__date__lte=end)
    # Not booked: the refill falls on its due date, or today once that has passed.
    due_in_range = Q(next_booking__isnull=True, refill_due__lte=end)
    if start > today:
        due_in_range &= Q(refill_due__gte=start)
    elif end < today:
        due_in_range = Q(pk__in=[])  # a past range: nothing unbooked falls in it
    pumps = (
        Pump.objects.active()
        .filter(latest_fill__isnull=False)
        .annotate(next_booking=next_refill_booking())
        .filter(booked_in_range | due_in_range)
        .with_list_relations()
        .order_by("serial")
    )
    lines = []
    for pump in pumps:
        booking = pump.next_booking  # type: ignore[attr-defined]
        if booking is not None:
            refill_day = timezone.localtime(booking).date()
        else:
            assert pump.refill_due is not None  # the filter asked for one
            refill_day = max(pump.refill_due, today)
        if not start <= refill_day <= end:
            continue  # (cannot happen: the filter is the same rule)
        fill = pump.latest_fill
        assert fill is not None
        volume = fill.volume_ml if basis == BASIS_LAST_FILL else pump.model.reservoir_ml
        lines.append(
            OrderLine(
                pump=pump,
                refill_day=refill_day,
                booked=booking is not None,
                drug=fill.drug,
                concentration=fill.concentration,
                concentration_unit=fill.concentration_unit,
                volume_ml=volume,
                order_by=order_by_day(refill_day, fill.drug.lead_days),
            )
        )
    lines.sort(key=lambda line: (line.refill_day, line.pump.serial))
    return lines


def grouped(lines: Iterable[OrderLine]) -> list[OrderGroup]:
    """The lines by drug and concentration, the group to order first first."""
    groups: dict[tuple[int, Decimal], OrderGroup] = {}
    for line in lines:
        key = (line.drug.pk, line.concentration_mcg_per_ml)
        if key not in groups:
            groups[key] = OrderGroup(line.drug, line.concentration, line.concentration_unit)
        groups[key].lines.append(line)
    return sorted(
        groups.values(),
        key=lambda group: (group.order_by, group.drug.name, group.concentration),
    )
