"""The physician's review queue: everything that waits for a physician's word.

Each section is one query (statuses and bookings are SQL annotations), so the
page's query count does not grow with the registry. Review dates are decided
by the pure rules in ``care.reviews``; SQL only pre-filters with their
cutoffs. Records entered in error (clinical-rules.md 9) wait for nobody: every
section reads the records in force only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import (
    Exists,
    F,
    Func,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce, TruncDate

from care import reviews
from care.choices import (
    FAILED_CONTACT,
    MADE_CONTACT,
    ReviewStatus,
    TrialDecision,
    VisitKind,
    VisitStatus,
)
from care.models import Appointment, ContactAttempt, MriScan, Trial
from patients.models import EARLIEST_MOMENT, IN_FORCE
from pumps.choices import BatteryStatus, RefillStatus
from pumps.models import Pump, PumpQuerySet, Refill

BATTERY_TO_PLAN = [BatteryStatus.ERI, BatteryStatus.WINDOW, BatteryStatus.OVERDUE]
REVIEW_KINDS = [VisitKind.FIRST_REVIEW, VisitKind.PHYSICIAN_REVIEW]


def _first_booked(kinds: Sequence[str], *, since: str | None = None) -> Subquery:
    """The patient's earliest booked visit of ``kinds`` (optionally on or after a date)."""
    visits = Appointment.objects.filter(
        patient=OuterRef("patient"), kind__in=kinds, status=VisitStatus.BOOKED
    )
    if since is not None:
        visits = visits.filter(scheduled_at__date__gte=OuterRef(since))
    return Subquery(visits.order_by("scheduled_at").values("scheduled_at")[:1])


def unsigned_discrepancies() -> QuerySet[Refill]:
    """Residual-volume flags of active pumps that no physician has signed off (section 4).

    A refill entered in error carries no flag (section 9).
    """
    return (
        Refill.objects.filter(
            IN_FORCE,
            discrepancy=True,
            discrepancy_signed_off_at__isnull=True,
            pump__explant_date__isnull=True,
        )
        .select_related("pump__patient", "pump__model", "drug", "recorded_by")
        .order_by("refill_date", "pk")
    )


def batteries_to_plan(*, today: date, lookahead_days: int) -> PumpQuerySet:
    """ERI, window and overdue batteries, the soonest to stop first, with the consult booked.

    An ERI pump stops by its replace-by date (section 5), the others by the
    window's close: the same dates that rank them on the due list.
    """
    return (
        Pump.objects.active()
        .with_statuses(today, lookahead_days)
        .filter(battery_status__in=BATTERY_TO_PLAN)  # type: ignore[misc]
        .annotate(consult_at=_first_booked([VisitKind.BATTERY_CONSULT]))
        .select_related("patient", "model")
        .order_by(Coalesce("eri_replace_by", "battery_window_closes"), "serial")
    )


# Three failed attempts to reach a patient whose refill is overdue: the nurses
# have tried, and a physician decides what next (issue 15, item 6).
FAILED_ATTEMPTS_TO_RAISE = 3


def _attempts_in_force() -> QuerySet[ContactAttempt]:
    return ContactAttempt.objects.filter(IN_FORCE, patient=OuterRef("patient")).order_by()


def unreachable_overdue(*, today: date, lookahead_days: int) -> PumpQuerySet:
    """Active pumps with an overdue refill whose patient staff failed to reach three
    times or more, the longest overdue first.

    Failed attempts (voicemail, no answer, wrong number) count from the later of
    the last attempt that reached the patient (reached or declined) and the day
    of the pump's last refill: a reached patient or a refill starts the count
    again. The count is a subquery per pump: one statement for the section.
    """
    last_reached = Subquery(
        _attempts_in_force()
        .filter(outcome__in=MADE_CONTACT)
        .values(latest=Func(F("attempted_at"), function="MAX"))
    )
    failed_since = Subquery(
        _attempts_in_force()
        .filter(
            outcome__in=FAILED_CONTACT,
            attempted_at__gt=Coalesce(OuterRef("last_reached_at"), Value(EARLIEST_MOMENT)),
            # The refill's clinic-local day: TruncDate uses the current time zone.
            attempted_at__date__gt=OuterRef("latest_fill__refill_date"),
        )
        .values(n=Func(F("pk"), function="COUNT", output_field=IntegerField()))
    )
    last_attempt = Subquery(
        _attempts_in_force().order_by("-attempted_at", "-pk").values("attempted_at")[:1]
    )
    return (
        Pump.objects.active()
        .with_statuses(today, lookahead_days)
        .filter(refill_status=RefillStatus.OVERDUE)  # type: ignore[misc]
        .annotate(last_reached_at=last_reached)
        .annotate(failed_attempts=failed_since, last_attempt_at=last_attempt)
        .filter(failed_attempts__gte=FAILED_ATTEMPTS_TO_RAISE)
        .select_related("patient", "model", "latest_fill__drug")
        .order_by("refill_deadline", "serial")
    )


def trials_awaiting_decision() -> QuerySet[Trial]:
    return (
        Trial.objects.filter(IN_FORCE, decision=TrialDecision.PENDING)
        .select_related("patient", "drug")
        .order_by("trial_date", "pk")
    )


