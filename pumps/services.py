"""Every write that touches a pump's schedule goes through here.

Each service runs in one transaction with the pump row locked
(``select_for_update``), enforces the invariants again (forms, the admin and
the import are all doors in), and recomputes the stored schedule with
``store_schedule`` so the indexed dates always match the latest fill.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any
from uuid import UUID

from django.core.exceptions import ValidationError
from django.db import transaction

from patients.models import Patient
from patients.services import close_refill_visit
from pumps import schedule
from pumps.choices import ConcentrationUnit, DoseUnit, ExplantReason
from pumps.formatting import plain_decimal
from pumps.models import DoseAdjustment, Drug, Pump, PumpModel, Refill, SchedulePolicy


def _lock(pump: Pump) -> Pump:
    """Re-read the pump under a row lock so two writers queue, never interleave."""
    return Pump.objects.select_for_update().select_related("model", "patient").get(pk=pump.pk)


# --- The schedule --------------------------------------------------------------


@dataclass(frozen=True)
class FillFacts:
    """What the refill rule needs to know about the latest fill."""

    refill_date: date
    volume_ml: Decimal
    daily_volume: Fraction
    concentration_mcg: Fraction
    stability: schedule.StabilityRule
    is_first_fill: bool


# The pump's stored schedule columns: what compute_schedule returns and every
# writer (store_schedule, the import's bulk path) stores.
SCHEDULE_FIELDS = (
    "refill_alarm",
    "refill_deadline",
    "refill_due",
    "refill_limited_by",
    "battery_window_opens",
    "battery_window_closes",
)


def compute_schedule(
    *,
    pump: Pump,
    fill: FillFacts | None,
    rate_changes: Iterable[schedule.RateChange],
    policy: SchedulePolicy,
) -> dict[str, object]:
    """The stored schedule columns of ``pump`` (sections 3 and 5), as field values."""
    values: dict[str, object] = dict.fromkeys(SCHEDULE_FIELDS)
    values["refill_limited_by"] = ""  # a text column: blank, never NULL
    if fill is not None:
        dates = schedule.refill_dates(
            fill_date=fill.refill_date,
            volume_ml=fill.volume_ml,
            alarm_ml=pump.alarm_ml,
            daily_volume=fill.daily_volume,
            stability_days=schedule.stability_days(
                fill.stability,
                concentration_mcg=fill.concentration_mcg,
                is_first_fill=fill.is_first_fill,
            ),
            margin_days=policy.refill_margin_days + pump.patient.travel_buffer_days,
            rate_changes=list(rate_changes),
        )
        values.update(
            refill_alarm=dates.alarm,
            refill_deadline=dates.deadline,
            refill_due=dates.due,
            refill_limited_by=dates.limited_by.value,
        )
    model = pump.model
    if model.has_battery:
        assert model.battery_window_opens_years is not None
        assert model.battery_window_closes_years is not None
        opens, closes = schedule.battery_window(
            implant_date=pump.implant_date,
            opens_years=model.battery_window_opens_years,
            closes_years=model.battery_window_closes_years,
        )
        values.update(battery_window_opens=opens, battery_window_closes=closes)
    return values


def fill_facts(refill: Refill, *, is_first_fill: bool) -> FillFacts:
    return FillFacts(
        refill_date=refill.refill_date,
        volume_ml=refill.volume_ml,
        daily_volume=refill.daily_volume_ml,
        concentration_mcg=schedule.concentration_mcg_per_ml(
            refill.concentration, refill.concentration_unit
        ),
        stability=refill.drug.stability_rule,
        is_first_fill=is_first_fill,
    )


def rate_changes_after(
    refill: Refill, adjustments: Iterable[DoseAdjustment]
) -> list[schedule.RateChange]:
    """Reprogrammings after ``refill``, as daily volumes at its concentration."""
    return [
        schedule.RateChange(
            on=adjustment.adjusted_on,
            daily_volume_ml=schedule.daily_volume_ml(
                daily_dose=adjustment.daily_dose,
                dose_unit=adjustment.dose_unit,
                concentration=refill.concentration,
                concentration_unit=refill.concentration_unit,
            ),
        )
        for adjustment in adjustments
        if adjustment.adjusted_on > refill.refill_date
    ]


def store_schedule(pump: Pump, *, policy: SchedulePolicy | None = None) -> Pump:
    """Recompute and save the pump's stored schedule from its latest fill.

    Call inside a transaction holding the pump's row lock.
    """
    policy = policy or SchedulePolicy.current()
    latest = (
        Refill.objects.filter(pump=pump).select_related("drug").order_by("-refill_date").first()
    )
    fill = None
    changes: list[schedule.RateChange] = []
    if latest is not None:
        is_first = not Refill.objects.filter(pump=pump, refill_date__lt=latest.refill_date).exists()
        fill = fill_facts(latest, is_first_fill=is_first)
        changes = rate_changes_after(
            latest, DoseAdjustment.objects.filter(pump=pump, adjusted_on__gt=latest.refill_date)
        )
    values = compute_schedule(pump=pump, fill=fill, rate_changes=changes, policy=policy)
    pump.latest_fill = latest
    for field, value in values.items():
        setattr(pump, field, value)
    pump.save(update_fields=["latest_fill", *values])
    return pump


def recompute_schedules(pumps: Iterable[Pump] | None = None) -> int:
    """Recompute stored schedules, e.g. after the policy or a catalogue entry changed."""
    policy = SchedulePolicy.current()
    count = 0
    queryset = Pump.objects.active() if pumps is None else pumps
    for pump in queryset:
        with transaction.atomic():
            store_schedule(_lock(pump), policy=policy)
        count += 1
    return count


# --- Refills --------------------------------------------------------------------


def expected_residual(
    previous: Refill, on: date, adjustments: Iterable[DoseAdjustment]
) -> Fraction:
    """V_prev - R_prev x days since the previous fill, not below zero (section 4)."""
    return schedule.volume_on(
        fill_date=previous.refill_date,
        volume_ml=previous.volume_ml,
        daily_volume=previous.daily_volume_ml,
        on=on,
        rate_changes=rate_changes_after(previous, adjustments),
    )


def round_ml(volume: Fraction) -> Decimal:
    """A volume rounded for storage and display (the flag uses the exact value)."""
    exact = Decimal(volume.numerator) / Decimal(volume.denominator)
    return exact.quantize(Decimal("0.001"), rounding=ROUND_HALF_UP)


def residual_flagged(
    residual_ml: Decimal | None, expected_ml: Fraction, *, threshold_ml: Decimal
) -> bool:
    """Section 4's flag; a residual nobody measured is never flagged."""
    return residual_ml is not None and schedule.is_discrepancy(
        actual_ml=residual_ml, expected_ml=expected_ml, threshold_ml=threshold_ml
    )


