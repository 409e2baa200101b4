"""Every write that touches a pump's schedule goes through here.

Each service runs in one transaction with the pump row locked
(``select_for_update``), enforces the invariants again (forms, the admin and
the import are all doors in), and recomputes the stored schedule with
``store_schedule`` so the indexed dates always match the latest fill.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any
from uuid import UUID

from django.core.exceptions import ValidationError
from django.db import transaction

from core.formatting import plain_decimal
from core.roles import PHYSICIAN, require_role
from patients.corrections import mark_entered_in_error, unmark_entered_in_error
from patients.models import IN_FORCE, Patient
from pumps import entry_safety, schedule, signals
from pumps.choices import ConcentrationUnit, DoseUnit, ExplantReason
from pumps.models import DoseAdjustment, Drug, Pump, PumpModel, Refill, SchedulePolicy


def lock_pump(pk: int) -> Pump:
    """Read the pump under a row lock so two writers queue, never interleave.

    Only the pump's row is locked (``of``): locking the joined model row too
    would queue every writer of every pump of that model behind one another.
    The latest fill is read after the lock, in its own statement, never
    joined here: in PostgreSQL's read committed mode a lock that waited for
    another writer returns the pump's new row but the joined rows as they
    were before that writer committed.
    """
    return (
        Pump.objects.select_for_update(of=("self",)).select_related("model", "patient").get(pk=pk)
    )


def _lock(pump: Pump) -> Pump:
    """Re-read ``pump`` under its row lock (lock_pump)."""
    return lock_pump(pump.pk)


def _policy(policy: SchedulePolicy | None) -> SchedulePolicy:
    """The policy the entry point read for this request or command, passed in.

    Views, commands, the admin, the demo and the importer read it once and
    pass it; a caller without one (a shell, a test) has it read here, once
    per service call. Helpers below take it as an argument.
    """
    return policy if policy is not None else SchedulePolicy.current()


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
    "eri_replace_by",
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
        values.update(
            battery_window_opens=opens,
            battery_window_closes=closes,
            eri_replace_by=schedule.eri_replace_by(pump.eri_reported_on),
        )
    return values


def fill_facts(refill: Refill, *, is_first_fill: bool) -> FillFacts:
    return FillFacts(
        refill_date=refill.refill_date,
        volume_ml=refill.volume_ml,
        # The refill dates assume every allowed bolus is taken (section 2).
        daily_volume=refill.allowed_daily_volume_ml,
        concentration_mcg=schedule.concentration_mcg_per_ml(
            refill.concentration, refill.concentration_unit
        ),
        stability=refill.drug.stability_rule,
        is_first_fill=is_first_fill,
    )


def rate_changes_after(
    refill: Refill, adjustments: Iterable[DoseAdjustment], *, with_boluses: bool = True
) -> list[schedule.RateChange]:
    """Reprogrammings after ``refill`` (in force), as daily volumes at its concentration.

    The fill's bolus allowance still holds after a reprogramming of the basal
    dose; ``with_boluses=False`` gives the basal volumes (section 4's high end).
    """
    bolus_volume = (
        refill.allowed_daily_volume_ml - refill.daily_volume_ml if with_boluses else Fraction(0)
    )
    return [
        schedule.RateChange(
            on=adjustment.adjusted_on,
            daily_volume_ml=bolus_volume
            + schedule.daily_volume_ml(
                daily_dose=adjustment.daily_dose,
                dose_unit=adjustment.dose_unit,
                concentration=refill.concentration,
                concentration_unit=refill.concentration_unit,
            ),
        )
        for adjustment in adjustments
        if adjustment.adjusted_on > refill.refill_date and not adjustment.is_entered_in_error
    ]


def store_schedule(pump: Pump, *, policy: SchedulePolicy) -> Pump:
    """Recompute and save the pump's stored schedule from its latest fill.

    Call inside a transaction holding the pump's row lock.
    """
    refills = Refill.objects.filter(IN_FORCE, pump=pump)
    latest = refills.select_related("drug").order_by("-refill_date").first()
    if latest is None:
        return _store_schedule_of(pump, latest=None, is_first=True, adjustments=(), policy=policy)
    return _store_schedule_of(
        pump,
        latest=latest,
        is_first=not refills.filter(refill_date__lt=latest.refill_date).exists(),
        adjustments=DoseAdjustment.objects.filter(
            IN_FORCE, pump=pump, adjusted_on__gt=latest.refill_date
        ),
        policy=policy,
    )


def _store_schedule_of(
    pump: Pump,
    *,
    latest: Refill | None,
    is_first: bool,
    adjustments: Iterable[DoseAdjustment],
    policy: SchedulePolicy,
    also: Sequence[str] = (),
    open_discrepancies: int | None = None,
) -> Pump:
    """store_schedule from a latest fill already read (record_fill knows it).

    ``adjustments``: dose changes in force; those after the latest fill count.
    ``also``: other pump fields set by the caller, saved in the same UPDATE
    (one history row, not two). ``open_discrepancies``: the count when the
    caller knows it, else counted.
    """
    fill = None
    changes: list[schedule.RateChange] = []
    if latest is not None:
        fill = fill_facts(latest, is_first_fill=is_first)
        changes = rate_changes_after(latest, adjustments)
    values = compute_schedule(pump=pump, fill=fill, rate_changes=changes, policy=policy)
    values["open_discrepancies"] = (
        count_open_discrepancies(pump) if open_discrepancies is None else open_discrepancies
    )
    pump.latest_fill = latest
    for field, value in values.items():
        setattr(pump, field, value)
    pump.save(update_fields=["latest_fill", *values, *also])
    return pump


def count_open_discrepancies(pump: Pump) -> int:
    """Refills in force whose residual flag awaits a physician (section 4)."""
    return Refill.objects.filter(
        IN_FORCE, pump=pump, discrepancy=True, discrepancy_signed_off_at__isnull=True
    ).count()


def recompute_schedules(
    pumps: Iterable[Pump] | None = None, *, policy: SchedulePolicy | None = None
) -> int:
    """Recompute stored schedules, e.g. after the policy or a catalogue entry changed."""
    policy = _policy(policy)
    count = 0
    queryset = Pump.objects.active() if pumps is None else pumps
    for pump in queryset:
        with transaction.atomic():
            store_schedule(_lock(pump), policy=policy)
        count += 1
    return count


# --- Refills --------------------------------------------------------------------


@dataclass(frozen=True)
class ExpectedResidual:
    """Section 4's expected residual: a range when the previous fill allowed boluses.

    ``high_ml`` is the basal expectation (no bolus taken), ``low_ml`` the one
    with every allowed bolus taken; without boluses the two are equal.
    """

    low_ml: Fraction
    high_ml: Fraction

    @property
    def is_range(self) -> bool:
        return self.low_ml != self.high_ml


def expected_residual(
    previous: Refill, on: date, adjustments: Iterable[DoseAdjustment]
) -> ExpectedResidual:
    """V_prev - R_prev x days since the previous fill, not below zero (section 4)."""
    adjustments = list(adjustments)

    def left(daily_volume: Fraction, with_boluses: bool) -> Fraction:
        return schedule.volume_on(
            fill_date=previous.refill_date,
            volume_ml=previous.volume_ml,
            daily_volume=daily_volume,
            on=on,
            rate_changes=rate_changes_after(previous, adjustments, with_boluses=with_boluses),
        )

    high = left(previous.daily_volume_ml, False)
    low = left(previous.allowed_daily_volume_ml, True) if previous.bolus_dose else high
    return ExpectedResidual(low_ml=low, high_ml=high)


def round_ml(volume: Fraction) -> Decimal:
    """A volume rounded for storage and display (the flag uses the exact value)."""
    exact = Decimal(volume.numerator) / Decimal(volume.denominator)
    return exact.quantize(Decimal("0.001"), rounding=ROUND_HALF_UP)


def residual_flagged(
    residual_ml: Decimal | None, expected: ExpectedResidual, *, threshold_ml: Decimal
) -> bool:
    """Section 4's flag; a residual nobody measured is never flagged."""
    return residual_ml is not None and schedule.is_discrepancy(
        actual_ml=residual_ml,
        expected_ml=expected.high_ml,
        expected_low_ml=expected.low_ml,
        threshold_ml=threshold_ml,
    )


def residual_columns(
    residual_ml: Decimal | None, expected: ExpectedResidual, *, threshold_ml: Decimal
) -> dict[str, Any]:
    """The stored expected residual (range) and flag of a refill about to be written."""
    return {
        "expected_residual_ml": round_ml(expected.high_ml),
        "expected_residual_low_ml": round_ml(expected.low_ml) if expected.is_range else None,
        "discrepancy": residual_flagged(residual_ml, expected, threshold_ml=threshold_ml),
    }


def set_residual_check(
    refill: Refill, expected: ExpectedResidual, *, threshold_ml: Decimal
) -> None:
    """residual_columns, set on a refill instance."""
    columns = residual_columns(refill.residual_ml, expected, threshold_ml=threshold_ml)
    for name, value in columns.items():
        setattr(refill, name, value)


@dataclass(frozen=True)
class ResidualCheck:
    expected: ExpectedResidual | None
    discrepancy: bool

    @property
    def expected_ml(self) -> Fraction | None:
        """The basal expectation (the range's high end)."""
        return self.expected.high_ml if self.expected is not None else None


def previous_fill(pump: Pump, before: date) -> Refill | None:
    """The latest fill in force before ``before``."""
    if not pump.pk:  # not saved yet (the import's new pumps): no fills
        return None
    return (
        Refill.objects.filter(IN_FORCE, pump=pump, refill_date__lt=before)
        .select_related("drug")
        .order_by("-refill_date")
        .first()
    )


@dataclass(frozen=True)
class FillContext:
    """What a fill on ``on`` is checked against, read once per request.

    ``latest``: the pump's latest fill in force (any date); ``previous``: the
    latest in force before ``on`` (the same one, unless ``on`` is not after
    it); ``adjustments``: the dose changes in force after ``previous`` (after
    ``on`` when there is none), which both the residual check and the new
    schedule need.
    """

    on: date
    latest: Refill | None
    previous: Refill | None
    adjustments: tuple[DoseAdjustment, ...]

    @property
    def latest_date(self) -> date | None:
        return self.latest.refill_date if self.latest is not None else None

    def adjustments_until(self, day: date) -> list[DoseAdjustment]:
        """The dose changes after the previous fill, up to ``day`` (the residual check)."""
        return [adjustment for adjustment in self.adjustments if adjustment.adjusted_on <= day]


def fill_context(pump: Pump, on: date, *, recent: Sequence[Refill] | None = None) -> FillContext:
    """FillContext for a fill on ``on``: two queries, one when ``recent`` is given.

    ``recent``: the pump's latest fills in force, newest first, with their
    drugs (for the form's page, ``[pump.latest_fill]`` read with the pump;
    under a lock, read after it). The previous fill is among them unless
    ``on`` is not after any of them (a refusal, or a second look at a day
    already filled), when it is read.
    """
    if not pump.pk:  # not saved yet (the import's new pumps): no fills
        return FillContext(on=on, latest=None, previous=None, adjustments=())
    if recent is None:
        recent = list(
            Refill.objects.filter(IN_FORCE, pump=pump)
            .select_related("drug")
            .order_by("-refill_date")[:2]
        )
    latest = recent[0] if recent else None
    previous = next((refill for refill in recent if refill.refill_date < on), None)
    if previous is None and recent:  # every one read is on or after ``on``
        previous = previous_fill(pump, on)
    since = previous.refill_date if previous is not None else on
    adjustments = DoseAdjustment.objects.filter(IN_FORCE, pump=pump, adjusted_on__gt=since)
    return FillContext(
        on=on,
        latest=latest,
        previous=previous,
        adjustments=tuple(adjustments.order_by("adjusted_on")),
    )


def check_residual(
    *,
    pump: Pump,
    refill_date: date,
    residual_ml: Decimal | None,
    previous: Refill | None = None,
    context: FillContext | None = None,
) -> ResidualCheck:
    """Expected residual from the previous fill, and whether the actual one is flagged.

    The threshold is the pump model's (section 4). ``previous`` defaults to
    the latest fill in force before ``refill_date``; a ``context`` for that
    date (fill_context) gives it and the dose changes without a query.
    """
    adjustments: Iterable[DoseAdjustment]
    if context is not None:
        assert context.on == refill_date
        previous = context.previous
        adjustments = context.adjustments_until(refill_date)
    else:
        previous = previous or previous_fill(pump, refill_date)
    if previous is None:
        return ResidualCheck(expected=None, discrepancy=False)
    if context is None:
        adjustments = (
            DoseAdjustment.objects.filter(
                IN_FORCE,
                pump=pump,
                adjusted_on__gt=previous.refill_date,
                adjusted_on__lte=refill_date,
            )
            if pump.pk
            else DoseAdjustment.objects.none()  # a new pump has no reprogramming yet
        )
    expected = expected_residual(previous, refill_date, adjustments)
    flagged = residual_flagged(
        residual_ml, expected, threshold_ml=pump.model.discrepancy_threshold_ml
    )
    return ResidualCheck(expected=expected, discrepancy=flagged)


def expected_residual_text(expected: ExpectedResidual) -> str:
    """'about 7.4 mL', or 'between 3.1 and 7.4 mL' with a bolus allowance."""
    high = plain_decimal(round_ml(expected.high_ml).quantize(Decimal("0.01")))
    if not expected.is_range:
        return f"about {high} mL"
    low = plain_decimal(round_ml(expected.low_ml).quantize(Decimal("0.01")))
    return f"between {low} and {high} mL"


# --- Section 8: a fill's refusals and confirmations --------------------------------


@dataclass(frozen=True)
class Fill:
    """The clinical values of one fill, as typed (units explicit)."""

    refill_date: date
    drug: Drug
    concentration: Decimal
    concentration_unit: str
    daily_dose: Decimal
    dose_unit: str
    volume_ml: Decimal
    residual_ml: Decimal | None = None
    eri: bool = False
    bolus_dose: Decimal | None = None
    boluses_per_day: int | None = None

    @classmethod
    def of(cls, values: Mapping[str, Any], **overrides: Any) -> Fill:
        """The fill named by a form's cleaned data (extra keys ignored)."""
        picked: dict[str, Any] = {name: values.get(name) for name in cls.__dataclass_fields__}
        picked.update(overrides)
        picked["eri"] = bool(picked["eri"])
        return cls(**picked)

    @property
    def has_boluses(self) -> bool:
        return bool(self.bolus_dose)

    def columns(self) -> dict[str, Any]:
        """The Refill field values this fill is stored as, by every door
        (no bolus columns without a bolus dose)."""
        return {
            "refill_date": self.refill_date,
            "drug": self.drug,
            "concentration": self.concentration,
            "concentration_unit": self.concentration_unit,
            "daily_dose": self.daily_dose,
            "dose_unit": self.dose_unit,
            "volume_ml": self.volume_ml,
            "residual_ml": self.residual_ml,
            "eri": self.eri,
            "bolus_dose": self.bolus_dose if self.has_boluses else None,
            "boluses_per_day": self.boluses_per_day if self.has_boluses else None,
        }

    def numbers(self) -> entry_safety.FillNumbers:
        """Canonical units; call only once the units are known to be valid."""
        return entry_safety.FillNumbers(
            drug_code=self.drug.code,
            concentration=self.concentration,
            concentration_unit=self.concentration_unit,
            concentration_mcg=schedule.concentration_mcg_per_ml(
                self.concentration, self.concentration_unit
            ),
            daily_dose=self.daily_dose,
            dose_unit=self.dose_unit,
            dose_mcg=schedule.dose_mcg_per_day(self.daily_dose, self.dose_unit),
            daily_volume_ml=schedule.daily_volume_ml(
                daily_dose=self.daily_dose,
                dose_unit=self.dose_unit,
                concentration=self.concentration,
                concentration_unit=self.concentration_unit,
            ),
        )

    def allowed_daily_volume(self) -> Fraction:
        return schedule.daily_volume_ml(
            daily_dose=self.daily_dose,
            dose_unit=self.dose_unit,
            concentration=self.concentration,
            concentration_unit=self.concentration_unit,
            bolus_dose=self.bolus_dose,
            boluses_per_day=self.boluses_per_day,
        )


def refill_numbers(refill: Refill) -> entry_safety.FillNumbers:
    """A stored refill's numbers, for comparing the next fill with it."""
    return Fill(
        refill_date=refill.refill_date,
        drug=refill.drug,
        concentration=refill.concentration,
        concentration_unit=refill.concentration_unit,
        daily_dose=refill.daily_dose,
        dose_unit=refill.dose_unit,
        volume_ml=refill.volume_ml,
    ).numbers()


def _mL(amount: Decimal) -> str:
    return f"{plain_decimal(amount)} mL"


def validate_fill(
    *,
    pump: Pump,
    fill: Fill,
    today: date,
    correcting: Refill | None = None,
    context: FillContext | None = None,
) -> None:
    """The refusals of sections 2, 4 and 8 for a fill, whichever door it came through.

    ``correcting``: the recorded refill these values correct (its date and
    pump stay; later refills may follow it). ``context``: the pump's latest
    fill already read (fill_context). Raises ``ValidationError`` with a
    message per field, in staff's words.
    """
    errors: dict[str, str] = {}
    reservoir = pump.model.reservoir_ml
    alarm = pump.alarm_ml
    refusal = entry_safety.date_refusal(fill.refill_date, today=today, happened=True)
    if refusal:
        errors["refill_date"] = refusal
    elif not pump.is_active:
        errors["refill_date"] = f"Pump {pump.serial} was explanted on {pump.explant_date}."
    elif fill.refill_date < pump.implant_date:
        errors["refill_date"] = f"The pump was implanted on {pump.implant_date}, after this date."
    elif correcting is not None:
        pass  # the date is the recorded refill's own
    elif pump.pk:  # a pump not yet saved (the import's new pumps) has no refills
        latest = (
            context.latest_date
            if context is not None
            else pump.refills.filter(IN_FORCE)
            .order_by("-refill_date")
            .values_list("refill_date", flat=True)
            .first()
        )
        if latest is not None and fill.refill_date < latest:
            errors["refill_date"] = f"A later refill is already recorded ({latest})."
        elif latest is not None and fill.refill_date == latest:
            errors["refill_date"] = f"A refill on {latest} is already recorded for this pump."
    units_known = True
    if fill.concentration_unit not in ConcentrationUnit.values:
        errors["concentration_unit"] = "Choose mg/mL or mcg/mL."
        units_known = False
    if fill.dose_unit not in DoseUnit.values:
        errors["dose_unit"] = "Choose mg/day or mcg/day."
        units_known = False
    if fill.concentration <= 0:
        errors["concentration"] = "The concentration must be above zero."
    if fill.daily_dose < 0:
        errors["daily_dose"] = "The daily dose cannot be negative."
    if fill.bolus_dose is not None and fill.bolus_dose < 0:
        errors["bolus_dose"] = "The bolus dose cannot be negative."
    elif fill.has_boluses and not fill.boluses_per_day:
        errors["boluses_per_day"] = (
            "Enter how many boluses the patient may take a day: the refill date "
            "assumes every allowed bolus is taken."
        )
    if fill.boluses_per_day is not None and fill.boluses_per_day < 0:
        errors["boluses_per_day"] = "The number of boluses cannot be negative."
    if fill.volume_ml < 0:
        errors["volume_ml"] = "The volume cannot be negative."
    elif fill.volume_ml > reservoir:
        errors["volume_ml"] = (
            f"{_mL(fill.volume_ml)} is more than this pump's reservoir holds ({_mL(reservoir)})."
        )
    elif fill.volume_ml < alarm:
        errors["volume_ml"] = (
            f"{_mL(fill.volume_ml)} is below this pump's low-reservoir alarm ({_mL(alarm)}): "
            "the pump would alarm at once. Enter the volume in the pump after the fill."
        )
    if fill.residual_ml is not None and fill.residual_ml < 0:
        errors["residual_ml"] = "The residual volume cannot be negative."
    elif fill.residual_ml is not None and fill.residual_ml > reservoir:
        errors["residual_ml"] = (
            f"{_mL(fill.residual_ml)} is more than this pump's reservoir holds ({_mL(reservoir)})."
        )
    if fill.eri and not pump.model.has_battery:
        errors["eri"] = f"A {pump.model.code} pump has no battery and shows no ERI."
    if units_known and "concentration" not in errors:
        refusal = entry_safety.concentration_refusal(
            drug_name=fill.drug.name.lower(),
            concentration=fill.concentration,
            unit=fill.concentration_unit,
            concentration_mcg=schedule.concentration_mcg_per_ml(
                fill.concentration, fill.concentration_unit
            ),
            accepted=fill.drug.concentration_range,
        )
        if refusal:
            errors["concentration"] = refusal
        elif not {"daily_dose", "bolus_dose", "boluses_per_day", "volume_ml"} & errors.keys():
            daily_volume = fill.allowed_daily_volume()
            days = entry_safety.days_to_alarm(
                volume_ml=fill.volume_ml, alarm_ml=alarm, daily_volume=daily_volume
            )
            refusal = entry_safety.daily_volume_refusal(
                daily_volume=daily_volume, days=days, with_boluses=fill.has_boluses
            )
            if refusal:
                errors["daily_dose"] = refusal
    if errors:
        raise ValidationError(errors)


@dataclass(frozen=True)
class FillWarning:
    """One thing to confirm, with the field (import column) it is about."""

    field: str
    message: str


def fill_warnings(
    *,
    pump: Pump,
    fill: Fill,
    previous: Refill | None = None,
    policy: SchedulePolicy,
    context: FillContext | None = None,
) -> list[FillWarning]:
    """What must be confirmed before a valid fill is saved (sections 2, 4 and 8).

    ``previous`` defaults to the pump's latest fill in force before this one;
    a ``context`` (fill_context) gives it and the dose changes without a query.
    """
    if context is not None:
        previous = context.previous
    else:
        previous = previous or previous_fill(pump, fill.refill_date)
    warnings: list[FillWarning] = []
    check = check_residual(
        pump=pump,
        refill_date=fill.refill_date,
        residual_ml=fill.residual_ml,
        previous=previous,
        context=context,
    )
    if check.discrepancy and check.expected is not None and fill.residual_ml is not None:
        expected = check.expected
        actual = Fraction(fill.residual_ml)
        nearer = expected.high_ml if actual > expected.high_ml else expected.low_ml
        difference = actual - nearer
        more_or_less = "more" if difference > 0 else "less"
        meaning = (
            "the catheter may be blocked or kinked, or the pump may have stalled"
            if difference > 0
            else "there may be a leak, or an earlier pocket fill"
        )
        warnings.append(
            FillWarning(
                "residual_ml",
                f"You withdrew {_mL(fill.residual_ml)} but {expected_residual_text(expected)} "
                f"was expected: {round_ml(abs(difference)).normalize()} mL {more_or_less} than "
                f"expected, so {meaning}. Check the volume. If it is right, the refill will "
                f"be flagged for physician review.",
            )
        )
    numbers = fill.numbers()
    same_drug = previous is not None and previous.drug_id == fill.drug.pk
    for field, message in entry_safety.unit_slip_warnings(
        numbers, refill_numbers(previous) if previous is not None else None
    ).items():
        # The import names the daily_dose column for a daily volume (section 8).
        warnings.append(FillWarning("daily_dose" if field == "daily_volume" else field, message))
    is_first = previous is None
    for message in schedule.dose_warnings(
        drug_name=fill.drug.name.lower(),
        dose_mcg=numbers.dose_mcg,
        limits=fill.drug.dose_limits,
        previous_dose_mcg=(
            schedule.dose_mcg_per_day(previous.daily_dose, previous.dose_unit)
            if previous is not None and same_drug
            else None  # a change of drug is not a dose change
        ),
        is_first_fill=is_first,
        change_warn_percent=policy.dose_change_warn_percent,
    ):
        warnings.append(FillWarning("daily_dose", message))
    short = entry_safety.short_fill_warning(
        entry_safety.days_to_alarm(
            volume_ml=fill.volume_ml,
            alarm_ml=pump.alarm_ml,
            daily_volume=fill.allowed_daily_volume(),
        )
    )
    if short:
        warnings.append(FillWarning("volume_ml", short))
    return warnings


@transaction.atomic
def record_fill(
    *,
    pump: Pump,
    fill: Fill,
    today: date,
    pain_score: int | None = None,
    ashworth_score: str = "",
    notes: str = "",
    recorded_by=None,  # type: ignore[no-untyped-def]
    submission_token: UUID | None = None,
    policy: SchedulePolicy | None = None,
) -> Refill:
    """Record a refill visit and store the pump's new schedule (sections 2 to 5).

    Refuses what section 8 refuses; what it asks to confirm is the caller's to
    confirm first (``fill_warnings``). Closes the booked refill visit it fulfils.
    """
    pump = _lock(pump)
    return record_locked_fill(
        pump=pump,
        fill=fill,
        context=fill_context(pump, fill.refill_date),
        today=today,
        pain_score=pain_score,
        ashworth_score=ashworth_score,
        notes=notes,
        recorded_by=recorded_by,
        submission_token=submission_token,
        policy=_policy(policy),
    )


def record_locked_fill(
    *,
    pump: Pump,
    fill: Fill,
    context: FillContext,
    today: date,
    policy: SchedulePolicy,
    pain_score: int | None = None,
    ashworth_score: str = "",
    notes: str = "",
    recorded_by=None,  # type: ignore[no-untyped-def]
    submission_token: UUID | None = None,
) -> Refill:
    """record_fill on a pump read by ``lock_pump`` in the caller's transaction.

    ``context`` is fill_context(pump, fill.refill_date), read after that
    lock: nothing the checks or the new schedule need is read twice.
    """
    validate_fill(pump=pump, fill=fill, today=today, context=context)
    check = check_residual(
        pump=pump, refill_date=fill.refill_date, residual_ml=fill.residual_ml, context=context
    )
    columns = (
        residual_columns(
            fill.residual_ml, check.expected, threshold_ml=pump.model.discrepancy_threshold_ml
        )
        if check.expected is not None
        else {}
    )
    refill = Refill.objects.create(
        pump=pump,
        **fill.columns(),
        pain_score=pain_score,
        ashworth_score=ashworth_score,
        notes=notes,
        recorded_by=recorded_by,
        submission_token=submission_token,
        **columns,
    )
    signals.fill_recorded.send(Refill, pump_id=pump.pk, refill_date=fill.refill_date)
    also: list[str] = []
    if fill.eri and (pump.eri_reported_on is None or fill.refill_date < pump.eri_reported_on):
        pump.eri_reported_on = fill.refill_date
        also.append("eri_reported_on")  # saved with the schedule it moves (section 5)
    _store_schedule_of(
        pump,
        latest=refill,  # validate_fill refused any date not after the latest fill
        is_first=context.previous is None,
        adjustments=context.adjustments,
        policy=policy,
        also=also,
        # The pump's count was read under this lock and every writer keeps it
        # under the same lock: the new refill is the only change.
        open_discrepancies=pump.open_discrepancies + int(refill.discrepancy),
    )
    return refill


def _recheck_next_refill(pump: Pump, after: date) -> None:
    """The next fill's residual check, against the fill now before it (section 9).

    A flag a physician already signed off stays as it was: the decision is kept.
    """
    following = (
        Refill.objects.filter(IN_FORCE, pump=pump, refill_date__gt=after)
        .order_by("refill_date")
        .first()
    )
    if following is None or following.discrepancy_signed_off_at is not None:
        return
    check = check_residual(
        pump=pump, refill_date=following.refill_date, residual_ml=following.residual_ml
    )
    if check.expected is None:
        columns: dict[str, Any] = {
            "expected_residual_ml": None,
            "expected_residual_low_ml": None,
            "discrepancy": False,
        }
    else:
        columns = residual_columns(
            following.residual_ml, check.expected, threshold_ml=pump.model.discrepancy_threshold_ml
        )
    if any(getattr(following, name) != value for name, value in columns.items()):
        for name, value in columns.items():
            setattr(following, name, value)
        following.save(update_fields=list(columns))


def _follow_eri(pump: Pump, refill: Refill) -> None:
    """Keep the pump's first ERI date after ``refill`` gained, lost or left its ERI.

    A refill in force that saw ERI can only make the date earlier; one that no
    longer counts (unticked, entered in error) takes its date with it unless
    another refill in force saw ERI too (section 5: ERI stays until replaced).
    """
    counts = refill.eri and not refill.is_entered_in_error
    if counts and (pump.eri_reported_on is None or refill.refill_date < pump.eri_reported_on):
        pump.eri_reported_on = refill.refill_date
    elif not counts and pump.eri_reported_on == refill.refill_date:
        pump.eri_reported_on = (
            Refill.objects.filter(IN_FORCE, pump=pump, eri=True)
            .order_by("refill_date")
            .values_list("refill_date", flat=True)
            .first()
        )
    else:
        return
    pump.save(update_fields=["eri_reported_on"])


@transaction.atomic
def mark_refill_entered_in_error(
    *,
    refill: Refill,
    user,
    reason: str,
    now: datetime,  # type: ignore[no-untyped-def]
    policy: SchedulePolicy | None = None,
) -> Refill:
    """Section 9: the refill stays in the record but leaves every calculation at once."""
    pump = _lock(refill.pump)
    refill = Refill.objects.select_for_update().get(pk=refill.pk)
    mark_entered_in_error(refill, user=user, reason=reason, now=now)
    _follow_eri(pump, refill)
    _recheck_next_refill(pump, refill.refill_date)
    store_schedule(pump, policy=_policy(policy))
    return refill


@transaction.atomic
def restore_refill(
    *,
    refill: Refill,
    user,  # type: ignore[no-untyped-def]
    reason: str,
    policy: SchedulePolicy | None = None,
) -> Refill:
    """Take back an entered-in-error mark: the refill counts again."""
    pump = _lock(refill.pump)
    refill = Refill.objects.select_for_update().get(pk=refill.pk)
    if (
        refill.is_entered_in_error
        and Refill.objects.filter(IN_FORCE, pump=pump, refill_date=refill.refill_date).exists()
    ):
        raise ValidationError(
            f"Another refill on {refill.refill_date} is recorded for this pump: mark that one "
            "entered in error first."
        )
    unmark_entered_in_error(refill, user=user, reason=reason)
    _follow_eri(pump, refill)
    _recheck_next_refill(pump, refill.refill_date)
    store_schedule(pump, policy=_policy(policy))
    return refill


# What a correction may change: a refill on the wrong pump or day is marked
# entered in error and recorded again instead (section 9).
CORRECTABLE_FILL_FIELDS = (
    "drug",
    "concentration",
    "concentration_unit",
    "daily_dose",
    "dose_unit",
    "bolus_dose",
    "boluses_per_day",
    "volume_ml",
    "residual_ml",
    "eri",
)


@transaction.atomic
def correct_fill(
    *, refill: Refill, fill: Fill, today: date, policy: SchedulePolicy | None = None
) -> Refill:
    """Correct a recorded refill's clinical values (the admin's door).

    The same refusals as a new fill; then its residual check, the pump's ERI,
    the next refill's residual check and the pump's dates follow. A flag a
    physician signed off on other numbers is opened again.
    """
    pump = _lock(refill.pump)
    refill = Refill.objects.select_for_update().select_related("drug").get(pk=refill.pk)
    if refill.is_entered_in_error:
        raise ValidationError("This refill is marked entered in error: restore it to correct it.")
    validate_fill(pump=pump, fill=fill, today=today, correcting=refill)
    before = {name: getattr(refill, name) for name in CORRECTABLE_FILL_FIELDS}
    for name in CORRECTABLE_FILL_FIELDS:
        setattr(refill, name, getattr(fill, name))
    if not fill.has_boluses:  # as record_fill stores "no bolus"
        refill.bolus_dose = refill.boluses_per_day = None
    changed = [name for name in CORRECTABLE_FILL_FIELDS if getattr(refill, name) != before[name]]
    if not changed:
        return refill
    check = check_residual(
        pump=pump, refill_date=refill.refill_date, residual_ml=refill.residual_ml
    )
    computed: list[str] = []
    if check.expected is not None:
        set_residual_check(refill, check.expected, threshold_ml=pump.model.discrepancy_threshold_ml)
        computed = ["expected_residual_ml", "expected_residual_low_ml", "discrepancy"]
        if refill.discrepancy and "residual_ml" in changed:
            # The physician signed off another number: this one needs a look too.
            refill.discrepancy_signed_off_at = None
            refill.discrepancy_signed_off_by = None
            computed += ["discrepancy_signed_off_at", "discrepancy_signed_off_by"]
    refill.save(update_fields=[*changed, *computed])
    _follow_eri(pump, refill)
    _recheck_next_refill(pump, refill.refill_date)
    store_schedule(pump, policy=_policy(policy))
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
    policy: SchedulePolicy | None = None,
) -> DoseAdjustment:
    """Record a reprogramming without a refill; dates are recomputed from that day."""
    pump = _lock(pump)
    errors: dict[str, str] = {}
    latest = pump.refills.filter(IN_FORCE).order_by("-refill_date").first()
    refusal = entry_safety.date_refusal(adjusted_on, today=today, happened=True)
    if refusal:
        errors["adjusted_on"] = refusal
    elif latest is None:
        errors["adjusted_on"] = "Record a refill before changing the dose."
    elif not latest.refill_date < adjusted_on <= today:
        errors["adjusted_on"] = (
            f"The change must fall after the latest refill ({latest.refill_date}) "
            "and not in the future."
        )
    elif DoseAdjustment.objects.filter(IN_FORCE, pump=pump, adjusted_on=adjusted_on).exists():
        errors["adjusted_on"] = f"A dose change on {adjusted_on} is already recorded."
    if dose_unit not in DoseUnit.values:
        errors["dose_unit"] = "Choose mg/day or mcg/day."
    if daily_dose < 0:
        errors["daily_dose"] = "The daily dose cannot be negative."
    elif latest is not None and dose_unit in DoseUnit.values:
        basal = schedule.daily_volume_ml(
            daily_dose=daily_dose,
            dose_unit=dose_unit,
            concentration=latest.concentration,
            concentration_unit=latest.concentration_unit,
        )
        allowed = basal + latest.allowed_daily_volume_ml - latest.daily_volume_ml
        refusal = entry_safety.daily_volume_refusal(
            daily_volume=allowed, days=None, with_boluses=bool(latest.bolus_dose)
        )
        if refusal:
            errors["daily_dose"] = refusal
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
    store_schedule(pump, policy=_policy(policy))
    return adjustment