def pending_mri_checks() -> QuerySet[MriScan]:
    """MRIs whose pump has not been interrogated yet, of patients with an active pump.

    (A patient without a pump has nothing to check; an MRI entered in error asks
    for no check.)
    """
    return (
        MriScan.objects.filter(IN_FORCE, pump_checked_on__isnull=True)
        .filter(Exists(Pump.objects.active().filter(patient=OuterRef("patient"))))
        .annotate(
            check_at=_first_booked([VisitKind.POST_MRI_CHECK], since="scanned_on"),
        )
        .select_related("patient")
        .order_by("scanned_on", "pk")
    )


@dataclass(frozen=True)
class ReviewDue:
    """A pump's next first or yearly physician review (section 7)."""

    pump: Pump
    kind: str  # VisitKind.FIRST_REVIEW or VisitKind.PHYSICIAN_REVIEW
    status: ReviewStatus
    due: date
    overdue_from: date  # the first day it counts as overdue
    last_review: date | None
    booked_at: datetime | None


def _last_review_done() -> Subquery:
    """The day of the patient's latest review done since the pump's implant.

    Any review (first or physician) counts: a physician review held in the
    first weeks is the first review.
    """
    return Subquery(
        Appointment.objects.filter(
            patient=OuterRef("patient"),
            kind__in=REVIEW_KINDS,
            status=VisitStatus.DONE,
            scheduled_at__date__gte=OuterRef("implant_date"),
        )
        .annotate(day=TruncDate("scheduled_at"))
        .order_by("-scheduled_at")
        .values("day")[:1]
    )


def next_review(
    pump: Pump, *, last_review: date | None, booked_at: datetime | None, today: date
) -> ReviewDue:
    """The pump's next review and where it stands on ``today``.

    Until the implant's first anniversary a missing first review is the first
    review (overdue after day 42); from then on it is the yearly review.
    """
    yearly_due = reviews.yearly_review_due(implant_date=pump.implant_date, last_review=last_review)
    if last_review is None and today < yearly_due:
        status = reviews.first_review_status(
            implant_date=pump.implant_date, today=today, done=False
        )
        opens, closes = reviews.first_review_window(pump.implant_date)
        kind, due, overdue_from = VisitKind.FIRST_REVIEW, opens, closes + timedelta(days=1)
    else:
        status = reviews.yearly_review_status(
            implant_date=pump.implant_date, last_review=last_review, today=today
        )
        kind, due = VisitKind.PHYSICIAN_REVIEW, yearly_due
        overdue_from = reviews.yearly_review_overdue_from(
            implant_date=pump.implant_date, last_review=last_review
        )
    return ReviewDue(
        pump=pump,
        kind=kind,
        status=status,
        due=due,
        overdue_from=overdue_from,
        last_review=last_review,
        booked_at=booked_at,
    )


def with_review_dates(pumps: PumpQuerySet) -> PumpQuerySet:
    """Each pump with ``last_review_on`` (the day of the last review done since its
    implant) and ``review_booked_at`` (the first review booked since), for
    :func:`annotated_review`: no query of its own."""
    return pumps.annotate(
        last_review_on=_last_review_done(),
        review_booked_at=_first_booked(REVIEW_KINDS, since="implant_date"),
    )


def annotated_review(
    pump: Pump,
    *,
    last_review_on: date | datetime | None,
    review_booked_at: datetime | None,
    today: date,
) -> ReviewDue:
    """The next review from the dates :func:`with_review_dates` annotates."""
    if isinstance(last_review_on, datetime):  # TruncDate gives a date; be sure of it
        last_review_on = last_review_on.date()
    return next_review(pump, last_review=last_review_on, booked_at=review_booked_at, today=today)


def pump_review(pump: Pump, *, today: date) -> ReviewDue:
    """One pump's next review, for the handover summary (one query)."""
    found = (
        with_review_dates(Pump.objects.filter(pk=pump.pk))
        # The stubs do not see the annotations of with_review_dates.
        .values("last_review_on", "review_booked_at")  # type: ignore[misc]
        .get()
    )
    return annotated_review(pump, **found, today=today)


def reviews_due(*, today: date) -> list[ReviewDue]:
    """Active pumps whose first review (2 to 6 weeks) or yearly review is due or overdue."""
    pumps = (
        with_review_dates(
            Pump.objects.active().filter(
                implant_date__lte=reviews.first_review_opened_cutoff(today)
            )
        )
        # SQL pre-filters with the rules' cutoffs; the rules decide below.
        .filter(
            Q(last_review_on__isnull=True)
            | Q(last_review_on__lte=reviews.yearly_review_cutoff(today))
        )
        .select_related("patient", "model")
        .order_by("implant_date", "serial")
    )
    items: list[ReviewDue] = []
    for pump in pumps:
        item = annotated_review(
            pump,
            last_review_on=pump.last_review_on,  # type: ignore[attr-defined]
            review_booked_at=pump.review_booked_at,  # type: ignore[attr-defined]
            today=today,
        )
        if item.status != ReviewStatus.NOT_DUE:
            items.append(item)
    items.sort(key=lambda item: (item.due, item.pump.serial))
    return items
