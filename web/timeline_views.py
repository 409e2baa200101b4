"""A patient's timeline page: events in date order and three charts with tables."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from care.timeline import build_timeline
from core.roles import read_only_page, staff_required
from patients.models import Patient


@read_only_page
@staff_required
def timeline_page(request: HttpRequest, pk: int) -> HttpResponse:
    patient = get_object_or_404(Patient, pk=pk)
    timeline = build_timeline(patient)
    return render(
        request,
        "patients/timeline.html",
        {"patient": patient, "timeline": timeline, "charts": timeline.charts},
    )
