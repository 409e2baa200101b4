"""Devices, drugs, refills and the stored schedule (clinical-rules.md 1 to 5)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.urls import reverse
from simple_history.models import HistoricalRecords

from core.compiled import read
from core.formatting import plain_decimal
from patients.models import EnteredInError, date_bounds
from pumps import schedule, status
from pumps.choices import (
    BatteryStatus,
    ConcentrationUnit,
    DoseUnit,
    ExplantReason,
    LimitedBy,
    RefillStatus,
)

ML: dict[str, Any] = {"max_digits": 6, "decimal_places": 2}


def exact(value: Decimal | None) -> Fraction | None:
    """A stored limit as an exact number for the rules; None stays None (no limit)."""
    return Fraction(value) if value is not None else None


class PumpModel(models.Model):
    """A catalogue entry (section 1), shipped as data and editable by an admin."""

    code = models.SlugField(max_length=40, unique=True)
    manufacturer = models.CharField(max_length=100)
    name = models.CharField(max_length=100)
    reservoir_ml = models.DecimalField(
        "reservoir (mL)", **ML, validators=[MinValueValidator(Decimal("0.01"))]
    )
    alarm_ml = models.DecimalField(
        "low-reservoir alarm (mL)", **ML, validators=[MinValueValidator(0)]
    )
    discrepancy_threshold_ml = models.DecimalField(
        "discrepancy threshold (mL)",
        **ML,
        default=Decimal("2.0"),
        validators=[MinValueValidator(0)],
        help_text="A residual volume further than this from the expected one is flagged "
        "(5 % of the reservoir by default).",
    )
    has_battery = models.BooleanField()
    battery_window_opens_years = models.PositiveSmallIntegerField(null=True, blank=True)
    battery_window_closes_years = models.PositiveSmallIntegerField(null=True, blank=True)
    battery_note = models.CharField(
        max_length=200,
        blank=True,
        help_text="Shown beside the battery window, e.g. 'manufacturer figure, review locally'.",
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["code"]
        verbose_name = "pump model"
        constraints = [
            models.CheckConstraint(
                name="battery_window_set_iff_battery",
                condition=(
                    Q(
                        has_battery=True,
                        battery_window_opens_years__isnull=False,
                        battery_window_closes_years__isnull=False,
                        battery_window_closes_years__gte=models.F("battery_window_opens_years"),
                    )
                    | Q(
                        has_battery=False,
                        battery_window_opens_years__isnull=True,
                        battery_window_closes_years__isnull=True,
                    )
                ),
            ),
            models.CheckConstraint(
                name="alarm_below_reservoir", condition=Q(alarm_ml__lt=models.F("reservoir_ml"))
            ),
        ]

    def __str__(self) -> str:
        return f"{self.manufacturer} {self.name} {plain_decimal(self.reservoir_ml)} mL"


class Drug(models.Model):
    """A drug code with its stability limit and plausible doses (section 2)."""

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=100)
    stability_days = models.PositiveSmallIntegerField(validators=[MinValueValidator(1)])
    first_fill_stability_days = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Limit for a pump's first recorded fill (ziconotide: 14)."
    )
    undiluted_mcg_per_ml = models.DecimalField(
        "undiluted concentration (mcg/mL)",
        max_digits=10,
        decimal_places=3,
        null=True,
        blank=True,
        help_text="Concentration that counts as undiluted (ziconotide: 100).",
    )
    undiluted_stability_days = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Limit when filled undiluted (ziconotide: 84)."
    )
    urgent_when_due = models.BooleanField(
        default=False, help_text="A due or overdue refill is urgent (baclofen: withdrawal)."
    )
    dose_warn_below_mcg_per_day = models.DecimalField(
        max_digits=12, decimal_places=3, null=True, blank=True
    )
    dose_warn_above_mcg_per_day = models.DecimalField(
        max_digits=12, decimal_places=3, null=True, blank=True
    )
    first_fill_dose_warn_above_mcg_per_day = models.DecimalField(
        max_digits=12,
        decimal_places=3,
        null=True,
        blank=True,
        help_text="Starting dose ceiling (ziconotide: 2.4 mcg/day).",
    )
    concentration_min_mcg_per_ml = models.DecimalField(
        "lowest accepted concentration (mcg/mL)",
        max_digits=12,
        decimal_places=3,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="A concentration below this is refused as a likely mg/mcg slip. "
        "Blank: no lower limit.",
    )
    concentration_max_mcg_per_ml = models.DecimalField(
        "highest accepted concentration (mcg/mL)",
        max_digits=12,
        decimal_places=3,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="A concentration above this is refused as a likely mg/mcg slip. "
        "Blank: no upper limit.",
    )
    policy_note = models.CharField(
        max_length=200, blank=True, help_text="e.g. 'compounded: local policy, thin sources'."
    )
    # Pharmacy orders (issue 14): a blank lead time takes the clinic's setting,
    # PHARMACY_LEAD_DAYS or, for a compounded drug, PHARMACY_LEAD_DAYS_COMPOUNDED.
    compounded = models.BooleanField(
        default=False, help_text="Prepared to order by the pharmacy (a longer lead time)."
    )
    pharmacy_lead_days = models.PositiveSmallIntegerField(
        "pharmacy lead time (days)",
        null=True,
        blank=True,
        validators=[MaxValueValidator(90)],
        help_text="Days the pharmacy needs before the refill. Blank: the clinic's setting.",
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name

    @property
    def dose_limits(self) -> schedule.DoseLimits:
        return schedule.DoseLimits(
            warn_below_mcg=exact(self.dose_warn_below_mcg_per_day),
            warn_above_mcg=exact(self.dose_warn_above_mcg_per_day),
            first_fill_warn_above_mcg=exact(self.first_fill_dose_warn_above_mcg_per_day),
        )

    @property
    def stability_rule(self) -> schedule.StabilityRule:
        return schedule.StabilityRule(
            days=self.stability_days,
            first_fill_days=self.first_fill_stability_days,
            undiluted_mcg_per_ml=exact(self.undiluted_mcg_per_ml),
            undiluted_days=self.undiluted_stability_days,
        )

    @property
    def concentration_range(self) -> schedule.ConcentrationRange:
        return schedule.ConcentrationRange(
            low_mcg=exact(self.concentration_min_mcg_per_ml),
            high_mcg=exact(self.concentration_max_mcg_per_ml),
        )

    @property
    def lead_days(self) -> int:
        """Days before a refill its order must reach the pharmacy (issue 14)."""
        if self.pharmacy_lead_days is not None:
            return self.pharmacy_lead_days
        if self.compounded:
            return int(settings.PHARMACY_LEAD_DAYS_COMPOUNDED)
        return int(settings.PHARMACY_LEAD_DAYS)


class SchedulePolicy(models.Model):
    """The clinic's scheduling defaults (sections 3 and 4); one row."""

    refill_margin_days = models.PositiveSmallIntegerField(
        default=5,
        validators=[MaxValueValidator(60)],
        help_text="Days before the refill deadline that a refill becomes due.",
    )
    lookahead_days = models.PositiveSmallIntegerField(
        default=14,
        validators=[MaxValueValidator(120)],
        help_text="Days before the due date that a refill shows as upcoming.",
    )
    dose_change_warn_percent = models.PositiveSmallIntegerField(
        default=30, help_text="A dose change above this percentage asks for confirmation."
    )

    history = HistoricalRecords()

    class Meta:
        verbose_name = verbose_name_plural = "schedule policy"
        constraints = [models.CheckConstraint(name="single_policy_row", condition=Q(pk=1))]

    def __str__(self) -> str:
        return "Clinic schedule policy"

    def save(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.pk = 1
        super().save(*args, **kwargs)

    @classmethod
    def current(cls) -> SchedulePolicy:
        # Read on nearly every page: its statement is compiled once per process
        # (core.compiled); the row is read fresh each time.
        found: list[SchedulePolicy] = read(_policy_row, 1)
        if found:
            return found[0]
        policy, _ = cls.objects.get_or_create(pk=1)
        return policy


def _policy_row(pk: int) -> models.QuerySet[SchedulePolicy]:
    return SchedulePolicy.objects.filter(pk=pk)


class PumpQuerySet(models.QuerySet["Pump"]):
    """Reads of pumps. The statuses come from the table of ``pumps.status``."""

    def active(self) -> PumpQuerySet:
        return self.filter(explant_date__isnull=True)

    def with_list_relations(self) -> PumpQuerySet:
        return self.select_related("patient", "model", "latest_fill__drug")

    def with_statuses(self, today: date, lookahead_days: int) -> PumpQuerySet:
        """Annotate ``refill_status`` and ``battery_status`` on ``today`` in SQL (pumps.status)."""
        return self.annotate(**status.status_annotations(status.Day(today, lookahead_days)))

    def with_urgency(self) -> PumpQuerySet:
        """Annotate ``urgent`` (pumps.status.is_urgent) on a queryset with the statuses."""
        return self.annotate(urgent=status.urgent_annotation())


class Pump(models.Model):
    """An implanted pump. It stays on every list until it is explanted."""

    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="pumps")
    model = models.ForeignKey(PumpModel, on_delete=models.PROTECT, related_name="pumps")
    serial = models.CharField(max_length=40, unique=True)
    implant_date = models.DateField()
    explant_date = models.DateField(null=True, blank=True)
    explant_reason = models.CharField(max_length=32, choices=ExplantReason.choices, blank=True)
    alarm_ml_override = models.DecimalField(
        "alarm override (mL)",
        **ML,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="Low-reservoir alarm for this pump, if not the model's.",
    )

    # The stored schedule, recomputed only by pumps.services (in a
    # transaction with this row locked), so lists filter on indexed dates.
    latest_fill = models.ForeignKey(
        "Refill", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    refill_alarm = models.DateField(null=True, blank=True, editable=False)
    refill_deadline = models.DateField(null=True, blank=True, editable=False)
    refill_due = models.DateField(null=True, blank=True, editable=False)
    refill_limited_by = models.CharField(
        max_length=10, choices=LimitedBy.choices, blank=True, editable=False
    )
    battery_window_opens = models.DateField(null=True, blank=True, editable=False)
    battery_window_closes = models.DateField(null=True, blank=True, editable=False)
    eri_reported_on = models.DateField(
        "ERI reported on",
        null=True,
        blank=True,
        help_text="First day the Elective Replacement Indicator was seen on this pump.",
    )
    # Section 5: the pump stops about 90 days after ERI first shows. Kept with
    # eri_reported_on by pumps.services.set_eri, so the worklist ranks by it.
    eri_replace_by = models.DateField("replace by", null=True, blank=True, editable=False)
    # Section 4: refills of this pump (in force) whose residual flag no
    # physician has signed off. Kept by the services that write refills, so
    # every list, count and export reads one indexed column.
    open_discrepancies = models.PositiveIntegerField(default=0, editable=False)

    history = HistoricalRecords()
    objects = PumpQuerySet.as_manager()

    class Meta:
        ordering = ["serial"]
        indexes = [
            # Partial indexes: the lists only ever read active pumps.
            models.Index(
                fields=["refill_deadline", "serial"],
                name="active_pump_refill_deadline",
                condition=Q(explant_date__isnull=True),
            ),
            models.Index(
                fields=["refill_due", "serial"],
                name="active_pump_refill_due",
                condition=Q(explant_date__isnull=True),
            ),
            models.Index(
                fields=["battery_window_closes", "serial"],
                name="active_pump_battery_closes",
                condition=Q(explant_date__isnull=True),
            ),
            models.Index(
                fields=["battery_window_opens", "serial"],
                name="active_pump_battery_opens",
                condition=Q(explant_date__isnull=True),
            ),
            # The worklist counts pumps by these ranges from the index alone
            # (care/worklist.py, range_count_querysets).
            models.Index(
                fields=["battery_window_opens", "refill_due"],
                name="active_pump_opens_due",
                condition=Q(explant_date__isnull=True),
            ),
            models.Index(
                fields=["eri_reported_on", "battery_window_opens", "refill_due"],
                name="active_pump_eri",
                condition=Q(explant_date__isnull=True, eri_reported_on__isnull=False),
            ),
            # The ERI rank is ordered by the replace-by date (section 5).
            models.Index(
                fields=["eri_replace_by", "serial"],
                name="active_pump_eri_replace_by",
                condition=Q(explant_date__isnull=True, eri_replace_by__isnull=False),
            ),
            models.Index(
                fields=["open_discrepancies"],
                name="active_pump_open_discrepancy",
                condition=Q(explant_date__isnull=True, open_discrepancies__gt=0),
            ),
        ]
        constraints = [
            # Serials are compared without regard to case (clinical-rules.md 8).
            models.UniqueConstraint(Lower("serial"), name="pump_serial_unique_any_case"),
            # Section 8's date bounds hold for every writer, raw SQL included.
            date_bounds("implant_date", label="implant date", name="pump_implant_date_in_bounds"),
            date_bounds(
                "explant_date",
                label="explant date",
                name="pump_explant_date_in_bounds",
                nullable=True,
            ),
            date_bounds(
                "eri_reported_on",
                label="ERI date",
                name="pump_eri_reported_on_in_bounds",
                nullable=True,
            ),
            models.CheckConstraint(
                name="explant_not_before_implant",
                condition=Q(explant_date__isnull=True)
                | Q(explant_date__gte=models.F("implant_date")),
            ),
            models.CheckConstraint(
                name="explant_reason_iff_explant_date",
                condition=Q(explant_date__isnull=True, explant_reason="")
                | (Q(explant_date__isnull=False) & ~Q(explant_reason="")),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.serial} ({self.model.code})"

    def get_absolute_url(self) -> str:
        return reverse("patients:detail", args=[self.patient_id])

    @property
    def is_active(self) -> bool:
        return self.explant_date is None

    @property
    def alarm_ml(self) -> Decimal:
        """The low-reservoir alarm in force: the override, else the model's."""
        if self.alarm_ml_override is not None:
            return self.alarm_ml_override
        return self.model.alarm_ml

    def refill_status(self, today: date, lookahead_days: int) -> RefillStatus:
        return status.refill_status(status.dates_of(self), status.Day(today, lookahead_days))

    def battery_status(self, today: date) -> BatteryStatus:
        return status.battery_status(status.dates_of(self), status.Day(today, 0))

    def battery_stops_before(self, day: date | None) -> bool:
        """Section 5: ``day`` falls after the ERI replace-by date."""
        return day is not None and self.eri_replace_by is not None and day > self.eri_replace_by

    @property
    def refill_due_after_battery_stops(self) -> bool:
        return self.battery_stops_before(self.refill_due)

    @property
    def has_unsigned_discrepancy(self) -> bool:
        """Any refill in force carries a residual flag awaiting sign-off (section 4)."""
        return self.open_discrepancies > 0


class Refill(EnteredInError):
    """A refill visit: the reservoir emptied, checked and filled (sections 2 to 4)."""

    pump = models.ForeignKey(Pump, on_delete=models.PROTECT, related_name="refills")
    refill_date = models.DateField()
    drug = models.ForeignKey(Drug, on_delete=models.PROTECT, related_name="refills")
    concentration = models.DecimalField(max_digits=12, decimal_places=4)
    concentration_unit = models.CharField(max_length=8, choices=ConcentrationUnit.choices)
    daily_dose = models.DecimalField(max_digits=12, decimal_places=4)
    dose_unit = models.CharField(max_length=8, choices=DoseUnit.choices)
    volume_ml = models.DecimalField("volume after fill (mL)", **ML)
    # Patient-activated boluses (section 2): the dose in the daily dose's unit
    # and the most allowed a day; the refill dates assume every one is taken.
    bolus_dose = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    boluses_per_day = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(99)]
    )
    residual_ml = models.DecimalField("residual withdrawn (mL)", **ML, null=True, blank=True)
    expected_residual_ml = models.DecimalField(
        "expected residual (mL)",
        max_digits=8,
        decimal_places=3,
        null=True,
        blank=True,
        editable=False,
        help_text="From the previous fill, rounded to 0.001 mL for display.",
    )
    expected_residual_low_ml = models.DecimalField(
        "expected residual, every bolus taken (mL)",
        max_digits=8,
        decimal_places=3,
        null=True,
        blank=True,
        editable=False,
        help_text="The low end of the expected range when the previous fill allowed boluses.",
    )
    discrepancy = models.BooleanField(default=False, editable=False)
    discrepancy_signed_off_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    discrepancy_signed_off_at = models.DateTimeField(null=True, blank=True)
    discrepancy_comment = models.TextField(blank=True)
    eri = models.BooleanField("ERI seen", default=False)
    pain_score = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(10)]
    )
    ashworth_score = models.CharField(
        max_length=2,
        blank=True,
        choices=[(g, g) for g in ("0", "1", "1+", "2", "3", "4")],
    )
    notes = models.TextField(blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # One token per refill form shown: a double click or a resubmitted form
    # finds the refill it already saved instead of saving a second one.
    submission_token = models.UUIDField(null=True, blank=True, unique=True, editable=False)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-refill_date", "-pk"]
        indexes = [
            # Few refills carry an open residual flag: the worklist counts them.
            models.Index(
                fields=["pump"],
                name="refill_open_discrepancy",
                condition=Q(
                    discrepancy=True,
                    discrepancy_signed_off_at__isnull=True,
                    entered_in_error_at__isnull=True,
                ),
            ),
        ]
        constraints = [
            # A refill entered in error stays beside the corrected one.
            models.UniqueConstraint(
                fields=["pump", "refill_date"],
                name="one_refill_per_pump_day",
                condition=Q(entered_in_error_at__isnull=True),
            ),
            date_bounds("refill_date", label="refill date", name="refill_date_in_bounds"),
            models.CheckConstraint(
                name="bolus_needs_boluses_per_day",
                condition=Q(bolus_dose__isnull=True) | Q(bolus_dose=0) | Q(boluses_per_day__gt=0),
            ),
            models.CheckConstraint(name="concentration_positive", condition=Q(concentration__gt=0)),
            models.CheckConstraint(name="daily_dose_not_negative", condition=Q(daily_dose__gte=0)),
            models.CheckConstraint(name="volume_not_negative", condition=Q(volume_ml__gte=0)),
            models.CheckConstraint(
                name="concentration_unit_valid",
                condition=Q(concentration_unit__in=ConcentrationUnit.values),
            ),
            models.CheckConstraint(
                name="dose_unit_valid", condition=Q(dose_unit__in=DoseUnit.values)
            ),
        ]

    def __str__(self) -> str:
        return f"Refill of {self.pump.serial} on {self.refill_date}"

    @property
    def daily_volume_ml(self) -> Fraction:
        """Basal daily volume, without boluses (section 4's high end)."""
        return schedule.daily_volume_ml(
            daily_dose=self.daily_dose,
            dose_unit=self.dose_unit,
            concentration=self.concentration,
            concentration_unit=self.concentration_unit,
        )

    @property
    def allowed_daily_volume_ml(self) -> Fraction:
        """Daily volume with every allowed bolus taken (sections 2 and 3)."""
        return schedule.daily_volume_ml(
            daily_dose=self.daily_dose,
            dose_unit=self.dose_unit,
            concentration=self.concentration,
            concentration_unit=self.concentration_unit,
            bolus_dose=self.bolus_dose,
            boluses_per_day=self.boluses_per_day,
        )

    @property
    def discrepancy_open(self) -> bool:
        return (
            self.discrepancy
            and self.discrepancy_signed_off_at is None
            and self.entered_in_error_at is None
        )


class DoseAdjustment(EnteredInError):
    """A reprogramming without a refill: the rate changes from that day (section 3)."""

    pump = models.ForeignKey(Pump, on_delete=models.PROTECT, related_name="dose_adjustments")
    adjusted_on = models.DateField()
    daily_dose = models.DecimalField(max_digits=12, decimal_places=4)
    dose_unit = models.CharField(max_length=8, choices=DoseUnit.choices)
    notes = models.TextField(blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["-adjusted_on", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["pump", "adjusted_on"],
                name="one_dose_adjustment_per_pump_day",
                condition=Q(entered_in_error_at__isnull=True),
            ),
            models.CheckConstraint(
                name="adjusted_dose_not_negative", condition=Q(daily_dose__gte=0)
            ),
            date_bounds(
                "adjusted_on", label="dose change date", name="dose_adjustment_date_in_bounds"
            ),
        ]

    def __str__(self) -> str:
        return f"Dose change of {self.pump.serial} on {self.adjusted_on}"
