"""The patient picker (issue 14): a form field, its pages, and its JSON for search as you type.

Without JavaScript the field shows the chosen patient and a link to the
search page (``patients:find``); the page lists the matches, each a link back
to the form with ``?patient=<id>``, which the form takes as its initial value.
With JavaScript (``static/js/patient-picker.js``) the field's text box searches
as you type (``patients:find_json``) and the arrow keys and Enter choose.
Both read ``care.patient_search``: one query, index ranges.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from django import forms
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.http import url_has_allowed_host_and_scheme

from care.patient_search import chosen_patient, search_patients
from core.roles import read_only_page, staff_required
from patients.models import Patient

FIELD_NAME = re.compile(r"^[a-z_]{1,30}$")


def patient_label(patient: Patient) -> str:
    """How a chosen patient reads in the field: name, record number, birth date."""
    return (
        f"{patient.family_name}, {patient.given_name} · {patient.mrn} · "
        f"born {patient.birth_date:%-d %b %Y}"
    )


def with_choice(next_url: str, field: str, pk: int) -> str:
    """``next_url`` with ``field=pk`` in its query (any earlier choice replaced)."""
    parts = urlsplit(next_url)
    query = QueryDict(parts.query, mutable=True)
    query[field] = str(pk)
    return urlunsplit(("", "", parts.path, query.urlencode(), ""))


def safe_next(request: HttpRequest) -> str:
    """The form page to carry the choice to: a path on this site, or "" (patient pages)."""
    target = request.GET.get("next", "")
    if (
        target.startswith("/")
        and not target.startswith("//")
        and url_has_allowed_host_and_scheme(target, allowed_hosts=None)
    ):
        return target
    return ""


class PatientPickerWidget(forms.Widget):
    """A text box that shows (and, with JavaScript, searches for) the patient, a hidden
    input holding the chosen id, and the link to the search page."""

    template_name = "widgets/patient_picker.html"

    def __init__(
        self, *, next_url: str | Promise = "", attrs: dict[str, Any] | None = None
    ) -> None:
        super().__init__(attrs)
        self.next_url = next_url

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        widget_attrs = context["widget"]["attrs"]
        # The line saying how to search describes the box, with any error crispy names.
        described = [
            f"{widget_attrs.get('id', name)}_how",
            widget_attrs.get("aria-describedby", ""),
        ]
        widget_attrs["aria-describedby"] = " ".join(part for part in described if part)
        patient = chosen_patient(value) if value not in (None, "") else None
        query = {"field": name}
        if self.next_url:
            query["next"] = str(self.next_url)
        context["widget"].update(
            {
                "chosen": patient,
                "chosen_label": patient_label(patient) if patient else "",
                "chosen_id": patient.pk if patient else "",
                "find_url": f"{reverse('patients:find')}?{urlencode(query)}",
                "json_url": reverse("patients:find_json"),
            }
        )
        return context

    def value_from_datadict(self, data: Any, files: Any, name: str) -> Any:
        return data.get(name)


class PatientPickerField(forms.Field):
    """A patient chosen by id through the picker; the id is checked (one query)."""

    default_error_messages = {
        "required": "Choose a patient: search by name, record number, pump serial or birth date.",
        "invalid": "That patient was not found: search again.",
    }

    def __init__(self, *, next_url: str | Promise = "", **kwargs: Any) -> None:
        # (How to search is said under the box by the widget, with or without JavaScript.)
        kwargs.setdefault("widget", PatientPickerWidget(next_url=next_url))
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> Patient | None:
        if value in (None, ""):
            return None
        if isinstance(value, Patient):
            return value
        patient = chosen_patient(value)
        if patient is None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return patient

    def prepare_value(self, value: Any) -> Any:
        return value.pk if isinstance(value, Patient) else value


def _pump_note(patient: Patient) -> str:
    """What the list says about the patient's pump: the one in place, or the serial
    that matched when it was explanted."""
    matched = getattr(patient, "matched_serial", None)
    active = getattr(patient, "active_serial", None)
    if matched and matched != active:
        explanted = getattr(patient, "matched_explant_date", None)
        if explanted is not None:
            return f"pump {matched} explanted {explanted:%-d %b %Y}" + (
                f"; now {active}" if active else ""
            )
    if active:
        return f"pump {active}"
    return "no pump in place"


@read_only_page
@staff_required
def find_patient(request: HttpRequest) -> HttpResponse:
    """The search page: works without JavaScript; each match carries the choice back."""
    text = request.GET.get("q", "")
    field = request.GET.get("field", "patient")
    if not FIELD_NAME.match(field):
        field = "patient"
    next_url = safe_next(request)
    found = search_patients(text) if text.strip() else None
    rows = []
    for patient in found.patients if found else []:
        link = (
            with_choice(next_url, field, patient.pk)
            if next_url
            else reverse("patients:detail", args=[patient.pk])
        )
        rows.append({"patient": patient, "link": link, "pump": _pump_note(patient)})
    return render(
        request,
        "patients/find.html",
        {
            "text": text,
            "found": found,
            "rows": rows,
            "next_url": next_url,
            "field": field,
            "choosing": bool(next_url),
        },
    )


@read_only_page
@staff_required
def find_patient_json(request: HttpRequest) -> HttpResponse:
    """The picker's search as you type: the same matches as the page, as JSON."""
    found = search_patients(request.GET.get("q", ""))
    return JsonResponse(
        {
            "query": found.search.text,
            "problem": found.search.problem,
            "note": found.search.note,
            "more": found.more,
            "patients": [
                {
                    "id": patient.pk,
                    "label": patient_label(patient),
                    "name": f"{patient.family_name}, {patient.given_name}",
                    "mrn": patient.mrn,
                    "birth_date": patient.birth_date.isoformat(),
                    "status": patient.get_status_display(),
                    "pump": _pump_note(patient),
                    "url": reverse("patients:detail", args=[patient.pk]),
                }
                for patient in found.patients
            ],
        }
    )
