"""Mark a clinical record entered in error, or restore it (clinical-rules.md 9).

Nurses and physicians correct the record from the patient page. Each action
opens a confirmation page (a plain form: it works without JavaScript) that
says what will follow and asks why; nothing is deleted. The record is named
by ``?record=<kind>-<id>`` under the patient's URL, so the page is one of the
patient's and the view log names the patient.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone

from care import contact, decisions
from care.choices import VisitKind, VisitStatus
from care.models import Appointment, Complication, ContactAttempt, MriScan, Trial
from core.formatting import plain_decimal
from core.roles import clinical_staff_required, form_page, signed_in_user
from patients.choices import PatientStatus
from patients.models import IN_FORCE, Patient
from pumps import services
from pumps.models import DoseAdjustment, Refill
from web.board_views import add_service_errors


class ReasonForm(forms.Form):
    record = forms.CharField(widget=forms.HiddenInput)
    reason = forms.CharField(
        label="Reason",
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": "Say why: the reason stays in the record."},
        help_text="Kept in the record with your name and the time.",
    )


def _day(day: Any) -> str:
    return f"{day:%-d %b %Y}"


def _latest_fill(pump_id: int, *, excluding: int | None = None) -> Refill | None:
    fills = Refill.objects.filter(IN_FORCE, pump_id=pump_id)
    if excluding is not None:
        fills = fills.exclude(pk=excluding)
    return fills.order_by("-refill_date", "-pk").first()


def _dates_from(fill: Refill | None, *, explanted: bool) -> str:
    if explanted:
        return "The pump is explanted: it is on no list, so no date of it changes what staff see."
    if fill is None:
        return (
            "The pump will have no fill in force: its refill status becomes unknown "
            "until a fill is recorded."
        )
    return f"The pump's dates will be recomputed from the fill of {_day(fill.refill_date)}."


# --- What each action does, in words -------------------------------------------------


def _refill_mark(refill: Refill) -> list[str]:
    lines = [
        _dates_from(
            _latest_fill(refill.pump_id, excluding=refill.pk), explanted=not refill.pump.is_active
        )
    ]
    if refill.discrepancy and refill.discrepancy_signed_off_at is None:
        lines.append("Its residual-volume flag, awaiting a physician, goes with it.")
    following = (
        Refill.objects.filter(IN_FORCE, pump_id=refill.pump_id, refill_date__gt=refill.refill_date)
        .order_by("refill_date")
        .first()
    )
    if following is not None:
        lines.append(
            f"The residual check of the next refill ({_day(following.refill_date)}) is made "
            "again against the fill before it (a flag already signed off stays as it is)."
        )
    if refill.eri:
        lines.append("The ERI it recorded goes with it, unless another visit recorded ERI too.")
    return lines


def _refill_restore(refill: Refill) -> list[str]:
    latest = _latest_fill(refill.pump_id)
    if latest is None or (latest.refill_date, latest.pk) < (refill.refill_date, refill.pk):
        latest = refill
    lines = [_dates_from(latest, explanted=not refill.pump.is_active)]
    if refill.discrepancy and refill.discrepancy_signed_off_at is None:
        lines.append("Its residual-volume flag comes back and waits for a physician.")
    return lines


def _dose_change_mark(change: DoseAdjustment) -> list[str]:
    fill = _latest_fill(change.pump_id)
    return [
        _dates_from(fill, explanted=not change.pump.is_active).rstrip(".")
        + ", without this dose change."
    ]


def _dose_change_restore(change: DoseAdjustment) -> list[str]:
    fill = _latest_fill(change.pump_id)
    return [
        _dates_from(fill, explanted=not change.pump.is_active).rstrip(".")
        + ", with this dose change from its day."
    ]


def _trial_mark(trial: Trial) -> list[str]:
    lines = [
        "A trial in error is not a success: it leaves the trials awaiting a decision "
        "and the referral list."
    ]
    if trial.referred_for_implant and trial.patient.status == PatientStatus.REFERRED:
        lines.append(
            "If no other trial referred the patient and no pump is implanted, the patient "
            "goes back to screening."
        )
    return lines


def _trial_restore(trial: Trial) -> list[str]:
    if trial.referred_for_implant:
        return ["The trial counts again: the patient is back on the referral list until implanted."]
    return ["The trial counts again."]


def _booked_checks(scan: MriScan) -> QuerySet[Appointment]:
    return Appointment.objects.filter(
        patient_id=scan.patient_id,
        kind=VisitKind.POST_MRI_CHECK,
        status=VisitStatus.BOOKED,
        scheduled_at__date__gte=scan.scanned_on,
    ).order_by("scheduled_at")


def _mri_mark(scan: MriScan) -> list[str]:
    lines = ["An MRI in error asks for no post-MRI pump check: it leaves the review queue."]
    checks = [timezone.localtime(visit.scheduled_at) for visit in _booked_checks(scan)]
    if checks:
        lines.append(
            "The post-MRI pump check still booked for "
            + ", ".join(f"{when:%-d %b %Y %H:%M}" for when in checks)
            + " will be cancelled (unless another MRI still waits for it)."
        )
    else:
        lines.append("No post-MRI pump check is booked for it.")
    return lines


def _mri_restore(scan: MriScan) -> list[str]:
    if scan.pump_checked_on is None:
        return [
            "The MRI counts again and waits for its pump check on the review queue. A check "
            "visit cancelled with it is not booked again: book one if the pump still needs it."
        ]
    return ["The MRI counts again."]


def _complication_mark(complication: Complication) -> list[str]:
    return ["It stays in the record, struck through, and is counted nowhere."]


def _complication_restore(complication: Complication) -> list[str]:
    return ["The complication counts again."]


def _describe_attempt(attempt: ContactAttempt) -> str:
    at = timezone.localtime(attempt.attempted_at)
    return (
        f"{attempt.get_channel_display()} on {at:%-d %b %Y %H:%M}: "
        f"{attempt.get_outcome_display().lower()}"
    )


def _attempt_mark(attempt: ContactAttempt) -> list[str]:
    return [
        "It stays in the record, struck through: it is no longer the worklist's last attempt "
        "and no longer counts among the failed attempts that raise the patient to the "
        "physician's review queue."
    ]


def _attempt_restore(attempt: ContactAttempt) -> list[str]:
    return ["The attempt counts again on the worklist and the review queue."]


# --- The kinds --------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    code: str
    label: str  # "refill", in a sentence
    anchor: str  # the patient page's section
    records: Callable[[Patient], QuerySet[Any]]
    describe: Callable[[Any], str]
    mark: Callable[[Any, User, str, datetime], Any]
    restore: Callable[[Any, User, str], Any]
    mark_effects: Callable[[Any], list[str]]
    restore_effects: Callable[[Any], list[str]]


def _describe_refill(refill: Refill) -> str:
    return (
        f"Refill of {refill.pump.serial} on {_day(refill.refill_date)}: {refill.drug.name} "
        f"{plain_decimal(refill.concentration)} {refill.concentration_unit} at "
        f"{plain_decimal(refill.daily_dose)} {refill.dose_unit}, filled to "
        f"{plain_decimal(refill.volume_ml)} mL"
    )


def _describe_dose_change(change: DoseAdjustment) -> str:
    return (
        f"Dose change of {change.pump.serial} on {_day(change.adjusted_on)} to "
        f"{plain_decimal(change.daily_dose)} {change.dose_unit}"
    )


def _describe_trial(trial: Trial) -> str:
    return (
        f"Screening trial on {_day(trial.trial_date)}: {trial.drug.name} "
        f"{plain_decimal(trial.dose)} {trial.dose_unit}, {trial.get_scale_display()} "
        f"{trial.score_before} → {trial.score_after} ({trial.get_decision_display().lower()})"
    )


def _describe_mri(scan: MriScan) -> str:
    checked = (
        f"pump checked {_day(scan.pump_checked_on)}"
        if scan.pump_checked_on
        else "pump check pending"
    )
    return f"MRI on {_day(scan.scanned_on)} ({checked})"


def _describe_complication(complication: Complication) -> str:
    return (
        f"{complication.get_kind_display()} on {_day(complication.occurred_on)} "
        f"({complication.get_severity_display().lower()}, "
        f"{complication.get_outcome_display().lower()})"
    )


KINDS: dict[str, Kind] = {
    kind.code: kind
    for kind in [
        Kind(
            "refill",
            "refill",
            "refill-history",
            lambda patient: Refill.objects.filter(pump__patient=patient).select_related(
                "pump", "drug"
            ),
            _describe_refill,
            lambda record, user, reason, now: services.mark_refill_entered_in_error(
                refill=record, user=user, reason=reason, now=now
            ),
            lambda record, user, reason: services.restore_refill(
                refill=record, user=user, reason=reason
            ),
            _refill_mark,
            _refill_restore,
        ),
        Kind(
            "dose_change",
            "dose change",
            "dose-changes",
            lambda patient: DoseAdjustment.objects.filter(pump__patient=patient).select_related(
                "pump"
            ),
            _describe_dose_change,
            lambda record, user, reason, now: services.mark_dose_change_entered_in_error(
                adjustment=record, user=user, reason=reason, now=now
            ),
            lambda record, user, reason: services.restore_dose_change(
                adjustment=record, user=user, reason=reason
            ),
            _dose_change_mark,
            _dose_change_restore,
        ),
        Kind(
            "trial",
            "trial",
            "trials",
            lambda patient: Trial.objects.filter(patient=patient).select_related("drug", "patient"),
            _describe_trial,
            lambda record, user, reason, now: decisions.mark_trial_entered_in_error(
                trial=record, user=user, reason=reason, now=now
            ),
            lambda record, user, reason: decisions.restore_trial(
                trial=record, user=user, reason=reason
            ),
            _trial_mark,
            _trial_restore,
        ),
        Kind(
            "mri",
            "MRI",
            "mri-scans",
            lambda patient: MriScan.objects.filter(patient=patient),
            _describe_mri,
            lambda record, user, reason, now: decisions.mark_mri_entered_in_error(
                scan=record, user=user, reason=reason, now=now
            ),
            lambda record, user, reason: decisions.restore_mri(
                scan=record, user=user, reason=reason
            ),
            _mri_mark,
            _mri_restore,
        ),
        Kind(
            "complication",
            "complication",
            "complications",
            lambda patient: Complication.objects.filter(patient=patient),
            _describe_complication,
            lambda record, user, reason, now: decisions.mark_complication_entered_in_error(
                complication=record, user=user, reason=reason, now=now
            ),
            lambda record, user, reason: decisions.restore_complication(
                complication=record, user=user, reason=reason
            ),
            _complication_mark,
            _complication_restore,
        ),
        Kind(
            "contact",
            "contact attempt",
            "contact-attempts",
            lambda patient: ContactAttempt.objects.filter(patient=patient),
            _describe_attempt,
            lambda record, user, reason, now: contact.mark_attempt_entered_in_error(
                attempt=record, user=user, reason=reason, now=now
            ),
            lambda record, user, reason: contact.restore_attempt(
                attempt=record, user=user, reason=reason
            ),
            _attempt_mark,
            _attempt_restore,
        ),
    ]
}


def _find(request: HttpRequest, patient: Patient) -> tuple[Kind, Any, str]:
    """The patient's record named by ``record``; anything else is a 404."""
    key = (request.POST.get("record") if request.method == "POST" else None) or request.GET.get(
        "record", ""
    )
    code, _, raw_id = key.rpartition("-")
    kind = KINDS.get(code)
    if kind is None or not raw_id.isdigit() or len(raw_id) > 18:
        raise Http404("No such record.")
    return kind, get_object_or_404(kind.records(patient), pk=int(raw_id)), key


