"""Logging an attempt to reach a patient (issue 15, item 6).

One page per patient holds the form and the latest attempts; the worklist's
rows and the patient page link to it (a plain form: it works without
JavaScript). The worklist's link carries its own address in ``next``, so
the nurse comes back to the same filters and page.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme

from care import contact
from care.models import ContactAttempt
from core.clock import clinic_today
from core.roles import clinical_staff_required, form_page, signed_in_user
from patients.models import Patient
from pumps.models import Pump
from web.board_views import add_service_errors
from web.care_forms import ContactAttemptForm

RECENT_ATTEMPTS = 10


def safe_next(request: HttpRequest, raw: str | None) -> str:
    """``raw`` if it is an address on this site (never another host), else ""."""
    if raw and url_has_allowed_host_and_scheme(
        raw, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return raw
    return ""


def _pump_of(patient: Patient, raw: object) -> Pump | None:
    """The patient's pump named by ``raw`` (an id), or None: another patient's pump
    or a bad id is not an error, the attempt is then logged for the patient."""
    if isinstance(raw, int):
        return Pump.objects.filter(patient=patient, pk=raw).first()
    if isinstance(raw, str) and raw.isdigit() and len(raw) <= 18:
        return Pump.objects.filter(patient=patient, pk=int(raw)).first()
    return None


def attempts_of(patient_id: int) -> QuerySet[ContactAttempt]:
    """The patient's attempts, newest first."""
    return ContactAttempt.objects.filter(patient_id=patient_id).order_by("-attempted_at", "-pk")


def patient_attempts(patient: Patient, limit: int | None = None) -> list[ContactAttempt]:
    """The patient's attempts, newest first, with who logged them (one query)."""
    attempts = attempts_of(patient.pk).select_related("recorded_by", "entered_in_error_by", "pump")
    return list(attempts[:limit] if limit is not None else attempts)


@form_page
@clinical_staff_required
def contact_attempt(request: HttpRequest, pk: int) -> HttpResponse:
    """Log a call or message to the patient and what came of it (nurses, physicians)."""
    patient = get_object_or_404(Patient, pk=pk)
    today = clinic_today()
    now = timezone.now()
    source = request.POST if request.method == "POST" else request.GET
    back = safe_next(request, source.get("next"))
    pump = _pump_of(patient, source.get("pump"))
    local_now = timezone.localtime(now)
    form = ContactAttemptForm(
        request.POST or None,
        initial={
            "day": today,
            "at": local_now.time().replace(second=0, microsecond=0),
            "pump": pump.pk if pump else None,
            "next": back,
        },
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            attempt = contact.record_contact_attempt(
                patient=patient,
                pump=pump,
                day=data["day"],
                at=data["at"],
                channel=data["channel"],
                outcome=data["outcome"],
                note=data["note"],
                today=today,
                now=now,
                user=signed_in_user(request),
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(
                request,
                f"{attempt.get_channel_display()} to {patient.full_name} logged: "
                f"{attempt.get_outcome_display().lower()}.",
            )
            return redirect(back or f"{patient.get_absolute_url()}#contact-attempts")
    return render(
        request,
        "patients/contact_attempt.html",
        {
            "patient": patient,
            "pump": pump,
            "form": form,
            "back": back or f"{patient.get_absolute_url()}#contact-attempts",
            "attempts": patient_attempts(patient, RECENT_ATTEMPTS),
        },
    )
