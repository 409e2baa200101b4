"""Visits, screening trials and clinical events (clinical-rules.md 6 and 7)."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models.functions import TruncDate
from simple_history.models import HistoricalRecords

from care import rules
from care.choices import (
    FAILED_CONTACT,
    ComplicationKind,
    ComplicationOutcome,
    ContactChannel,
    ContactOutcome,
    Severity,
    TrialDecision,
    TrialDoseUnit,
    TrialMethod,
    TrialOutcome,
    TrialScale,
    VisitKind,
    VisitStatus,
)
from patients.models import (
    AFTER_LATEST_MOMENT,
    EARLIEST_DAY,
    EARLIEST_MOMENT,
    IN_FORCE,
    LATEST_DAY,
    EnteredInError,
    Patient,
    date_bounds,
)
from pumps.models import Refill


class Trial(EnteredInError):
    """A screening trial; only a confirmed success leads to a pump (section 6)."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="trials")
    trial_date = models.DateField()
    method = models.CharField(max_length=16, choices=TrialMethod.choices)
    drug = models.ForeignKey("pumps.Drug", on_delete=models.PROTECT, related_name="trials")
    dose = models.DecimalField(
        max_digits=10, decimal_places=3, validators=[MinValueValidator(Decimal("0.001"))]
    )
    dose_unit = models.CharField(max_length=8, choices=TrialDoseUnit.choices)
    scale = models.CharField(max_length=10, choices=TrialScale.choices)
    score_before = models.CharField(max_length=3)
    score_after = models.CharField(max_length=3)
    decision = models.CharField(
        max_length=12, choices=TrialDecision.choices, default=TrialDecision.PENDING
    )
    final_outcome = models.CharField(max_length=8, choices=TrialOutcome.choices, blank=True)
    decision_reason = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    referred_for_implant = models.BooleanField(default=False)
    notes = models.TextField(blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-trial_date", "-pk"]
        constraints = [
            date_bounds("trial_date", label="trial date", name="trial_date_in_bounds"),
            models.CheckConstraint(
                condition=models.Q(dose__gt=0),
                name="trial_dose_above_zero",
                violation_error_message="The trial dose must be above zero.",
            ),
        ]

    def __str__(self) -> str:
        return f"Trial {self.trial_date} for {self.patient}"

    @property
    def computed_outcome(self) -> TrialOutcome:
        """The outcome by the rules of section 6, before the physician's word."""
        return rules.trial_outcome(
            scale=self.scale, before=self.score_before, after=self.score_after
        )


class Complication(EnteredInError):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="complications")
    pump = models.ForeignKey(
        "pumps.Pump",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="complications",
    )
    occurred_on = models.DateField()
    kind = models.CharField(max_length=32, choices=ComplicationKind.choices)
    severity = models.CharField(max_length=16, choices=Severity.choices)
    outcome = models.CharField(
        max_length=24, choices=ComplicationOutcome.choices, default=ComplicationOutcome.ONGOING
    )
    notes = models.TextField(blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["-occurred_on", "-pk"]
        constraints = [
            date_bounds(
                "occurred_on", label="complication date", name="complication_occurred_on_in_bounds"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.occurred_on}"


class MriScan(EnteredInError):
    """An MRI; a SynchroMed pump must be interrogated the same day (section 7)."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="mri_scans")
    scanned_on = models.DateField()
    pump_checked_on = models.DateField(null=True, blank=True)
    notes = models.TextField(blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-scanned_on", "-pk"]
        verbose_name = "MRI scan"
        constraints = [
            date_bounds("scanned_on", label="scan date", name="mriscan_scanned_on_in_bounds"),
            date_bounds(
                "pump_checked_on",
                label="pump check date",
                name="mriscan_pump_checked_on_in_bounds",
                nullable=True,
            ),
        ]

    def __str__(self) -> str:
        return f"MRI on {self.scanned_on}"


class AppointmentQuerySet(models.QuerySet["Appointment"]):
    def booked(self) -> AppointmentQuerySet:
        return self.filter(status=VisitStatus.BOOKED)

    def missed_not_rebooked(self) -> AppointmentQuerySet:
        """Missed visits still waiting: no later booked or done visit of the same kind,
        and, for a missed refill, no refill of that pump (in force) on or after the
        missed visit's day: the pump was refilled, so nothing is left to rebook."""
        later = Appointment.objects.filter(
            patient=models.OuterRef("patient"),
            kind=models.OuterRef("kind"),
            status__in=[VisitStatus.BOOKED, VisitStatus.DONE],
            scheduled_at__gt=models.OuterRef("scheduled_at"),
        )
        refilled = Refill.objects.filter(IN_FORCE).filter(
            pump=models.OuterRef("pump"),
            # The visit's clinic-local day: TruncDate uses the current time zone.
            refill_date__gte=models.OuterRef("missed_day"),
        )
        return (
            self.filter(status=VisitStatus.MISSED)
            .exclude(models.Exists(later))
            .annotate(missed_day=TruncDate("scheduled_at"))
            .exclude(models.Q(kind=VisitKind.REFILL) & models.Exists(refilled))
        )


class Appointment(models.Model):
    """A booked visit: a refill, a post-MRI check, a consult or a review."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="appointments")
    pump = models.ForeignKey(
        "pumps.Pump",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="appointments",
    )
    kind = models.CharField(max_length=20, choices=VisitKind.choices)
    scheduled_at = models.DateTimeField()
    status = models.CharField(
        max_length=10, choices=VisitStatus.choices, default=VisitStatus.BOOKED
    )
    notes = models.CharField(max_length=300, blank=True)
    # Where the visit takes place (issue 15): the one place detail the staff
    # calendar feed shows besides the time.
    room = models.CharField(max_length=40, blank=True)
    booked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()
    objects = AppointmentQuerySet.as_manager()

    class Meta:
        ordering = ["scheduled_at", "pk"]
        indexes = [
            models.Index(fields=["status", "scheduled_at"]),
            models.Index(fields=["pump", "kind", "status"]),
            # A patient's latest visit of a status (the patient page's review, the
            # queues' subqueries): without it SQLite walked (status, scheduled_at)
            # over every patient's done visits, 40 ms a page at 100,000 pumps.
            models.Index(
                fields=["patient", "status", "scheduled_at"], name="care_visit_patient_status"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(
                    scheduled_at__gte=EARLIEST_MOMENT, scheduled_at__lt=AFTER_LATEST_MOMENT
                ),
                name="appointment_scheduled_at_in_bounds",
                violation_error_message="The visit date must lie between "
                f"{EARLIEST_DAY.isoformat()} and {LATEST_DAY.isoformat()}.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.patient} at {self.scheduled_at:%Y-%m-%d %H:%M}"


class ContactAttempt(EnteredInError):
    """A call or message to reach a patient, and what came of it (issue 15, item 6).

    Staff log each attempt, so the next nurse sees who was phoned when and
    does not phone again, or does. Three failed attempts with an overdue
    refill raise the patient on the physician's review queue.
    """

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="contact_attempts")
    pump = models.ForeignKey(
        "pumps.Pump",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="contact_attempts",
    )
    attempted_at = models.DateTimeField()
    channel = models.CharField(max_length=8, choices=ContactChannel.choices)
    outcome = models.CharField(max_length=16, choices=ContactOutcome.choices)
    note = models.TextField(blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-attempted_at", "-pk"]
        indexes = [models.Index(fields=["patient", "attempted_at"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(
                    attempted_at__gte=EARLIEST_MOMENT, attempted_at__lt=AFTER_LATEST_MOMENT
                ),
                name="contactattempt_attempted_at_in_bounds",
                violation_error_message="The attempt's date must lie between "
                f"{EARLIEST_DAY.isoformat()} and {LATEST_DAY.isoformat()}.",
            ),
            models.CheckConstraint(
                condition=models.Q(channel__in=ContactChannel.values),
                name="contactattempt_channel_known",
            ),
            models.CheckConstraint(
                condition=models.Q(outcome__in=ContactOutcome.values),
                name="contactattempt_outcome_known",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} to {self.patient}: {self.get_outcome_display()}"

    @property
    def failed(self) -> bool:
        return self.outcome in FAILED_CONTACT
