"""The physician's review queue, and recording MRIs, pump checks and complications."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone

from care import decisions, review_queue
from care.models import MriScan
from core.clock import clinic_today
from core.roles import form_page, physician_required, read_only_page, signed_in_user, staff_required
from patients.models import Patient
from pumps.models import SchedulePolicy
from web.board_views import add_service_errors
from web.care_forms import ComplicationForm, MriCheckedForm, MriForm


@read_only_page
@staff_required
def review_queue_page(request: HttpRequest) -> HttpResponse:
    """Everything that waits for a physician, one section per kind, on one page."""
    today = clinic_today()
    policy = SchedulePolicy.current()
    return render(
        request,
        "patients/review_queue.html",
        {
            "today": today,
            "discrepancies": list(review_queue.unsigned_discrepancies()),
            "batteries": list(
                review_queue.batteries_to_plan(today=today, lookahead_days=policy.lookahead_days)
            ),
            "unreachable": list(
                review_queue.unreachable_overdue(today=today, lookahead_days=policy.lookahead_days)
            ),
            "trials": list(review_queue.trials_awaiting_decision()),
            "mri_checks": list(review_queue.pending_mri_checks()),
            "reviews": review_queue.reviews_due(today=today),
        },
    )


@form_page
@physician_required
def record_mri(request: HttpRequest, pk: int) -> HttpResponse:
    """Record an MRI; the post-MRI pump check is booked for the same day (section 7)."""
    patient = get_object_or_404(Patient, pk=pk)
    today = clinic_today()
    form = MriForm(request.POST or None, initial={"scanned_on": today})
    if request.method == "POST" and form.is_valid():
        try:
            decisions.record_mri(
                patient=patient,
                scanned_on=form.cleaned_data["scanned_on"],
                notes=form.cleaned_data["notes"],
                today=today,
                now=timezone.now(),
                user=signed_in_user(request),
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, "MRI recorded; the post-MRI pump check is due today.")
            return redirect(patient)
    return render(
        request,
        "patients/record_form.html",
        {"patient": patient, "form": form, "title": "Record an MRI"},
    )


@form_page
@physician_required
def mri_checked(request: HttpRequest, pk: int) -> HttpResponse:
    """The pump was interrogated after the MRI."""
    scan = get_object_or_404(MriScan.objects.select_related("patient"), pk=pk)
    if scan.pump_checked_on is not None:
        messages.info(request, f"The pump check was already recorded on {scan.pump_checked_on}.")
        return redirect("patients:review_queue")
    today = clinic_today()
    form = MriCheckedForm(request.POST or None, initial={"checked_on": today})
    if request.method == "POST" and form.is_valid():
        try:
            decisions.mark_mri_checked(
                scan=scan, checked_on=form.cleaned_data["checked_on"], today=today
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, f"Post-MRI pump check of {scan.patient.full_name} done.")
            return redirect("patients:review_queue")
    return render(
        request,
        "patients/record_form.html",
        {
            "patient": scan.patient,
            "form": form,
            "title": f"Pump check after the MRI of {scan.scanned_on:%d %b %Y}",
        },
    )


@form_page
@physician_required
def record_complication(request: HttpRequest, pk: int) -> HttpResponse:
    """Record a complication of section 7 with its severity and outcome."""
    patient = get_object_or_404(Patient, pk=pk)
    today = clinic_today()
    form = ComplicationForm(request.POST or None, initial={"occurred_on": today})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            complication = decisions.record_complication(
                patient=patient,
                occurred_on=data["occurred_on"],
                kind=data["kind"],
                severity=data["severity"],
                outcome=data["outcome"],
                notes=data["notes"],
                today=today,
                user=signed_in_user(request),
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, f"{complication.get_kind_display()} recorded.")
            return redirect(patient)
    return render(
        request,
        "patients/record_form.html",
        {"patient": patient, "form": form, "title": "Record a complication"},
    )
