"""The audit log as CSV, for a date range and, if asked, one patient (administrators)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, datetime, time, timedelta
from typing import Any

from django import forms
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponseBase
from django.shortcuts import render
from django.utils import timezone

from audit.models import AuditEntry
from core.bounds import EARLIEST_DATE, LATEST_DATE
from core.clock import clinic_today
from core.csv_export import csv_download, csv_lines
from core.roles import administrator_required, read_only_page
from patients.models import Patient

CSV_HEADER = (
    "at",
    "username",
    "user_id",
    "method",
    "status",
    "what",
    "page",
    "patient_id",
    "patient_mrn",
    "path",
    "from",
)


DATE = {"type": "date", "class": "form-control"}


class ExportForm(forms.Form):
    start = forms.DateField(label="From", widget=forms.DateInput(attrs=DATE))
    end = forms.DateField(
        label="To",
        widget=forms.DateInput(attrs=DATE),
        help_text="Both days included, in the clinic's time zone.",
    )
    mrn = forms.CharField(
        label="Patient record number",
        required=False,
        max_length=32,
        widget=forms.TextInput(attrs={"class": "form-control"}),
        help_text="Leave empty for every entry. With one, only the entries that name "
        "this patient: lists and exports of many patients name none.",
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for name in ("start", "end"):
            day = cleaned.get(name)
            if day is not None and not EARLIEST_DATE <= day <= LATEST_DATE:
                self.add_error(name, f"Choose a day from {EARLIEST_DATE} to {LATEST_DATE}.")
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end and start > end and not self.errors:
            self.add_error("end", "The last day comes on or after the first.")
        cleaned["mrn"] = (cleaned.get("mrn") or "").strip()
        return cleaned


def _local_midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def entries(start: date, end: date, mrn: str = "") -> QuerySet[AuditEntry]:
    """The entries from ``start`` to ``end`` (local days, both included), oldest first.

    Only those written before now: the file streams after the view log has
    recorded this very export, which it would otherwise list too.
    """
    found = AuditEntry.objects.filter(
        at__gte=_local_midnight(start),
        at__lt=_local_midnight(end + timedelta(days=1)),
        at__lte=timezone.now(),
    )
    if mrn:
        # The record number as it was when the entry was written, or the
        # patient it names now (a record number corrected since).
        ids = Patient.objects.filter(mrn=mrn).values_list("pk", flat=True)
        found = found.filter(Q(patient_mrn=mrn) | Q(patient_id__in=list(ids)))
    return found.order_by("at", "pk")


def csv_rows(rows: Iterable[AuditEntry]) -> Iterator[list[object]]:
    """One row per entry; core.csv_export writes the cells (a cell a spreadsheet
    would run starts with ')."""
    for entry in rows:
        yield [
            timezone.localtime(entry.at).isoformat(),
            entry.username,
            entry.user_id,
            entry.method,
            entry.status,
            entry.what,
            entry.view_name,
            entry.patient_id,
            entry.patient_mrn,
            entry.path,
            entry.ip_address,
        ]


@read_only_page
@administrator_required
def export(request: HttpRequest) -> HttpResponseBase:
    """The form (GET without a range), or the CSV of the range asked for.

    A GET: exporting changes nothing, and the view log records the request
    with its query (the range and the patient asked for).
    """
    today = clinic_today()
    if "start" not in request.GET:
        form = ExportForm(initial={"start": today - timedelta(days=30), "end": today})
        return render(request, "audit/export.html", {"form": form})
    form = ExportForm(request.GET)
    if not form.is_valid():
        return render(request, "audit/export.html", {"form": form}, status=400)
    start, end, mrn = (form.cleaned_data[name] for name in ("start", "end", "mrn"))
    rows = entries(start, end, mrn).iterator(chunk_size=1000)
    # Named by its last day, never by the patient asked for (core/csv_export.py).
    return csv_download(csv_lines(CSV_HEADER, csv_rows(rows)), kind="audit-log", day=end)
