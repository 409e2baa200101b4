"""Screening trials: record one, decide one, and the referral list (section 6)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Exists, OuterRef
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone

from care import decisions, review_queue, rules
from care.choices import TrialDecision
from care.models import Trial
from core.clock import clinic_today
from core.roles import (
    PHYSICIAN,
    form_page,
    has_role,
    physician_required,
    signed_in_user,
    staff_required,
)
from patients.models import IN_FORCE
from pumps.models import Pump
from web.board_views import add_service_errors
from web.care_forms import TrialDecisionForm, TrialForm


def referred_not_implanted():  # type: ignore[no-untyped-def]
    """Trials referred for implant whose patient has no active pump yet.

    A trial entered in error is no success (clinical-rules.md 9): it refers nobody.
    """
    return (
        Trial.objects.filter(IN_FORCE, referred_for_implant=True)
        .exclude(Exists(Pump.objects.active().filter(patient=OuterRef("patient"))))
        .select_related("patient", "drug", "decided_by")
        .order_by("decided_at", "pk")
    )


@form_page
@staff_required
def trials_page(request: HttpRequest) -> HttpResponse:
    """Record a trial (physicians), trials awaiting a decision, and the referral list."""
    today = clinic_today()
    form = None
    if has_role(request.user, PHYSICIAN):
        initial = {"trial_date": today, "patient": request.GET.get("patient") or None}
        form = TrialForm(request.POST or None, initial=initial)
    if request.method == "POST":
        if form is None:
            raise PermissionDenied("Only a physician records trials.")
        if form.is_valid():
            data = form.cleaned_data
            try:
                trial = decisions.record_trial(
                    patient=data["patient"],
                    trial_date=data["trial_date"],
                    method=data["method"],
                    drug=data["drug"],
                    dose=data["dose"],
                    dose_unit=data["dose_unit"],
                    scale=data["scale"],
                    score_before=data["score_before"],
                    score_after=data["score_after"],
                    notes=data["notes"],
                    today=today,
                )
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                messages.success(
                    request,
                    f"Trial recorded for {trial.patient.full_name}: computed "
                    f"{trial.computed_outcome.label.lower()}, awaiting your decision.",
                )
                return redirect("patients:decide_trial", pk=trial.pk)
    return render(
        request,
        "patients/trials.html",
        {
            "form": form,
            "pending": list(review_queue.trials_awaiting_decision()),
            "referred": list(referred_not_implanted()),
        },
    )


@form_page
@physician_required
def decide_trial(request: HttpRequest, pk: int) -> HttpResponse:
    """Confirm or override a trial's computed outcome; a success is referred for implant."""
    trial = get_object_or_404(Trial.objects.select_related("patient", "drug"), pk=pk)
    if trial.is_entered_in_error:
        messages.info(request, "This trial is marked entered in error: there is nothing to decide.")
        return redirect("patients:trials")
    if trial.decision != TrialDecision.PENDING:
        messages.info(request, "This trial was already decided.")
        return redirect("patients:trials")
    form = TrialDecisionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            trial = decisions.decide_trial(
                trial=trial,
                decision=data["decision"],
                final_outcome=data["final_outcome"],
                reason=data["reason"],
                user=signed_in_user(request),
                now=timezone.now(),
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            referred = " and referred for implant" if trial.referred_for_implant else ""
            messages.success(
                request,
                f"Trial of {trial.patient.full_name}: {trial.get_final_outcome_display().lower()}"
                f"{referred}.",
            )
            return redirect("patients:trials")
    try:
        computed = trial.computed_outcome
    except rules.ScoreError:
        computed = None  # a score entered through another door; shown as such
    return render(
        request,
        "patients/decide_trial.html",
        {"trial": trial, "form": form, "computed": computed, "patient": trial.patient},
    )
