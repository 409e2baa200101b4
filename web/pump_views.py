"""Pages and endpoints for pumps: the worklist, logging a refill, the due list."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils import timezone

from care.choices import ContactChannel, ContactOutcome
from care.worklist import STATUS_FILTERS, RankedWorklist, WorklistFilters
from care.worklist_pages import worklist_page as worklist_page_of
from core.clock import clinic_today
from core.compiled import read, read_list
from core.formatting import plain_decimal
from core.roles import (
    CLINICAL_ROLES,
    clinical_staff_required,
    form_page,
    has_role,
    read_only_page,
    staff_required,
)
from patients.models import IN_FORCE
from pumps import refill_entry
from pumps.due_list import build_due_list
from pumps.models import Drug, Pump, PumpModel, Refill, SchedulePolicy
from web.pump_forms import RefillForm
from web.worklist_rows import worklist_rows

WORKLIST_PAGE_SIZE = 25


@read_only_page
@staff_required
def due_list_json(request: HttpRequest) -> HttpResponse:
    """The due list of docs/interfaces.md as JSON; ?as_of=YYYY-MM-DD&flagged=1."""
    as_of = request.GET.get("as_of", "").strip()
    if as_of:
        try:
            today = date.fromisoformat(as_of)
        except ValueError:
            return JsonResponse(
                {"error": f"as_of: {as_of[:40]!r} is not a date in the form YYYY-MM-DD"},
                status=400,
            )
    else:
        today = clinic_today()
    flagged = request.GET.get("flagged", "").strip().lower() in {"1", "true", "yes"}
    lookahead = SchedulePolicy.current().lookahead_days
    return JsonResponse(
        build_due_list(today=today, lookahead_days=lookahead, flagged_only=flagged), safe=False
    )


def contact_age(at: datetime, now: datetime) -> str:
    """How long ago an attempt was made, in words a nurse reads at a glance."""
    minutes = max(0, int((now - at).total_seconds() // 60))
    if minutes < 60:
        return "just now" if minutes < 1 else f"{minutes} min ago"
    hours = minutes // 60
    if hours < 24:
        return f"{hours} h ago"
    days = (timezone.localtime(now).date() - timezone.localtime(at).date()).days
    return "yesterday" if days == 1 else f"{days} days ago"


def _label_last_contact(pump: Pump, now: datetime) -> None:
    """The row's last attempt in words (the annotations hold the raw values)."""
    at = pump.last_contact_at  # type: ignore[attr-defined]
    if at is None:
        return
    pump.last_contact_outcome_label = ContactOutcome(pump.last_contact_outcome).label  # type: ignore[attr-defined]
    pump.last_contact_channel_label = ContactChannel(pump.last_contact_channel).label  # type: ignore[attr-defined]
    pump.last_contact_age = contact_age(at, now)  # type: ignore[attr-defined]


@read_only_page
@staff_required
def worklist_page(request: HttpRequest) -> HttpResponse:
    """The nurse's home page: every active pump that needs action, most urgent first."""
    today = clinic_today()
    policy = SchedulePolicy.current()
    filters = WorklistFilters(
        status=request.GET.get("status", ""),
        drug=request.GET.get("drug", ""),
        model=request.GET.get("model", ""),
        booked=request.GET.get("booked", ""),
        query=request.GET.get("q", "")[:100],
    )
    pumps = RankedWorklist(today=today, lookahead_days=policy.lookahead_days, filters=filters)
    page = worklist_page_of(pumps, request.GET, size=WORKLIST_PAGE_SIZE)
    now = timezone.now()
    for pump in page.object_list:
        booking = pump.next_booking  # type: ignore[attr-defined]
        booked_on = timezone.localtime(booking).date() if booking else None
        pump.booked_after_deadline = bool(  # type: ignore[attr-defined]
            booked_on and pump.refill_deadline and booked_on > pump.refill_deadline
        )
        pump.booked_after_battery = pump.battery_stops_before(booked_on)  # type: ignore[attr-defined]
        _label_last_contact(pump, now)
    counts = pumps.status_counts()  # read with the page's counts, in the same query
    # The row's "Log call" link comes back here, to the same filters and page.
    here = request.get_full_path()
    return render(
        request,
        "pumps/worklist.html",
        {
            "today": today,
            "page": page,
            "filters": filters,
            "status_cards": [
                (key, label, counts[key]) for key, (label, _) in STATUS_FILTERS.items()
            ],
            "status_filters": [(key, label) for key, (label, _) in STATUS_FILTERS.items()],
            "rows": worklist_rows(
                page.object_list, is_clinical=has_role(request.user, *CLINICAL_ROLES), here=here
            ),
            "drugs": read_list(_drug_choices),
            "models": read_list(_model_choices),
        },
    )


# The worklist's two filter lists, read fresh on every page by statements compiled
# once per process (core.compiled: building and compiling them was about 1 ms a page).
def _drug_choices() -> QuerySet[Drug]:
    return Drug.objects.values_list("code", "name")  # type: ignore[return-value]


def _model_choices() -> QuerySet[PumpModel]:
    return PumpModel.objects.values_list(  # type: ignore[return-value]
        "code", "manufacturer", "name", "reservoir_ml"
    )