def residual_columns(
    residual_ml: Decimal | None, expected_ml: Fraction, *, threshold_ml: Decimal
) -> dict[str, Any]:
    """The stored expected residual and flag of a refill about to be written in bulk."""
    return {
        "expected_residual_ml": round_ml(expected_ml),
        "discrepancy": residual_flagged(residual_ml, expected_ml, threshold_ml=threshold_ml),
    }


def set_residual_check(refill: Refill, expected_ml: Fraction, *, threshold_ml: Decimal) -> None:
    """residual_columns, set on a refill instance."""
    columns = residual_columns(refill.residual_ml, expected_ml, threshold_ml=threshold_ml)
    for name, value in columns.items():
        setattr(refill, name, value)


@dataclass(frozen=True)
class ResidualCheck:
    expected_ml: Fraction | None
    discrepancy: bool


def check_residual(
    *, pump: Pump, refill_date: date, residual_ml: Decimal | None, policy: SchedulePolicy
) -> ResidualCheck:
    """Expected residual from the previous fill, and whether the actual one is flagged."""
    previous = (
        Refill.objects.filter(pump=pump, refill_date__lt=refill_date)
        .select_related("drug")
        .order_by("-refill_date")
        .first()
    )
    if previous is None:
        return ResidualCheck(expected_ml=None, discrepancy=False)
    adjustments = DoseAdjustment.objects.filter(
        pump=pump, adjusted_on__gt=previous.refill_date, adjusted_on__lte=refill_date
    )
    expected = expected_residual(previous, refill_date, adjustments)
    flagged = residual_flagged(residual_ml, expected, threshold_ml=policy.discrepancy_threshold_ml)
    return ResidualCheck(expected_ml=expected, discrepancy=flagged)


