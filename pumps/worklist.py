"""The nurse's worklist: active pumps that need action, in the due-list order.

The order is computed in SQL from the same rank table as the Python rule
(``schedule.DUE_LIST_RANKS``); tests compare it with ``build_due_list``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db import models
from django.db.models import Count, Exists, OuterRef, Q, Subquery, Value

from patients.choices import VisitKind, VisitStatus
from patients.models import Appointment
from pumps import schedule
from pumps.choices import BatteryStatus, RefillStatus
from pumps.models import Pump, PumpQuerySet

BATTERY_ATTENTION = [BatteryStatus.ERI, BatteryStatus.OVERDUE, BatteryStatus.WINDOW]

# The status filter of the page: value -> condition on the annotated statuses.
STATUS_FILTERS: dict[str, tuple[str, Q]] = {
    "overdue": ("Refill overdue", Q(refill_status=RefillStatus.OVERDUE)),
    "due": ("Refill due", Q(refill_status=RefillStatus.DUE)),
    "upcoming": ("Refill upcoming", Q(refill_status=RefillStatus.UPCOMING)),
    "battery": ("Battery (ERI, overdue, window)", Q(battery_status__in=BATTERY_ATTENTION)),
    "unknown": ("Never filled", Q(refill_status=RefillStatus.UNKNOWN)),
    "discrepancy": (
        "Unsigned discrepancy",
        Q(latest_fill__discrepancy=True, latest_fill__discrepancy_signed_off_at__isnull=True),
    ),
}


@dataclass(frozen=True)
class WorklistFilters:
    status: str = ""
    drug: str = ""
    model: str = ""
    booked: str = ""  # "yes", "no" or ""
    query: str = ""


def with_due_rank(queryset: PumpQuerySet, today: date, lookahead_days: int) -> PumpQuerySet:
    """Annotate statuses, the due-list rank and the date that ranks the pump."""
    ranks = [
        models.When(Q(**{f"{kind}_status": status}), then=Value(rank))
        for rank, (kind, status) in enumerate(schedule.DUE_LIST_RANKS)
    ]
    battery_ranks = [
        rank for rank, (kind, _) in enumerate(schedule.DUE_LIST_RANKS) if kind == "battery"
    ]
    return (
        queryset.with_statuses(today, lookahead_days)
        .annotate(
            due_rank=models.Case(
                *ranks, default=Value(schedule.REST_RANK), output_field=models.IntegerField()
            )
        )
        .annotate(
            rank_date=models.Case(
                models.When(due_rank__in=battery_ranks, then="battery_window_closes"),
                default="refill_deadline",
                output_field=models.DateField(),
            )
        )
    )


def next_refill_booking() -> Subquery:
    return Subquery(
        Appointment.objects.filter(
            pump=OuterRef("pk"), kind=VisitKind.REFILL, status=VisitStatus.BOOKED
        )
        .order_by("scheduled_at")
        .values("scheduled_at")[:1]
    )


def worklist(*, today: date, lookahead_days: int, filters: WorklistFilters) -> PumpQuerySet:
    """Active pumps with something to do, most urgent first, with their next booking."""
    # (mypy's Django plugin cannot see annotations, hence the ignores below.)
    pumps = with_due_rank(Pump.objects.active(), today, lookahead_days).filter(
        due_rank__lt=schedule.REST_RANK  # type: ignore[misc]
    )
    pumps = pumps.annotate(
        next_booking=next_refill_booking(),
        missed_visit=Exists(Appointment.objects.missed_not_rebooked().filter(pump=OuterRef("pk"))),
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


def status_counts(*, today: date, lookahead_days: int) -> dict[str, int]:
    """How many active pumps are in each worklist status (one query)."""
    counted = Pump.objects.active().with_statuses(today, lookahead_days)
    return counted.aggregate(
        **{key: Count("pk", filter=condition) for key, (_, condition) in STATUS_FILTERS.items()}
    )
