"""The physician's decisions and clinical records (clinical-rules.md 6 and 7).

Each write is one transaction that records who and when (``decided_by`` /
``recorded_by`` fields where the model has them; django-simple-history keeps
the user of every change made through a web request). The services check the
invariants again: forms are not the only door. They check the role too
(separated duties): a decision needs a physician, a clinical record a nurse or
a physician; the Administrator role is no clinical role.
"""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from care import rules
from care.choices import (
    ComplicationKind,
    ComplicationOutcome,
    Severity,
    TrialDecision,
    TrialDoseUnit,
    TrialMethod,
    TrialOutcome,
    TrialScale,
    VisitKind,
    VisitStatus,
)
from care.models import Appointment, Complication, MriScan, Trial
from care.services import book_visit, event_date_refusal
from core.roles import CLINICAL_ROLES, PHYSICIAN, require_role
from patients.choices import PatientStatus
from patients.corrections import mark_entered_in_error, unmark_entered_in_error
from patients.models import IN_FORCE, Patient
from pumps.models import Drug, Pump

# --- Trials (section 6) ----------------------------------------------------------


def validate_scores(*, scale: str, before: str, after: str) -> dict[str, str]:
    """Field errors for scores that are not valid on their scale (NRS 0-10, Ashworth)."""
    errors: dict[str, str] = {}
    if scale == TrialScale.PAIN_NRS:
        parse = rules.pain_score
    elif scale == TrialScale.ASHWORTH:
        parse = rules.ashworth_score
    else:
        return {"scale": "Choose the scale the scores are on."}
    for field, raw in (("score_before", before), ("score_after", after)):
        try:
            parse(raw)
        except rules.ScoreError as error:
            errors[field] = str(error).capitalize() + "."
    return errors


@transaction.atomic
def record_trial(
    *,
    patient: Patient,
    trial_date: date,
    method: str,
    drug: Drug,
    dose: Decimal,
    dose_unit: str,
    scale: str,
    score_before: str,
    score_after: str,
    today: date,
    notes: str = "",
) -> Trial:
    """Record a screening trial; it waits for the physician's decision.

    The same trial (patient, day, drug, dose and scores) is recorded once: a
    resubmitted form finds it instead of adding a copy.
    """
    score_before, score_after = score_before.strip(), score_after.strip()
    errors = validate_scores(scale=scale, before=score_before, after=score_after)
    if refusal := event_date_refusal(
        trial_date, what="the trial date", today=today, birth_date=patient.birth_date
    ):
        errors["trial_date"] = refusal
    if method not in TrialMethod.values:
        errors["method"] = "Choose how the drug was given."
    if dose_unit not in TrialDoseUnit.values:
        errors["dose_unit"] = "Choose the dose's unit."
    if dose <= 0:
        unit = dose_unit if dose_unit in TrialDoseUnit.values else ""
        errors["dose"] = (
            f"A trial dose of {dose.normalize():f} {unit}".rstrip()
            + " is no dose: enter the dose given, above zero."
        )
    if errors:
        raise ValidationError(errors)
    Patient.objects.select_for_update().get(pk=patient.pk)  # queue two submissions
    # A record entered in error is never the one "already saved".
    trial, _ = Trial.objects.get_or_create(
        entered_in_error_at__isnull=True,
        patient=patient,
        trial_date=trial_date,
        method=method,
        drug=drug,
        dose=dose,
        dose_unit=dose_unit,
        scale=scale,
        score_before=score_before,
        score_after=score_after,
        defaults={"notes": notes},
    )
    return trial


@transaction.atomic
def decide_trial(
    *,
    trial: Trial,
    decision: str,
    user: User,
    now: datetime,
    final_outcome: str = "",
    reason: str = "",
) -> Trial:
    """Confirm or override the computed outcome; a successful trial is referred for implant.

    Overriding needs a reason and a different outcome. A final success puts the
    patient on the referral list (status "referred") unless they already have
    an active pump.
    """
    require_role(user, PHYSICIAN, to="decide a trial")
    trial = Trial.objects.select_for_update().select_related("patient").get(pk=trial.pk)
    if trial.decision != TrialDecision.PENDING:
        raise ValidationError(
            f"This trial was already decided ({trial.get_decision_display().lower()})."
        )
    try:
        computed = trial.computed_outcome
    except rules.ScoreError as error:  # scores entered through another door
        raise ValidationError(f"The trial's scores are not valid: {error}.") from None
    reason = reason.strip()
    errors: dict[str, str] = {}
    if decision == TrialDecision.CONFIRMED:
        final = computed
    elif decision == TrialDecision.OVERRIDDEN:
        if final_outcome not in TrialOutcome.values:
            errors["final_outcome"] = "Choose the outcome that replaces the computed one."
        elif final_outcome == computed:
            errors["final_outcome"] = (
                f"The computed outcome is already {computed.label.lower()}; confirm it instead."
            )
        if not reason:
            errors["reason"] = "Say why the computed outcome is overridden."
        final = TrialOutcome(final_outcome) if final_outcome in TrialOutcome.values else computed
    else:
        errors["decision"] = "Confirm or override the computed outcome."
        final = computed
    if errors:
        raise ValidationError(errors)
    trial.decision = decision
    trial.final_outcome = final
    trial.decision_reason = reason
    trial.decided_by = user
    trial.decided_at = now
    trial.referred_for_implant = final == TrialOutcome.SUCCESS
    trial.save(
        update_fields=[
            "decision",
            "final_outcome",
            "decision_reason",
            "decided_by",
            "decided_at",
            "referred_for_implant",
        ]
    )
    patient = Patient.objects.select_for_update().get(pk=trial.patient_id)
    if trial.referred_for_implant and not Pump.objects.active().filter(patient=patient).exists():
        patient.status = PatientStatus.REFERRED
        patient.save(update_fields=["status"])
    return trial