def validate_fill(
    *,
    pump: Pump,
    refill_date: date,
    concentration: Decimal,
    concentration_unit: str,
    daily_dose: Decimal,
    dose_unit: str,
    volume_ml: Decimal,
    residual_ml: Decimal | None,
    today: date,
    eri: bool = False,
) -> None:
    """The invariants of a fill, whichever door it came through.

    Raises ``ValidationError`` with a message per field, in staff's words.
    """
    errors: dict[str, str] = {}
    reservoir = pump.model.reservoir_ml
    if not pump.is_active:
        errors["refill_date"] = f"Pump {pump.serial} was explanted on {pump.explant_date}."
    elif refill_date > today:
        errors["refill_date"] = "The refill date cannot be in the future."
    elif refill_date < pump.implant_date:
        errors["refill_date"] = f"The pump was implanted on {pump.implant_date}, after this date."
    else:
        latest = pump.refills.order_by("-refill_date").values_list("refill_date", flat=True).first()
        if latest is not None and refill_date < latest:
            errors["refill_date"] = f"A later refill is already recorded ({latest})."
        elif latest is not None and refill_date == latest:
            errors["refill_date"] = f"A refill on {latest} is already recorded for this pump."
    if concentration_unit not in ConcentrationUnit.values:
        errors["concentration_unit"] = "Choose mg/mL or mcg/mL."
    if dose_unit not in DoseUnit.values:
        errors["dose_unit"] = "Choose mg/day or mcg/day."
    if concentration <= 0:
        errors["concentration"] = "The concentration must be above zero."
    if daily_dose < 0:
        errors["daily_dose"] = "The daily dose cannot be negative."
    if volume_ml < 0:
        errors["volume_ml"] = "The volume cannot be negative."
    elif volume_ml > reservoir:
        errors["volume_ml"] = (
            f"{plain_decimal(volume_ml)} mL is more than this pump's reservoir holds "
            f"({plain_decimal(reservoir)} mL)."
        )
    if residual_ml is not None and residual_ml < 0:
        errors["residual_ml"] = "The residual volume cannot be negative."
    elif residual_ml is not None and residual_ml > reservoir:
        errors["residual_ml"] = (
            f"{plain_decimal(residual_ml)} mL is more than this pump's reservoir holds "
            f"({plain_decimal(reservoir)} mL)."
        )
    if eri and not pump.model.has_battery:
        errors["eri"] = f"A {pump.model.code} pump has no battery and shows no ERI."
    if errors:
        raise ValidationError(errors)


def fill_warnings(
    *,
    pump: Pump,
    refill_date: date,
    drug: Drug,
    daily_dose: Decimal,
    dose_unit: str,
    residual_ml: Decimal | None,
) -> list[str]:
    """What a nurse must confirm before a fill is saved (sections 2 and 4), in words."""
    policy = SchedulePolicy.current()
    warnings: list[str] = []
    check = check_residual(
        pump=pump, refill_date=refill_date, residual_ml=residual_ml, policy=policy
    )
    if check.discrepancy and check.expected_ml is not None and residual_ml is not None:
        expected = round_ml(check.expected_ml).normalize()
        difference = Fraction(residual_ml) - check.expected_ml
        more_or_less = "more" if difference > 0 else "less"
        meaning = (
            "the catheter may be blocked or kinked, or the pump may have stalled"
            if difference > 0
            else "there may be a leak, or an earlier pocket fill"
        )
        warnings.append(
            f"You withdrew {plain_decimal(residual_ml)} mL but about {expected} mL was "
            f"expected: {round_ml(abs(difference)).normalize()} mL {more_or_less} than "
            f"expected, so {meaning}. Check the volume. If it is right, the refill will "
            f"be flagged for physician review."
        )
    previous = pump.latest_fill
    is_first = not Refill.objects.filter(pump=pump).exists()
    dose_mcg = schedule.dose_mcg_per_day(daily_dose, dose_unit)
    previous_mcg = (
        schedule.dose_mcg_per_day(previous.daily_dose, previous.dose_unit)
        if previous is not None and previous.drug_id == drug.pk
        else None  # a change of drug is not a dose change
    )
    warnings += schedule.dose_warnings(
        drug_name=drug.name.lower(),
        dose_mcg=dose_mcg,
        limits=drug.dose_limits,
        previous_dose_mcg=previous_mcg,
        is_first_fill=is_first,
        change_warn_percent=policy.dose_change_warn_percent,
    )
    return warnings