def _initial_from_latest_fill(pump: Pump, today: date) -> dict[str, object]:
    initial: dict[str, object] = {"refill_date": today, "submission_token": uuid.uuid4()}
    fill = pump.latest_fill
    if fill is None:
        # A replacement pump's first fill usually continues the old pump's drug
        # and dose: offer them, for the nurse to check (the volume stays empty).
        fill = (
            Refill.objects.filter(IN_FORCE, pump__patient_id=pump.patient_id)
            .select_related("drug")
            .order_by("-refill_date", "-pk")
            .first()
        )
    if fill is not None:
        initial.update(
            drug=fill.drug.code,
            concentration=plain_decimal(fill.concentration),
            concentration_unit=fill.concentration_unit,
            daily_dose=plain_decimal(fill.daily_dose),
            dose_unit=fill.dose_unit,
        )
        if fill.bolus_dose:
            initial.update(
                bolus_dose=plain_decimal(fill.bolus_dose), boluses_per_day=fill.boluses_per_day
            )
    return initial


@form_page
@clinical_staff_required
def log_refill(request: HttpRequest, pk: int) -> HttpResponse:
    """Log a refill visit. Warnings must be confirmed; a resubmitted form saves once.

    The form converts; ``pumps.refill_entry`` decides (a submitted form's pump
    is read there, once, under its row lock).
    """
    today = clinic_today()
    form = RefillForm(request.POST) if request.method == "POST" else None
    if form is None or not form.is_valid():
        pump = _pump_or_404(pk)
        if not pump.is_active:
            return _explanted_pump_page(request, pump)
        form = form or RefillForm(initial=_initial_from_latest_fill(pump, today))
        return _refill_page(request, form, refill_entry.open_refill(pump, today=today))
    data = form.cleaned_data
    try:
        outcome = refill_entry.submit_refill(
            pump_id=pk,
            fill=form.as_fill(),
            token=data["submission_token"],
            confirmed_digest=form.confirmed_digest(),
            user=request.user,
            today=today,
            policy=SchedulePolicy.current(),  # read once for the warnings and the save
            pain_score=data["pain_score"],
            ashworth_score=data["ashworth_score"],
            notes=data["notes"],
        )
    except Pump.DoesNotExist:
        raise Http404("No such pump.") from None
    if outcome.stale_pump:
        return _explanted_pump_page(request, outcome.pump)
    if outcome.saved is not None:
        return redirect("pumps:refill_saved", pk=outcome.saved.pk)
    for name, messages in outcome.refusals.items():
        form.add_error(name if name in form.fields else None, messages)
    if outcome.token_spent:
        form.replace_token(str(uuid.uuid4()))
    if outcome.warnings_to_confirm:
        form.ask_for_confirmation(outcome.warnings_to_confirm)
    return _refill_page(request, form, outcome.entry, warnings=outcome.warnings_to_confirm)


def _pump_or_404(pk: int) -> Pump:
    """The pump with what the form shows: patient, model, latest fill and its drug
    (its statement compiled once per process: core.compiled)."""
    found: list[Pump] = read(_pump_for_form, pk)
    if not found:
        raise Http404("No such pump.")
    return found[0]


def _pump_for_form(pk: int) -> QuerySet[Pump]:
    return Pump.objects.with_list_relations().filter(pk=pk)


def _refill_page(
    request: HttpRequest,
    form: RefillForm,
    entry: refill_entry.RefillEntry,
    warnings: list[str] | None = None,
) -> HttpResponse:
    expected = entry.expected_text
    form.describe(entry.pump, expected)
    return render(
        request,
        "pumps/log_refill.html",
        {
            "pump": entry.pump,
            "form": form,
            "warnings": warnings or [],
            "expected": expected,
            # Shown twice (beside the form, and above it on a tablet): drawn once.
            "composition": render_to_string(
                "pumps/_composition.html", {"fill": entry.pump.latest_fill}
            ),
        },
    )


def _explanted_pump_page(request: HttpRequest, pump: Pump) -> HttpResponse:
    """A form opened before the pump was explanted: say so, keep what was typed.

    A bare 404 would lose the nurse's values and not say why; the page names
    the explant and links to the patient's pump now in place, if any.
    """
    current = (
        Pump.objects.active()
        .filter(patient_id=pump.patient_id)
        .select_related("model")
        .order_by("-implant_date")
        .first()
    )
    typed: list[tuple[str, str]] = []
    if request.method == "POST":
        labels = RefillForm.base_fields
        typed = [
            (str(labels[name].label or name.replace("_", " ").capitalize()), value)
            for name in TYPED_FIELDS
            if (value := request.POST.get(name, "").strip())
        ]
    return render(
        request,
        "pumps/log_refill.html",
        {"pump": pump, "explanted": True, "current_pump": current, "typed": typed},
        status=409 if request.method == "POST" else 200,
    )


# What the explanted-pump page shows back from a submitted form, in form order.
TYPED_FIELDS = (
    "refill_date",
    "drug",
    "concentration",
    "concentration_unit",
    "daily_dose",
    "dose_unit",
    "bolus_dose",
    "boluses_per_day",
    "residual_ml",
    "volume_ml",
    "eri",
    "pain_score",
    "ashworth_score",
    "notes",
)


@read_only_page
@staff_required
def refill_saved(request: HttpRequest, pk: int) -> HttpResponse:
    """After saving: the new due date, alarm date and which limit set them."""
    refill = get_object_or_404(
        Refill.objects.select_related("pump__patient", "pump__model", "drug"), pk=pk
    )
    pump = refill.pump
    today = clinic_today()
    policy = SchedulePolicy.current()
    return render(
        request,
        "pumps/refill_saved.html",
        {
            "refill": refill,
            "pump": pump,
            "is_latest": pump.latest_fill_id == refill.pk,
            "refill_status": pump.refill_status(today, policy.lookahead_days),
            "suggested_day": max(pump.refill_due, today) if pump.refill_due else today,
            # Section 5: a due date after the pump's replace-by is one it will not reach.
            "battery_stops_first": pump.refill_due_after_battery_stops,
        },
    )