# --- MRI (section 7) ----------------------------------------------------------------


def _check_time(now: datetime) -> time:
    """The next quarter hour, local: the check is due today, from now on."""
    local = timezone.localtime(now)
    minutes = min((local.hour * 60 + local.minute) // 15 * 15 + 15, 23 * 60 + 45)
    return time(minutes // 60, minutes % 60)


@transaction.atomic
def record_mri(
    *, patient: Patient, scanned_on: date, today: date, now: datetime, user: User, notes: str = ""
) -> MriScan:
    """Record an MRI and book the post-MRI pump check, due the same day.

    The check is booked today when the scan is recorded late: it is overdue
    already and must not be booked in the past.
    """
    require_role(user, *CLINICAL_ROLES, to="record an MRI")
    if refusal := event_date_refusal(
        scanned_on, what="the scan date", today=today, birth_date=patient.birth_date
    ):
        raise ValidationError({"scanned_on": refusal})
    Patient.objects.select_for_update().get(pk=patient.pk)  # queue two submissions
    # One scan a day: a resubmitted form finds the scan (and its check) it saved.
    scan, created = MriScan.objects.get_or_create(
        entered_in_error_at__isnull=True,
        patient=patient,
        scanned_on=scanned_on,
        defaults={"notes": notes.strip()},
    )
    pump = Pump.objects.active().filter(patient=patient).first()
    if created and pump is not None:
        book_visit(
            patient=patient,
            pump=pump,
            kind=VisitKind.POST_MRI_CHECK,
            day=today,
            at=_check_time(now),
            today=today,
            notes=f"Interrogate the pump after the MRI of {scanned_on:%d %b %Y}.",
            booked_by=user,
        )
    return scan


@transaction.atomic
def mark_mri_checked(*, scan: MriScan, checked_on: date, today: date) -> MriScan:
    """The pump was interrogated after the scan; the booked check visit is done."""
    scan = MriScan.objects.select_for_update().get(pk=scan.pk)
    if scan.pump_checked_on is not None:
        raise ValidationError(f"The pump check was already recorded on {scan.pump_checked_on}.")
    if refusal := event_date_refusal(checked_on, what="the pump check date", today=today):
        raise ValidationError({"checked_on": refusal})
    if checked_on < scan.scanned_on:
        raise ValidationError({"checked_on": "The pump check comes on or after the scan."})
    scan.pump_checked_on = checked_on
    scan.save(update_fields=["pump_checked_on"])
    for visit in Appointment.objects.select_for_update().filter(
        patient_id=scan.patient_id,
        kind=VisitKind.POST_MRI_CHECK,
        status=VisitStatus.BOOKED,
        scheduled_at__date__gte=scan.scanned_on,
    ):
        visit.status = VisitStatus.DONE
        visit.save(update_fields=["status"])
    return scan


# --- Complications (section 7) --------------------------------------------------------


@transaction.atomic
def record_complication(
    *,
    patient: Patient,
    occurred_on: date,
    kind: str,
    severity: str,
    outcome: str,
    today: date,
    user: User,
    notes: str = "",
) -> Complication:
    """Record a complication, tied to the pump the patient had that day (if any)."""
    require_role(user, *CLINICAL_ROLES, to="record a complication")
    errors: dict[str, str] = {}
    if refusal := event_date_refusal(
        occurred_on, what="the complication date", today=today, birth_date=patient.birth_date
    ):
        errors["occurred_on"] = refusal
    if kind not in ComplicationKind.values:
        errors["kind"] = "Choose the complication."
    if severity not in Severity.values:
        errors["severity"] = "Choose the severity."
    if outcome not in ComplicationOutcome.values:
        errors["outcome"] = "Choose the outcome."
    if errors:
        raise ValidationError(errors)
    Patient.objects.select_for_update().get(pk=patient.pk)  # queue two submissions
    pump = (
        Pump.objects.filter(patient=patient, implant_date__lte=occurred_on)
        .exclude(explant_date__lt=occurred_on)
        .order_by("-implant_date")
        .first()
    )
    # An identical record is a resubmitted form: return the one already saved.
    complication, _ = Complication.objects.get_or_create(
        entered_in_error_at__isnull=True,
        patient=patient,
        occurred_on=occurred_on,
        kind=kind,
        severity=severity,
        outcome=outcome,
        notes=notes.strip(),
        defaults={"pump": pump, "recorded_by": user},
    )
    return complication


# --- Entered in error (section 9) -----------------------------------------------------
# Refills and dose changes are corrected in pumps.services, which recomputes
# the pump's dates in the same transaction; these are the patient's records.


@transaction.atomic
def mark_trial_entered_in_error(*, trial: Trial, user: User, reason: str, now: datetime) -> Trial:
    """A trial in error is no success: it leaves the queue and the referral list.

    A patient referred on this trial alone (no pump yet) goes back to screening.
    """
    trial = Trial.objects.select_for_update().get(pk=trial.pk)
    mark_entered_in_error(trial, user=user, reason=reason, now=now)
    patient = Patient.objects.select_for_update().get(pk=trial.patient_id)
    if (
        patient.status == PatientStatus.REFERRED
        and not Trial.objects.filter(IN_FORCE, patient=patient, referred_for_implant=True).exists()
        and not Pump.objects.active().filter(patient=patient).exists()
    ):
        patient.status = PatientStatus.SCREENING
        patient.save(update_fields=["status"])
    return trial


@transaction.atomic
def restore_trial(*, trial: Trial, user: User, reason: str) -> Trial:
    """The trial counts again; a referred success puts the patient back on the list."""
    trial = Trial.objects.select_for_update().get(pk=trial.pk)
    unmark_entered_in_error(trial, user=user, reason=reason)
    patient = Patient.objects.select_for_update().get(pk=trial.patient_id)
    if (
        trial.referred_for_implant
        and patient.status == PatientStatus.SCREENING
        and not Pump.objects.active().filter(patient=patient).exists()
    ):
        patient.status = PatientStatus.REFERRED
        patient.save(update_fields=["status"])
    return trial


def _post_mri_checks_of(scan: MriScan) -> list[Appointment]:
    """The still-booked post-MRI checks that only this scan asked for.

    A check booked on or after another pending scan in force still serves that scan.
    """
    others = list(
        MriScan.objects.filter(IN_FORCE, patient_id=scan.patient_id, pump_checked_on__isnull=True)
        .exclude(pk=scan.pk)
        .values_list("scanned_on", flat=True)
    )
    visits = Appointment.objects.select_for_update().filter(
        patient_id=scan.patient_id,
        kind=VisitKind.POST_MRI_CHECK,
        status=VisitStatus.BOOKED,
        scheduled_at__date__gte=scan.scanned_on,
    )
    return [
        visit
        for visit in visits
        if not any(day <= timezone.localtime(visit.scheduled_at).date() for day in others)
    ]


@transaction.atomic
def mark_mri_entered_in_error(
    *, scan: MriScan, user: User, reason: str, now: datetime
) -> tuple[MriScan, int]:
    """An MRI in error asks for no pump check: its still-booked check visit is cancelled.

    Returns the scan and the number of check visits cancelled.
    """
    scan = MriScan.objects.select_for_update().get(pk=scan.pk)
    mark_entered_in_error(scan, user=user, reason=reason, now=now)
    cancelled = 0
    for visit in _post_mri_checks_of(scan):
        visit.status = VisitStatus.CANCELLED
        visit._change_reason = f"MRI of {scan.scanned_on} entered in error"  # type: ignore[attr-defined]
        visit.save(update_fields=["status"])
        cancelled += 1
    return scan, cancelled


@transaction.atomic
def restore_mri(*, scan: MriScan, user: User, reason: str) -> MriScan:
    """The MRI counts again. A check cancelled with it is not rebooked: an MRI
    without its pump check shows on the review queue as not booked."""
    scan = MriScan.objects.select_for_update().get(pk=scan.pk)
    if (
        scan.is_entered_in_error
        and MriScan.objects.filter(
            IN_FORCE, patient_id=scan.patient_id, scanned_on=scan.scanned_on
        ).exists()
    ):
        raise ValidationError(
            f"Another MRI on {scan.scanned_on} is recorded: mark that one entered in error first."
        )
    unmark_entered_in_error(scan, user=user, reason=reason)
    return scan


@transaction.atomic
def mark_complication_entered_in_error(
    *, complication: Complication, user: User, reason: str, now: datetime
) -> Complication:
    complication = Complication.objects.select_for_update().get(pk=complication.pk)
    mark_entered_in_error(complication, user=user, reason=reason, now=now)
    return complication


@transaction.atomic
def restore_complication(*, complication: Complication, user: User, reason: str) -> Complication:
    complication = Complication.objects.select_for_update().get(pk=complication.pk)
    unmark_entered_in_error(complication, user=user, reason=reason)
    return complication