@transaction.atomic
def record_fill(
    *,
    pump: Pump,
    refill_date: date,
    drug: Drug,
    concentration: Decimal,
    concentration_unit: str,
    daily_dose: Decimal,
    dose_unit: str,
    volume_ml: Decimal,
    today: date,
    residual_ml: Decimal | None = None,
    eri: bool = False,
    pain_score: int | None = None,
    ashworth_score: str = "",
    notes: str = "",
    recorded_by=None,  # type: ignore[no-untyped-def]
    submission_token: UUID | None = None,
) -> Refill:
    """Record a refill visit and store the pump's new schedule (sections 2 to 5).

    Closes the booked refill visit it fulfils.
    """
    pump = _lock(pump)
    validate_fill(
        pump=pump,
        refill_date=refill_date,
        concentration=concentration,
        concentration_unit=concentration_unit,
        daily_dose=daily_dose,
        dose_unit=dose_unit,
        volume_ml=volume_ml,
        residual_ml=residual_ml,
        today=today,
        eri=eri,
    )
    policy = SchedulePolicy.current()
    check = check_residual(
        pump=pump, refill_date=refill_date, residual_ml=residual_ml, policy=policy
    )
    refill = Refill.objects.create(
        pump=pump,
        refill_date=refill_date,
        drug=drug,
        concentration=concentration,
        concentration_unit=concentration_unit,
        daily_dose=daily_dose,
        dose_unit=dose_unit,
        volume_ml=volume_ml,
        residual_ml=residual_ml,
        expected_residual_ml=round_ml(check.expected_ml) if check.expected_ml is not None else None,
        discrepancy=check.discrepancy,
        eri=eri,
        pain_score=pain_score,
        ashworth_score=ashworth_score,
        notes=notes,
        recorded_by=recorded_by,
        submission_token=submission_token,
    )
    close_refill_visit(pump_id=pump.pk, refill_date=refill_date)
    if eri and pump.eri_reported_on is None:
        pump.eri_reported_on = refill_date
        pump.save(update_fields=["eri_reported_on"])
    store_schedule(pump, policy=policy)
    return refill


@transaction.atomic
def adjust_dose(
    *,
    pump: Pump,
    adjusted_on: date,
    daily_dose: Decimal,
    dose_unit: str,
    today: date,
    notes: str = "",
    recorded_by=None,  # type: ignore[no-untyped-def]
) -> DoseAdjustment:
    """Record a reprogramming without a refill; dates are recomputed from that day."""
    pump = _lock(pump)
    errors: dict[str, str] = {}
    latest = pump.refills.order_by("-refill_date").first()
    if latest is None:
        errors["adjusted_on"] = "Record a refill before changing the dose."
    elif not latest.refill_date < adjusted_on <= today:
        errors["adjusted_on"] = (
            f"The change must fall after the latest refill ({latest.refill_date}) "
            "and not in the future."
        )
    if dose_unit not in DoseUnit.values:
        errors["dose_unit"] = "Choose mg/day or mcg/day."
    if daily_dose < 0:
        errors["daily_dose"] = "The daily dose cannot be negative."
    if errors:
        raise ValidationError(errors)
    adjustment = DoseAdjustment.objects.create(
        pump=pump,
        adjusted_on=adjusted_on,
        daily_dose=daily_dose,
        dose_unit=dose_unit,
        notes=notes,
        recorded_by=recorded_by,
    )
    store_schedule(pump)
    return adjustment