@transaction.atomic
def mark_dose_change_entered_in_error(
    *,
    adjustment: DoseAdjustment,
    user,
    reason: str,
    now: datetime,  # type: ignore[no-untyped-def]
    policy: SchedulePolicy | None = None,
) -> DoseAdjustment:
    """Section 9 for a reprogramming: the dates are recomputed without it."""
    pump = _lock(adjustment.pump)
    adjustment = DoseAdjustment.objects.select_for_update().get(pk=adjustment.pk)
    mark_entered_in_error(adjustment, user=user, reason=reason, now=now)
    _recheck_next_refill(pump, adjustment.adjusted_on)
    store_schedule(pump, policy=_policy(policy))
    return adjustment


@transaction.atomic
def restore_dose_change(
    *,
    adjustment: DoseAdjustment,
    user,  # type: ignore[no-untyped-def]
    reason: str,
    policy: SchedulePolicy | None = None,
) -> DoseAdjustment:
    pump = _lock(adjustment.pump)
    adjustment = DoseAdjustment.objects.select_for_update().get(pk=adjustment.pk)
    if (
        adjustment.is_entered_in_error
        and DoseAdjustment.objects.filter(
            IN_FORCE, pump=pump, adjusted_on=adjustment.adjusted_on
        ).exists()
    ):
        raise ValidationError(
            f"Another dose change on {adjustment.adjusted_on} is recorded: mark that one "
            "entered in error first."
        )
    unmark_entered_in_error(adjustment, user=user, reason=reason)
    _recheck_next_refill(pump, adjustment.adjusted_on)
    store_schedule(pump, policy=_policy(policy))
    return adjustment


