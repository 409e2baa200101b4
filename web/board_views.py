"""The physician's pages about pumps: the status board, sign-off, explant and implant."""

from __future__ import annotations

from datetime import date

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.forms import Form
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone

from care.devices import record_explant, record_implant
from core.clock import clinic_today
from core.csv_export import csv_download
from core.roles import physician_required, staff_required
from patients.choices import PatientStatus
from patients.models import Patient
from pumps import board, services
from pumps.models import Pump, Refill, SchedulePolicy
from web.care_forms import SignOffForm
from web.device_forms import ExplantForm, ImplantForm
from web.filters import PumpBoardFilter

BOARD_PAGE_SIZE = 50


def add_service_errors(form: Form, error: ValidationError) -> None:
    """Put a service's refusal on the form's fields (or on the form as a whole)."""
    if hasattr(error, "error_dict"):
        for field, errors in error.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error.messages)


def _board_filter(request: HttpRequest, today: date) -> tuple[PumpBoardFilter, str, bool]:
    policy = SchedulePolicy.current()
    pumps = board.board_pumps(today=today, lookahead_days=policy.lookahead_days)
    key, descending = board.parse_sort(request.GET.get("sort", ""))
    filterset = PumpBoardFilter(
        request.GET or None, queryset=pumps.order_by(*board.ordering(key, descending))
    )
    return filterset, key, descending


@staff_required
def board_page(request: HttpRequest) -> HttpResponse:
    """Every active pump with its statuses, filtered, sorted and paginated."""
    today = clinic_today()
    filterset, key, descending = _board_filter(request, today)
    # Invalid filter values are shown as field errors and filter nothing.
    pumps = filterset.qs if filterset.is_bound and filterset.is_valid() else filterset.queryset
    page = Paginator(pumps, BOARD_PAGE_SIZE).get_page(request.GET.get("page"))
    for pump in page.object_list:
        pump.days_since_implant = (today - pump.implant_date).days  # type: ignore[attr-defined]
    params = request.GET.copy()
    params.pop("page", None)
    params.pop("sort", None)
    columns = [
        {
            "key": name,
            "label": label,
            "title": board.SORT_TITLES.get(name, label.lower()),
            "active": name == key,
            "descending": descending,
            "sort": f"-{name}" if name == key and not descending else name,
        }
        for name, (label, _) in board.SORT_KEYS.items()
    ]
    return render(
        request,
        "pumps/board.html",
        {
            "today": today,
            "filter": filterset,
            "page": page,
            "columns": {column["key"]: column for column in columns},
            "filter_query": params.urlencode(),
            "sort": f"-{key}" if descending else key,
        },
    )


@staff_required
def board_csv(request: HttpRequest) -> StreamingHttpResponse:
    """The board's filtered, sorted list as CSV, streamed (one query, iterated in chunks)."""
    today = clinic_today()
    filterset, _, _ = _board_filter(request, today)
    pumps = filterset.qs if filterset.is_bound and filterset.is_valid() else filterset.queryset
    lines = board.csv_lines(pumps.iterator(chunk_size=500), today)
    return csv_download(lines, kind="pump-board", day=today)


@physician_required
def sign_off(request: HttpRequest, pk: int) -> HttpResponse:
    """A physician signs off a residual-volume discrepancy with a comment (section 4)."""
    refill = get_object_or_404(
        Refill.objects.select_related(
            "pump__patient", "pump__model", "drug", "recorded_by", "discrepancy_signed_off_by"
        ),
        pk=pk,
        discrepancy=True,
    )
    if refill.discrepancy_signed_off_at is not None:
        # A second click on the same form: the first one already signed it off.
        messages.info(request, "This discrepancy is already signed off.")
        return redirect("patients:review_queue")
    form = SignOffForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.sign_off_discrepancy(
                refill=refill,
                user=request.user,
                comment=form.cleaned_data["comment"],
                now=timezone.now(),
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(
                request,
                f"Discrepancy of {refill.pump.serial} on {refill.refill_date:%d %b %Y} signed off.",
            )
            return redirect("patients:review_queue")
    return render(request, "pumps/sign_off.html", {"refill": refill, "form": form})


@physician_required
def explant(request: HttpRequest, pk: int) -> HttpResponse:
    """Record an explant and, for a replacement, the new pump in the same form."""
    pump = get_object_or_404(
        Pump.objects.select_related("patient", "model", "latest_fill__drug"), pk=pk
    )
    if not pump.is_active:
        messages.info(request, f"Pump {pump.serial} was explanted on {pump.explant_date}.")
        return redirect(pump.patient)
    today = clinic_today()
    if request.method == "POST":
        form = ExplantForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                _, new = record_explant(
                    pump=pump,
                    explant_date=data["explant_date"],
                    reason=data["reason"],
                    today=today,
                    new_pump=form.new_pump() if form.replacing else None,
                )
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                if new is not None:
                    messages.success(
                        request,
                        f"Pump {pump.serial} explanted and replaced by {new.serial}. "
                        "Log the fill given at surgery as the new pump's first refill.",
                    )
                else:
                    messages.success(request, f"Pump {pump.serial} explanted.")
                return redirect(pump.patient)
    else:
        form = ExplantForm(
            initial={
                "explant_date": today,
                "new_implant_date": today,
                "new_model": pump.model.code,
                "replace": pump.eri_reported_on is not None,
            }
        )
    return render(request, "pumps/explant.html", {"pump": pump, "form": form})


@physician_required
def implant(request: HttpRequest, pk: int) -> HttpResponse:
    """A referred patient's first pump."""
    patient = get_object_or_404(Patient, pk=pk)
    if Pump.objects.active().filter(patient=patient).exists():
        messages.info(request, f"{patient.full_name} already has an active pump.")
        return redirect(patient)
    today = clinic_today()
    form = ImplantForm(request.POST or None, initial={"new_implant_date": today})
    if request.method == "POST" and form.is_valid():
        try:
            pump = record_implant(patient=patient, new_pump=form.new_pump(), today=today)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, f"Pump {pump.serial} implanted for {patient.full_name}.")
            return redirect(patient)
    return render(
        request,
        "pumps/implant.html",
        {"patient": patient, "form": form, "referred": patient.status == PatientStatus.REFERRED},
    )