@transaction.atomic
def sign_off_discrepancy(*, refill: Refill, user, comment: str, now: datetime) -> Refill:  # type: ignore[no-untyped-def]
    """A physician signs off a residual-volume flag (section 4)."""
    refill = Refill.objects.select_for_update().get(pk=refill.pk)
    if not refill.discrepancy:
        raise ValidationError("This refill has no residual-volume discrepancy to sign off.")
    if refill.discrepancy_signed_off_at is not None:
        raise ValidationError("This discrepancy is already signed off.")
    if not comment.strip():
        raise ValidationError({"comment": "Say what was found or decided."})
    refill.discrepancy_signed_off_by = user
    refill.discrepancy_signed_off_at = now
    refill.discrepancy_comment = comment.strip()
    refill.save(
        update_fields=[
            "discrepancy_signed_off_by",
            "discrepancy_signed_off_at",
            "discrepancy_comment",
        ]
    )
    return refill


# --- Devices ----------------------------------------------------------------------


@transaction.atomic
def implant_pump(
    *,
    patient: Patient,
    model: PumpModel,
    serial: str,
    implant_date: date,
    today: date,
    alarm_ml_override: Decimal | None = None,
) -> Pump:
    """Record a newly implanted pump; its battery window starts from this date."""
    errors: dict[str, str] = {}
    serial = serial.strip()
    if not serial:
        errors["serial"] = "Enter the pump's serial number."
    elif Pump.objects.filter(serial=serial).exists():
        errors["serial"] = f"A pump with serial {serial} is already recorded."
    if implant_date > today:
        errors["implant_date"] = "The implant date cannot be in the future."
    if alarm_ml_override is not None and not 0 <= alarm_ml_override < model.reservoir_ml:
        errors["alarm_ml_override"] = "The alarm volume must be below the reservoir size."
    if Pump.objects.active().filter(patient=patient).exists():
        errors["patient"] = "This patient already has an active pump; record its explant first."
    if errors:
        raise ValidationError(errors)
    pump = Pump(
        patient=patient,
        model=model,
        serial=serial,
        implant_date=implant_date,
        alarm_ml_override=alarm_ml_override,
    )
    # A new pump has no fill: only its battery window is known. Set it before
    # the first save, so the history starts with one complete record.
    values = compute_schedule(
        pump=pump, fill=None, rate_changes=(), policy=SchedulePolicy.current()
    )
    for field, value in values.items():
        setattr(pump, field, value)
    pump.save()
    return pump


@transaction.atomic
def explant_pump(*, pump: Pump, explant_date: date, reason: str, today: date) -> Pump:
    """Record an explant; the pump leaves every list (section 7)."""
    pump = _lock(pump)
    errors: dict[str, str] = {}
    if not pump.is_active:
        errors["explant_date"] = f"Pump {pump.serial} was already explanted on {pump.explant_date}."
    elif explant_date < pump.implant_date:
        errors["explant_date"] = "The explant date cannot be before the implant date."
    elif explant_date > today:
        errors["explant_date"] = "The explant date cannot be in the future."
    if reason not in ExplantReason.values:
        errors["reason"] = "Choose the reason for the explant."
    if errors:
        raise ValidationError(errors)
    pump.explant_date = explant_date
    pump.explant_reason = reason
    pump.save(update_fields=["explant_date", "explant_reason"])
    return pump


@transaction.atomic
def record_eri(*, pump: Pump, seen_on: date, today: date) -> Pump:
    """Record the Elective Replacement Indicator: replacement within 90 days (section 5)."""
    pump = _lock(pump)
    if not pump.model.has_battery:
        raise ValidationError(f"A {pump.model.code} pump has no battery and shows no ERI.")
    if seen_on > today:
        raise ValidationError({"seen_on": "The date cannot be in the future."})
    if pump.eri_reported_on is None or seen_on < pump.eri_reported_on:
        pump.eri_reported_on = seen_on
        pump.save(update_fields=["eri_reported_on"])
    return pump
