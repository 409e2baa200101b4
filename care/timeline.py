"""A patient's story in date order, and the data of the timeline's three charts.

One query per kind of record, whatever the length of the history. Doses are
converted with the exact unit rules of ``pumps.schedule`` (Fraction); charts
get floats, the tables beside them the exact values. A record entered in error
(clinical-rules.md 9) shows struck through in the event list and nowhere else:
charts and their tables read the records in force only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any

from django.utils import timezone

from care.choices import VisitKind, VisitStatus
from care.models import Appointment, Complication, MriScan, Trial
from care.rules import ASHWORTH_GRADES
from core.formatting import plain_decimal
from patients.models import EnteredInError, Patient
from pumps import schedule
from pumps.choices import DoseUnit
from pumps.models import DoseAdjustment, Pump, Refill


@dataclass(frozen=True)
class Event:
    day: date
    kind: str  # a short code, used as a CSS hook and in tests
    title: str
    detail: str = ""
    flag: str = ""  # a short warning shown as a badge
    # Who marked the record entered in error, when and why; empty while in force.
    entered_in_error: str = ""


def _exact(value: Fraction) -> str:
    return plain_decimal(Decimal(value.numerator) / Decimal(value.denominator))


def _who(user: Any) -> str:
    return (user.get_full_name() or user.get_username()) if user is not None else ""


def _in_error(record: EnteredInError) -> str:
    """ "by Ada Okafor on 3 Dec 2026: typed on the wrong patient", or "" while in force."""
    if not record.is_entered_in_error:
        return ""
    when = timezone.localtime(record.entered_in_error_at)
    who = _who(record.entered_in_error_by) or "someone"
    return f"by {who} on {when:%-d %b %Y %H:%M}: {record.entered_in_error_reason}"


@dataclass
class Timeline:
    events: list[Event] = field(default_factory=list)
    dose_rows: list[dict[str, Any]] = field(default_factory=list)
    score_rows: list[dict[str, Any]] = field(default_factory=list)
    discrepancy_rows: list[dict[str, Any]] = field(default_factory=list)
    charts: dict[str, Any] = field(default_factory=dict)


# Same-day events read in the order things happen in the clinic.
KIND_ORDER = [
    "trial",
    "explant",
    "implant",
    "mri",
    "mri_check",
    "refill",
    "dose_change",
    "visit",
    "complication",
]


def build_timeline(patient: Patient) -> Timeline:
    """Every event of the patient's care in date order, and the chart data.

    The discrepancy chart's threshold is the pump model's (section 4): the
    active pump's, else the latest pump's; each table row names its own.
    """
    timeline = Timeline()
    events = timeline.events
    trials = Trial.objects.filter(patient=patient).select_related(
        "drug", "decided_by", "entered_in_error_by"
    )
    for trial in trials.order_by("trial_date", "pk"):
        decided = (
            f" · {trial.get_decision_display()} by {_who(trial.decided_by)}"
            f" ({trial.get_final_outcome_display().lower()})"
            if trial.decided_by_id
            else " · awaiting decision"
        )
        events.append(
            Event(
                trial.trial_date,
                "trial",
                f"Screening trial: {trial.drug.name} {plain_decimal(trial.dose)} "
                f"{trial.dose_unit}, {trial.get_method_display().lower()}",
                f"{trial.get_scale_display()} {trial.score_before} → {trial.score_after}"
                f" · computed {trial.computed_outcome.label.lower()}{decided}",
                entered_in_error=_in_error(trial),
            )
        )
    pumps = list(
        Pump.objects.filter(patient=patient)
        .select_related("model")
        .order_by("explant_date", "-implant_date")  # the active pump first (NULLs first)
    )
    for pump in pumps:
        events.append(
            Event(pump.implant_date, "implant", f"Pump {pump.serial} implanted", str(pump.model))
        )
        if pump.explant_date is not None:
            events.append(
                Event(
                    pump.explant_date,
                    "explant",
                    f"Pump {pump.serial} explanted",
                    pump.get_explant_reason_display(),
                )
            )
    all_refills = list(
        Refill.objects.filter(pump__patient=patient)
        .select_related("pump__model", "drug", "entered_in_error_by")
        .order_by("refill_date", "pk")
    )
    all_adjustments = list(
        DoseAdjustment.objects.filter(pump__patient=patient)
        .select_related("pump", "entered_in_error_by")
        .order_by("adjusted_on", "pk")
    )
    for refill in all_refills:
        flag = ""
        if refill.is_entered_in_error:
            pass  # its flag went with it
        elif refill.discrepancy:
            flag = "discrepancy signed off" if refill.discrepancy_signed_off_at else "discrepancy"
        events.append(
            Event(
                refill.refill_date,
                "refill",
                f"Refill of {refill.pump.serial}: {refill.drug.name} "
                f"{plain_decimal(refill.concentration)} {refill.concentration_unit} at "
                f"{plain_decimal(refill.daily_dose)} {refill.dose_unit}",
                f"filled to {plain_decimal(refill.volume_ml)} mL"
                + (
                    f", {plain_decimal(refill.residual_ml)} mL withdrawn"
                    if refill.residual_ml is not None
                    else ""
                ),
                flag,
                _in_error(refill),
            )
        )
    for adjustment in all_adjustments:
        events.append(
            Event(
                adjustment.adjusted_on,
                "dose_change",
                f"Dose changed to {plain_decimal(adjustment.daily_dose)} {adjustment.dose_unit}",
                adjustment.notes,
                entered_in_error=_in_error(adjustment),
            )
        )
    for complication in Complication.objects.filter(patient=patient).select_related(
        "entered_in_error_by"
    ):
        events.append(
            Event(
                complication.occurred_on,
                "complication",
                f"Complication: {complication.get_kind_display()}",
                f"{complication.get_severity_display()} · {complication.get_outcome_display()}"
                + (f" · {complication.notes}" if complication.notes else ""),
                entered_in_error=_in_error(complication),
            )
        )
    for scan in MriScan.objects.filter(patient=patient).select_related("entered_in_error_by"):
        pending = not scan.pump_checked_on and not scan.is_entered_in_error
        events.append(
            Event(
                scan.scanned_on,
                "mri",
                "MRI",
                scan.notes,
                "pump check pending" if pending else "",
                _in_error(scan),
            )
        )
        if scan.pump_checked_on:
            events.append(Event(scan.pump_checked_on, "mri_check", "Pump checked after the MRI"))
    # A cancelled visit and a done refill visit (the refill itself shows) are
    # left out, unless they carry notes: what staff wrote stays in sight (issue 14).
    visits = (
        Appointment.objects.filter(patient=patient)
        .exclude(status=VisitStatus.CANCELLED, notes="")
        .exclude(kind=VisitKind.REFILL, status=VisitStatus.DONE, notes="")
    )
    for visit in visits:
        events.append(
            Event(
                timezone.localtime(visit.scheduled_at).date(),
                "visit",
                f"{visit.get_kind_display()} visit"
                if visit.kind == VisitKind.REFILL
                else visit.get_kind_display(),
                visit.notes,
                "" if visit.status == VisitStatus.DONE else visit.get_status_display().lower(),
            )
        )
    events.sort(key=lambda event: (event.day, KIND_ORDER.index(event.kind)))
    # The charts and their tables calculate: records entered in error are left out.
    refills = [refill for refill in all_refills if not refill.is_entered_in_error]
    adjustments = [change for change in all_adjustments if not change.is_entered_in_error]
    _dose_chart(timeline, refills, adjustments)
    _score_chart(timeline, refills)
    threshold = pumps[0].model.discrepancy_threshold_ml if pumps else None
    _discrepancy_chart(timeline, refills, threshold)
    return timeline


def _dose_chart(
    timeline: Timeline, refills: list[Refill], adjustments: list[DoseAdjustment]
) -> None:
    """Daily dose at each fill and reprogramming, one line per drug, in its latest unit."""
    drug_by_pump_date = sorted((r.pump_id, r.refill_date, r.drug.name) for r in refills)
    records: list[tuple[date, str, Fraction, str, str]] = []
    for refill in refills:
        mcg = schedule.dose_mcg_per_day(refill.daily_dose, refill.dose_unit)
        records.append((refill.refill_date, refill.drug.name, mcg, refill.dose_unit, "refill"))
    for adjustment in adjustments:
        # A reprogramming changes the dose of the drug filled last before it.
        drug = next(
            (
                name
                for pump_id, day, name in reversed(drug_by_pump_date)
                if pump_id == adjustment.pump_id and day <= adjustment.adjusted_on
            ),
            "",
        )
        mcg = schedule.dose_mcg_per_day(adjustment.daily_dose, adjustment.dose_unit)
        records.append((adjustment.adjusted_on, drug, mcg, adjustment.dose_unit, "dose change"))
    records.sort(key=lambda record: record[0])
    units = {drug: unit for _, drug, _, unit, _ in records}  # each drug's latest unit
    datasets: dict[str, dict[str, Any]] = {}
    for day, drug, mcg, _, source in records:
        unit = units[drug]
        value = mcg / schedule.MCG_PER_MG if unit == DoseUnit.MG_PER_DAY else mcg
        label = f"{drug} ({unit})"
        datasets.setdefault(label, {"label": label, "points": []})["points"].append(
            {"x": day.isoformat(), "y": float(value)}
        )
        timeline.dose_rows.append(
            {"day": day, "drug": drug, "dose": _exact(value), "unit": unit, "source": source}
        )
    timeline.charts["dose"] = {"datasets": list(datasets.values())}


def _score_chart(timeline: Timeline, refills: list[Refill]) -> None:
    """Pain (NRS) and Modified Ashworth scores recorded at refill visits."""
    pain: list[dict[str, Any]] = []
    ashworth: list[dict[str, Any]] = []
    for refill in refills:
        if refill.pain_score is None and not refill.ashworth_score:
            continue
        if refill.pain_score is not None:
            pain.append({"x": refill.refill_date.isoformat(), "y": refill.pain_score})
        if refill.ashworth_score:
            grade = ASHWORTH_GRADES[refill.ashworth_score]  # 1+ counts as 1.5
            ashworth.append({"x": refill.refill_date.isoformat(), "y": float(grade)})
        timeline.score_rows.append(
            {
                "day": refill.refill_date,
                "pain": refill.pain_score,
                "ashworth": refill.ashworth_score,
            }
        )
    datasets = []
    if pain:
        datasets.append({"label": "Pain (NRS 0 to 10)", "axis": "pain", "points": pain})
    if ashworth:
        datasets.append(
            {"label": "Modified Ashworth (1+ = 1.5)", "axis": "ashworth", "points": ashworth}
        )
    timeline.charts["scores"] = {"datasets": datasets}


def _discrepancy_chart(
    timeline: Timeline, refills: list[Refill], threshold: Decimal | None
) -> None:
    """Actual minus expected residual (mL) at each refill that has both (section 4).

    ``threshold`` is the chart's guide line (the current pump model's); each row
    keeps the threshold of its own pump's model.
    """
    points = []
    for refill in refills:
        if refill.residual_ml is None or refill.expected_residual_ml is None:
            continue
        difference = refill.residual_ml - refill.expected_residual_ml
        points.append(
            {
                "x": refill.refill_date.isoformat(),
                "y": float(difference),
                "flagged": refill.discrepancy,
            }
        )
        timeline.discrepancy_rows.append(
            {
                "day": refill.refill_date,
                "expected": refill.expected_residual_ml,
                "actual": refill.residual_ml,
                "difference": difference,
                "flagged": refill.discrepancy,
                "signed_off": refill.discrepancy_signed_off_at is not None,
                "threshold": refill.pump.model.discrepancy_threshold_ml,
            }
        )
    timeline.charts["discrepancy"] = {
        "threshold": float(threshold) if threshold is not None else None,
        "points": points,
    }
