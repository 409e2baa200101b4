"""Registering a patient from the staff pages, without the admin (issue 14)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from care.registration import patient_with_mrn, register_patient
from core.clock import clinic_today
from core.roles import clinical_staff_required, form_page
from web.board_views import add_service_errors
from web.registration_forms import RegisterPatientForm


@form_page
@clinical_staff_required
def register(request: HttpRequest) -> HttpResponse:
    """A nurse or physician registers a patient; the implant is the next page."""
    form = RegisterPatientForm(request.POST or None)
    existing = None
    if request.method == "POST" and form.is_valid():
        new = form.new_patient()
        try:
            patient = register_patient(new=new, today=clinic_today(), user=request.user)
        except ValidationError as error:
            add_service_errors(form, error)
            # A record number already registered: link to that record, so
            # staff open it rather than register the patient twice.
            existing = patient_with_mrn(new.mrn)
        else:
            messages.success(
                request,
                f"{patient.full_name} ({patient.mrn}) registered. Record the implant "
                "when the pump is in.",
            )
            return redirect("pumps:implant", patient.pk)
    return render(request, "patients/register.html", {"form": form, "existing": existing})
