"""People, screening trials and clinical events (clinical-rules.md 6 and 7)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import TruncDate
from django.urls import reverse
from simple_history.models import HistoricalRecords

from patients import rules
from patients.choices import (
    ComplicationKind,
    ComplicationOutcome,
    Indication,
    PatientStatus,
    Severity,
    TrialDecision,
    TrialDoseUnit,
    TrialMethod,
    TrialOutcome,
    TrialScale,
    VisitKind,
    VisitStatus,
)
from pumps.entry_safety import EARLIEST_DATE, LATEST_DATE  # pure rules: no ORM, no cycle


class EnteredInError(models.Model):
    """A clinical record that can be marked entered in error (clinical-rules.md 9).

    Nothing clinical is deleted from the staff pages: a record made by mistake
    stays, struck through with who, when and why, and leaves every calculation.
    """

    entered_in_error_at = models.DateTimeField(null=True, blank=True, editable=False)
    entered_in_error_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
    )
    entered_in_error_reason = models.TextField(blank=True, editable=False)

    class Meta:
        abstract = True

    @property
    def is_entered_in_error(self) -> bool:
        return self.entered_in_error_at is not None


# The records still in force: what every calculation and list reads.
IN_FORCE = models.Q(entered_in_error_at__isnull=True)

# The date bounds of clinical-rules.md 8 (pumps.entry_safety), held by the
# database too: no door (a script, the shell, a bulk write) can store a date
# that psycopg cannot read back and that would take every page down.
EARLIEST_DAY = EARLIEST_DATE
LATEST_DAY = LATEST_DATE
# A visit's moment is stored in UTC: a day of slack at each end keeps every
# local time of those days storable whatever the clinic's time zone (-12 to +14 h).
EARLIEST_MOMENT = datetime(1899, 12, 31, tzinfo=UTC)
AFTER_LATEST_MOMENT = datetime(2101, 1, 2, tzinfo=UTC)


def date_bounds(
    field: str, *, label: str, name: str, nullable: bool = False
) -> models.CheckConstraint:
    """A check that ``field`` lies within 1900-01-01..2100-12-31 (or is empty)."""
    within = models.Q(**{f"{field}__gte": EARLIEST_DAY, f"{field}__lte": LATEST_DAY})
    return models.CheckConstraint(
        condition=models.Q(**{f"{field}__isnull": True}) | within if nullable else within,
        name=name,
        violation_error_message=f"The {label} must lie between "
        f"{EARLIEST_DAY.isoformat()} and {LATEST_DAY.isoformat()}.",
    )


class Patient(models.Model):
    mrn = models.CharField("record number", max_length=32, unique=True)
    family_name = models.CharField(max_length=100)
    given_name = models.CharField(max_length=100)
    birth_date = models.DateField()
    indication = models.CharField(max_length=32, choices=Indication.choices)
    treating_physician = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="patients",
    )
    status = models.CharField(
        max_length=16, choices=PatientStatus.choices, default=PatientStatus.IMPLANTED
    )
    travel_buffer_days = models.PositiveSmallIntegerField(
        default=0,
        validators=[MaxValueValidator(60)],
        help_text="Extra days before the refill deadline for a patient who lives far away "
        "or depends on transport; added to the clinic's margin.",
    )
    phone = models.CharField(max_length=40, blank=True)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["family_name", "given_name", "mrn"]
        indexes = [models.Index(fields=["family_name", "given_name"])]
        constraints = [
            date_bounds("birth_date", label="birth date", name="patient_birth_date_in_bounds")
        ]

    def __str__(self) -> str:
        return f"{self.family_name}, {self.given_name} ({self.mrn})"

    def get_absolute_url(self) -> str:
        return reverse("patients:detail", args=[self.pk])

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}"


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
        from pumps.models import Refill  # pumps.models imports this module

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
