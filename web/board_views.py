"""The physician's pages about pumps: the status board, sign-off, explant and implant."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.forms import Form
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone

from care.devices import record_explant, record_implant
from care.registration import pump_with_serial
from core.clock import clinic_today
from core.csv_export import csv_download
from core.roles import (
    clinical_staff_required,
    form_page,
    physician_required,
    read_only_page,
    staff_required,
)
from outreach import selectors as outreach_selectors
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


@read_only_page
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
            # One statement (outreach.selectors.board_counts), whatever the data.
            "outreach": outreach_selectors.board_counts(),
        },
    )


@read_only_page
@staff_required
def board_csv(request: HttpRequest) -> StreamingHttpResponse:
    """The board's filtered, sorted list as CSV, streamed (one query, iterated in chunks)."""
    today = clinic_today()
    filterset, _, _ = _board_filter(request, today)
    pumps = filterset.qs if filterset.is_bound and filterset.is_valid() else filterset.queryset
    lines = board.csv_lines(pumps.iterator(chunk_size=500), today)
    return csv_download(lines, kind="pump-board", day=today)


@form_page
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


@form_page
@clinical_staff_required
def explant(request: HttpRequest, pk: int) -> HttpResponse:
    """Record an explant and, for a replacement, the new pump in the same form.

    A valid form is not saved at once: the page first says what will happen
    (issue 14, "confirm before consequences") with the typed values carried
    in hidden fields, and only the confirming POST writes.
    """
    pump = get_object_or_404(
        Pump.objects.select_related("patient", "model", "latest_fill__drug"), pk=pk
    )
    if not pump.is_active:
        messages.info(request, f"Pump {pump.serial} was explanted on {pump.explant_date}.")
        return redirect(pump.patient)
    today = clinic_today()
    existing = None
    if request.method == "POST":
        form = ExplantForm(request.POST)
        if "change" in request.POST or not form.is_valid():
            # Back from the confirmation to the form (with what was typed), or errors.
            pass
        elif request.POST.get("confirmed") != "yes":
            # Ask only about what the services would accept: a refusal shown
            # after "confirm" would be a second round trip for nothing.
            if (refusal := _dry_run(pump, form, today, request.user)) is None:
                return render(request, "pumps/explant_confirm.html", _explant_effects(pump, form))
            existing = _existing_new_pump(form)
            add_service_errors(form, refusal)
        else:
            try:
                _, new = _record_explant(pump, form, today, request.user)
            except ValidationError as error:
                existing = _existing_new_pump(form)
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
    return render(
        request, "pumps/explant.html", {"pump": pump, "form": form, "existing_pump": existing}
    )


def _record_explant(
    pump: Pump, form: ExplantForm, today: date, user: Any
) -> tuple[Pump, Pump | None]:
    data = form.cleaned_data
    return record_explant(
        pump=pump,
        explant_date=data["explant_date"],
        reason=data["reason"],
        today=today,
        new_pump=form.new_pump() if form.replacing else None,
        user=user,
    )


class _RollBack(Exception):
    """Undoes a dry run's writes."""


def _dry_run(pump: Pump, form: ExplantForm, today: date, user: Any) -> ValidationError | None:
    """The services' refusal of the explant, found by doing it and rolling it back."""
    try:
        with transaction.atomic():
            _record_explant(pump, form, today, user)
            raise _RollBack
    except _RollBack:
        return None
    except ValidationError as error:
        return error


def _existing_new_pump(form: ExplantForm) -> Pump | None:
    """The pump already holding the new serial, to link to it (read before the
    service's errors are added: adding an error drops the field's cleaned value)."""
    serial = form.cleaned_data.get("new_serial") or ""
    return pump_with_serial(serial) if serial and form.replacing else None


def _explant_effects(pump: Pump, form: ExplantForm) -> dict[str, object]:
    """What the explant (or replacement) will do, said before it is done."""
    data = form.cleaned_data
    reason = dict(form.fields["reason"].choices).get(data["reason"], data["reason"])  # type: ignore[attr-defined]
    effects = [
        f"Pump {pump.serial} is recorded as explanted on {data['explant_date']:%d %b %Y} "
        f"({str(reason).lower()}) and leaves the worklist, the due list and the board.",
    ]
    if form.replacing:
        effects += [
            f"The new pump {data['new_serial'].strip()} ({data['new_model']}) is recorded as "
            f"implanted on {data['new_implant_date']:%d %b %Y}; its battery window starts "
            "from that day.",
            "Visits booked for the old pump move to the new one.",
            "The new pump shows as “never filled” until the fill given at surgery is logged "
            "as its first refill.",
        ]
    else:
        effects.append(
            f"{pump.patient.full_name} has no active pump afterwards: no refill is due "
            "until a new implant is recorded."
        )
    return {
        "pump": pump,
        "form": form,
        "effects": effects,
        "replacing": form.replacing,
        # The typed values, sent back unchanged with the confirmation.
        "carried": [
            (name, value)
            for name, value in form.data.items()
            if name not in ("csrfmiddlewaretoken", "confirmed", "save", "change")
        ],
    }


@form_page
@clinical_staff_required
def implant(request: HttpRequest, pk: int) -> HttpResponse:
    """A patient's first pump: a referred patient's, or one a nurse just registered."""
    patient = get_object_or_404(Patient, pk=pk)
    if Pump.objects.active().filter(patient=patient).exists():
        messages.info(request, f"{patient.full_name} already has an active pump.")
        return redirect(patient)
    today = clinic_today()
    form = ImplantForm(request.POST or None, initial={"new_implant_date": today})
    existing = None
    if request.method == "POST" and form.is_valid():
        try:
            pump = record_implant(
                patient=patient, new_pump=form.new_pump(), today=today, user=request.user
            )
        except ValidationError as error:
            # A serial already recorded: link to the pump's patient.
            existing = pump_with_serial(form.cleaned_data["new_serial"])
            add_service_errors(form, error)
        else:
            messages.success(request, f"Pump {pump.serial} implanted for {patient.full_name}.")
            return redirect(patient)
    return render(
        request,
        "pumps/implant.html",
        {
            "patient": patient,
            "form": form,
            "referred": patient.status == PatientStatus.REFERRED,
            "existing_pump": existing,
        },
    )