@transaction.atomic
def sign_off_discrepancy(*, refill: Refill, user, comment: str, now: datetime) -> Refill:  # type: ignore[no-untyped-def]
    """A physician signs off a residual-volume flag (section 4)."""
    require_role(user, PHYSICIAN, to="sign off a residual-volume discrepancy")
    pump = _lock(refill.pump)
    refill = Refill.objects.select_for_update().get(pk=refill.pk)
    if not refill.discrepancy:
        raise ValidationError("This refill has no residual-volume discrepancy to sign off.")
    if refill.is_entered_in_error:
        raise ValidationError("This refill is marked entered in error: it has no flag to sign off.")
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
    pump.open_discrepancies = count_open_discrepancies(pump)
    pump.save(update_fields=["open_discrepancies"])
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
    policy: SchedulePolicy | None = None,
) -> Pump:
    """Record a newly implanted pump; its battery window starts from this date."""
    errors: dict[str, str] = {}
    serial = serial.strip()
    refusal = entry_safety.serial_refusal(serial)
    if refusal:
        errors["serial"] = refusal
    elif Pump.objects.filter(serial__iexact=serial).exists():
        errors["serial"] = f"A pump with serial {serial} is already recorded."
    refusal = entry_safety.date_refusal(implant_date, today=today, happened=True)
    if refusal:
        errors["implant_date"] = refusal
    elif implant_date < patient.birth_date:
        errors["implant_date"] = (
            f"The implant date is before the patient's birth ({patient.birth_date})."
        )
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
    values = compute_schedule(pump=pump, fill=None, rate_changes=(), policy=_policy(policy))
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
    elif refusal := entry_safety.date_refusal(explant_date, today=today, happened=True):
        errors["explant_date"] = refusal
    elif explant_date < pump.implant_date:
        errors["explant_date"] = "The explant date cannot be before the implant date."
    elif (
        last := pump.refills.filter(IN_FORCE)
        .order_by("-refill_date")
        .values_list("refill_date", flat=True)
        .first()
    ) and explant_date < last:
        errors["explant_date"] = f"A refill on {last} is recorded after this date."
    if reason not in ExplantReason.values:
        errors["reason"] = "Choose the reason for the explant."
    if errors:
        raise ValidationError(errors)
    pump.explant_date = explant_date
    pump.explant_reason = reason
    pump.save(update_fields=["explant_date", "explant_reason"])
    return pump


@transaction.atomic
def record_eri(
    *, pump: Pump, seen_on: date, today: date, policy: SchedulePolicy | None = None
) -> Pump:
    """Record the Elective Replacement Indicator: replacement within 90 days (section 5)."""
    pump = _lock(pump)
    if not pump.model.has_battery:
        raise ValidationError(f"A {pump.model.code} pump has no battery and shows no ERI.")
    refusal = entry_safety.date_refusal(seen_on, today=today, happened=True)
    if refusal or seen_on < pump.implant_date:
        raise ValidationError({"seen_on": refusal or "The date is before the pump's implant."})
    if pump.eri_reported_on is None or seen_on < pump.eri_reported_on:
        pump.eri_reported_on = seen_on
        pump.save(update_fields=["eri_reported_on"])
        # The replace-by date moves with it (section 5).
        store_schedule(pump, policy=_policy(policy))
    return pump
