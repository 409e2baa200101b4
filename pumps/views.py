"""Pages and endpoints for pumps: the worklist, logging a refill, the due list."""

from __future__ import annotations

import uuid
from datetime import date

from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone

from patients.models import IN_FORCE
from patients.roles import clinical_staff_required, staff_required
from pumps import services
from pumps.due_list import build_due_list
from pumps.formatting import plain_decimal
from pumps.forms import RefillForm
from pumps.models import Drug, Pump, PumpModel, Refill, SchedulePolicy
from pumps.worklist import STATUS_FILTERS, RankedWorklist, WorklistFilters
from pumps.worklist_pages import worklist_page as worklist_page_of

WORKLIST_PAGE_SIZE = 25


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
        today = timezone.localdate()
    flagged = request.GET.get("flagged", "").strip().lower() in {"1", "true", "yes"}
    return JsonResponse(build_due_list(today=today, flagged_only=flagged), safe=False)


@staff_required
def worklist_page(request: HttpRequest) -> HttpResponse:
    """The nurse's home page: every active pump that needs action, most urgent first."""
    today = timezone.localdate()
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
    for pump in page.object_list:
        booking = pump.next_booking  # type: ignore[attr-defined]
        booked_on = timezone.localtime(booking).date() if booking else None
        pump.booked_after_deadline = bool(  # type: ignore[attr-defined]
            booked_on and pump.refill_deadline and booked_on > pump.refill_deadline
        )
        pump.booked_after_battery = pump.battery_stops_before(booked_on)  # type: ignore[attr-defined]
    counts = pumps.status_counts()  # read with the page's counts, in the same query
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
            "drugs": Drug.objects.values_list("code", "name"),
            "models": PumpModel.objects.values_list("code", "manufacturer", "name", "reservoir_ml"),
        },
    )


def _expected_residual_text(pump: Pump, on: date) -> str | None:
    """'about 7.4 mL', or a range when the last fill allowed boluses (section 4)."""
    check = services.check_residual(pump=pump, refill_date=on, residual_ml=None)
    if check.expected is None:
        return None
    return services.expected_residual_text(check.expected)


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


@clinical_staff_required
def log_refill(request: HttpRequest, pk: int) -> HttpResponse:
    """Log a refill visit. Warnings must be confirmed; a resubmitted form saves once."""
    pump = get_object_or_404(
        Pump.objects.select_related("patient", "model", "latest_fill__drug"), pk=pk
    )
    if not pump.is_active:
        return _explanted_pump_page(request, pump)
    today = timezone.localdate()
    expected = _expected_residual_text(pump, today)
    warnings: list[str] = []
    if request.method != "POST":
        form = RefillForm(
            initial=_initial_from_latest_fill(pump, today), pump=pump, expected_residual=expected
        )
    else:
        form = RefillForm(request.POST, pump=pump, expected_residual=expected)
        if form.is_valid():
            token = form.cleaned_data["submission_token"]
            saved = _saved_with_token(form, token, pump, request.user)
            if saved is None and not form.errors:
                fill = form.as_fill()
                policy = SchedulePolicy.current()  # read once for the warnings and the save
                warnings = _refusals_then_warnings(form, pump, fill, today, policy)
                if warnings and not form.errors and not form.confirmed(warnings):
                    form.ask_for_confirmation(warnings)
                elif not form.errors:
                    saved = _save_refill(form, pump, fill, today, policy, request.user)
            if saved is not None:
                return redirect("pumps:refill_saved", pk=saved.pk)
    return render(
        request,
        "pumps/log_refill.html",
        {"pump": pump, "form": form, "warnings": warnings, "expected": expected},
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


def _saved_with_token(form: RefillForm, token: uuid.UUID, pump: Pump, user) -> Refill | None:  # type: ignore[no-untyped-def]
    """The refill this very form already saved (a double click), or None.

    A token is bound to its pump and its user: one spent on another pump's
    refill, or by someone else, is refused, never taken as "already saved".
    """
    saved = Refill.objects.filter(submission_token=token).first()
    if saved is None or (saved.pump_id == pump.pk and saved.recorded_by_id == user.pk):
        return saved
    form.add_error(
        None,
        "This form was already used to save another refill, so nothing was saved. "
        "Check the values below and save again.",
    )
    form.replace_token(str(uuid.uuid4()))
    return None


def _refusals_then_warnings(
    form: RefillForm, pump: Pump, fill: services.Fill, today: date, policy: SchedulePolicy
) -> list[str]:
    """Add the service's refusals to the form; if there are none, return its warnings.

    Refusals come first: a value that cannot be saved needs no confirmation.
    """
    try:
        services.validate_fill(pump=pump, fill=fill, today=today)
    except ValidationError as error:
        _add_service_errors(form, error)
        return []
    return [
        warning.message for warning in services.fill_warnings(pump=pump, fill=fill, policy=policy)
    ]


def _save_refill(
    form: RefillForm,
    pump: Pump,
    fill: services.Fill,
    today: date,
    policy: SchedulePolicy,
    user,  # type: ignore[no-untyped-def]
) -> Refill | None:
    """Record the fill; on a refusal the form gets the errors and None is returned."""
    data = form.cleaned_data
    token = data["submission_token"]
    try:
        return services.record_fill(
            pump=pump,
            fill=fill,
            pain_score=data["pain_score"],
            ashworth_score=data["ashworth_score"],
            notes=data["notes"],
            recorded_by=user,
            submission_token=token,
            today=today,
            policy=policy,
        )
    except ValidationError as error:
        # The same form may have been saved by a parallel click a moment ago.
        saved = _saved_with_token(form, token, pump, user)
        if saved is None and not form.non_field_errors():
            _add_service_errors(form, error)
        return saved
    except IntegrityError:
        # Two submissions of one form at the same instant: the other one saved it.
        if Refill.objects.filter(submission_token=token).exists():
            return _saved_with_token(form, token, pump, user)
        raise


def _add_service_errors(form: RefillForm, error: ValidationError) -> None:
    if hasattr(error, "error_dict"):
        for field, messages in error.message_dict.items():
            form.add_error(field if field in form.fields else None, messages)
    else:
        form.add_error(None, error.messages)


@staff_required
def refill_saved(request: HttpRequest, pk: int) -> HttpResponse:
    """After saving: the new due date, alarm date and which limit set them."""
    refill = get_object_or_404(
        Refill.objects.select_related("pump__patient", "pump__model", "drug"), pk=pk
    )
    pump = refill.pump
    today = timezone.localdate()
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