def _correct(request: HttpRequest, pk: int, *, restoring: bool) -> HttpResponse:
    patient = get_object_or_404(Patient, pk=pk)
    kind, record, key = _find(request, patient)
    back = f"{patient.get_absolute_url()}#{kind.anchor}"
    if record.is_entered_in_error != restoring:
        state = "is not marked" if restoring else "is already marked"
        messages.info(request, f"This {kind.label} {state} entered in error.")
        return redirect(back)
    form = ReasonForm(request.POST or None, initial={"record": key})
    if request.method == "POST" and form.is_valid():
        user, reason = signed_in_user(request), form.cleaned_data["reason"]
        try:
            if restoring:
                kind.restore(record, user, reason)
            else:
                kind.mark(record, user, reason, timezone.now())
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            done = "restored: it counts again" if restoring else "marked entered in error"
            messages.success(request, f"{kind.describe(record)}: {done}.")
            return redirect(back)
    effects = kind.restore_effects(record) if restoring else kind.mark_effects(record)
    return render(
        request,
        "patients/entered_in_error.html",
        {
            "patient": patient,
            "kind": kind,
            "record": record,
            "description": kind.describe(record),
            "effects": effects,
            "restoring": restoring,
            "form": form,
            "back": back,
        },
    )


@form_page
@clinical_staff_required
def mark_entered_in_error(request: HttpRequest, pk: int) -> HttpResponse:
    """Confirm, with a reason, that a record was entered in error (nurses and physicians)."""
    return _correct(request, pk, restoring=False)


@form_page
@clinical_staff_required
def restore_record(request: HttpRequest, pk: int) -> HttpResponse:
    """Take back an entered-in-error mark, with a reason."""
    return _correct(request, pk, restoring=True)
