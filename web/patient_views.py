"""Pages about one patient and the clinic's visits."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Model, QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

from care import review_queue, services
from care.choices import VisitKind, VisitStatus
from care.models import Appointment, Complication, MriScan, Trial
from core.clock import clinic_today
from core.compiled import read
from core.paths import id_path
from core.roles import (
    CLINICAL_ROLES,
    clinical_staff_required,
    form_page,
    has_role,
    read_only_page,
    staff_required,
)
from patients.models import Patient
from pumps import entry_safety
from pumps.models import DoseAdjustment, Pump, Refill, SchedulePolicy
from web.care_forms import ContactAttemptForm
from web.contact_views import attempts_of
from web.patient_forms import BookVisitForm
from web.refill_history_rows import refill_history_rows


@read_only_page
@staff_required
def patient_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Who the patient is, the current pump and its schedule, and their history."""
    found = read(_patient, pk)
    if not found:
        raise Http404("No such patient.")
    patient: Patient = found[0]
    today = clinic_today()
    policy = SchedulePolicy.current()
    pumps: list[Pump] = read(_pumps, pk)
    current = next((pump for pump in pumps if pump.is_active), None)
    refills: list[Refill] = read(_refills, pk)
    dose_changes: list[DoseAdjustment] = read(_dose_changes, pk)
    mri_scans = read(_mri_scans, pk)
    visits: list[Appointment] = read(_visits, pk)
    trials = read(_trials, pk)
    complications = read(_complications, pk)
    attempts = read(attempts_of, pk)
    # No query joins what another query of the page reads: the pumps' latest fills
    # are among the refills; the records' pumps among the pumps; the staff named
    # by any record come in one query. Joins cost more to compile than matching
    # in memory costs (tables the page does not show, such as who decided a
    # trial, are not read at all).
    pumps_by_pk = {pump.pk: pump for pump in pumps}
    _attach(pumps, "latest_fill", {refill.pk: refill for refill in refills})
    for records in (refills, dose_changes, visits, attempts):
        _attach(records, "pump", pumps_by_pk)
    for records in (pumps, mri_scans, visits, trials, complications, attempts):
        _attach(records, "patient", {patient.pk: patient})
    # Dose changes pump by pump, in the pumps' order (each pump's newest first).
    dose_changes.sort(key=lambda change: pumps.index(change.pump))
    changes = _recent_changes(patient)
    staff = _attach_staff(
        [patient],
        mri_scans,
        dose_changes,
        refills,
        trials,
        complications,
        attempts,
        also=[change.who_id for change in changes],
    )
    for change in changes:
        change.who = staff.get(change.who_id) if change.who_id is not None else None
    # Reversed once for every row's correction links (core.html).
    correction_urls = {
        "entered_in_error_url": id_path("patients:entered_in_error", patient.pk),
        "restore_record_url": id_path("patients:restore_record", patient.pk),
    }
    return render(
        request,
        "patients/detail.html",
        {
            "patient": patient,
            "today": today,
            "current": current,
            "refill_status": current.refill_status(today, policy.lookahead_days)
            if current
            else None,
            "battery_status": current.battery_status(today) if current else None,
            # Section 7: the first or yearly review, due or overdue.
            "review": review_queue.annotated_review(
                current,
                last_review_on=current.last_review_on,  # type: ignore[attr-defined]
                review_booked_at=current.review_booked_at,  # type: ignore[attr-defined]
                today=today,
            )
            if current
            else None,
            "pumps": pumps,
            "refill_rows": refill_history_rows(
                refills, is_clinical=has_role(request.user, *CLINICAL_ROLES), **correction_urls
            ),
            **correction_urls,
            "dose_changes": dose_changes,
            "mri_scans": mri_scans,
            "visits": _mark_after_deadline(visits),
            "visit_actions": VISIT_ACTIONS,
            "trials": trials,
            "complications": complications,
            "changes": changes,
            # Issue 15, item 6: who tried to reach the patient, and the form to log one
            # (written out in patients/_contact_attempt_form.html: no form instance).
            "contact_attempts": attempts,
            "contact_fields": ContactAttemptForm.base_fields,
            "contact_initial": {
                "day": today,
                "at": timezone.localtime().time().replace(second=0, microsecond=0),
                "pump": current.pk if current else None,
                "next": f"{patient.get_absolute_url()}#contact-attempts",
            },
        },
    )


# The patient page's statements, each a function of the patient's id: their SQL
# is compiled once per process (core.compiled; about 0.5 ms of CPU each a page
# otherwise, most of the page's database work).


def _patient(pk: int) -> QuerySet[Patient]:
    return Patient.objects.filter(pk=pk)


def _pumps(pk: int) -> QuerySet[Pump]:
    return (
        # Section 7: the review dates ride on the pumps' query (one rule, in SQL:
        # care.review_queue), compiled once with it.
        review_queue.with_review_dates(Pump.objects.filter(patient_id=pk))
        .select_related("model")
        .order_by("explant_date", "-implant_date")
    )


def _refills(pk: int) -> QuerySet[Refill]:
    return (
        Refill.objects.filter(pump__patient_id=pk)
        .select_related("drug")
        .order_by("-refill_date", "-pk")
    )


def _dose_changes(pk: int) -> QuerySet[DoseAdjustment]:
    return DoseAdjustment.objects.filter(pump__patient_id=pk)


def _mri_scans(pk: int) -> QuerySet[MriScan]:
    return MriScan.objects.filter(patient_id=pk)


def _visits(pk: int) -> QuerySet[Appointment]:
    return Appointment.objects.filter(patient_id=pk).order_by("-scheduled_at")


def _trials(pk: int) -> QuerySet[Trial]:
    return Trial.objects.filter(patient_id=pk).select_related("drug")


def _complications(pk: int) -> QuerySet[Complication]:
    return Complication.objects.filter(patient_id=pk)


def _attach(records: Iterable[Model], relation: str, by_pk: Mapping[int, Model]) -> None:
    """Set each record's ``relation`` (a foreign key) to the object of ``by_pk`` it
    names, read by another query of the page; one not there is read when used."""
    for record in records:
        related = by_pk.get(getattr(record, f"{relation}_id"))
        if related is not None:
            setattr(record, relation, related)


# The foreign keys to a member of staff that the page names.
STAFF_RELATIONS = (
    "treating_physician",
    "recorded_by",
    "discrepancy_signed_off_by",
    "entered_in_error_by",
)


def _attach_staff(*lists: Sequence[Model], also: Iterable[int | None] = ()) -> Mapping[int, Model]:
    """Set the staff the records name (STAFF_RELATIONS), read in one query for all
    the lists, with the members of staff ``also`` names: a join of the users table
    costs about 0.2 ms of compiling, for each list and relation (a dozen on the
    patient page), however few rows name anyone. No query when nobody is named.
    The staff read, by primary key."""
    relations = [
        (records, name)
        for records in lists
        if records
        for name in STAFF_RELATIONS
        if any(field.name == name for field in records[0]._meta.concrete_fields)
    ]
    ids = {getattr(record, f"{name}_id") for records, name in relations for record in records}
    ids.update(also)
    ids.discard(None)
    if not ids:
        return {}
    staff = {user.pk: user for user in get_user_model().objects.filter(pk__in=ids)}
    for records, name in relations:
        _attach(records, name, staff)
    return staff


HISTORY_VERBS = {"+": "created", "~": "changed", "-": "deleted"}


@dataclass
class Change:
    """One line of the page's history of changes."""

    when: datetime
    who_id: int | None  # read with the page's other staff (_attach_staff)
    what: str
    fields: str
    who: Model | None = None


RECENT_CHANGES = 30


def _recent_changes(patient: Patient) -> list[Change]:
    """The latest RECENT_CHANGES changes to the patient's record and pumps, newest first.

    Consecutive versions of a record are compared in memory: one query per history
    table, as plain rows (a few microseconds each, half the cost of model
    instances). The patient's own history is one record's: its newest
    RECENT_CHANGES + 1 versions are enough to compare each of the newest with the
    one before. A pump's history (a version at every refill) is read whole: the
    pump before a change may be older than another pump's latest versions, and a
    window function to bound it per pump cost more (about 0.7 ms a page,
    measured) than the rows it would save in a patient's lifetime.
    """
    changes: list[Change] = []
    for history, model in ((_patient_history, Patient), (_pump_history, Pump)):
        fields = _history_fields(model)
        records = read(history, patient.pk)
        label = model._meta.verbose_name
        when, kind, who, pk = len(fields), len(fields) + 1, len(fields) + 2, fields.index("id")
        previous_by_id: dict[object, tuple[Any, ...]] = {}
        # Oldest first, so that each version meets the one before it.
        for record in reversed(records):
            previous = previous_by_id.get(record[pk])
            previous_by_id[record[pk]] = record
            changed = (
                [name for at, name in enumerate(fields) if previous[at] != record[at]]
                if previous is not None
                else []
            )
            changes.append(
                Change(
                    when=record[when],
                    who_id=record[who],
                    what=f"{label} {HISTORY_VERBS[record[kind]]}",
                    fields=", ".join(name.replace("_id", "").replace("_", " ") for name in changed),
                )
            )
    changes.sort(key=lambda change: change.when, reverse=True)
    return changes[:RECENT_CHANGES]


def _history_fields(model: type[Model]) -> list[str]:
    """The columns a version of ``model`` keeps of it (simple_history's tracked fields)."""
    return [field.attname for field in model.history.model.tracked_fields]  # type: ignore[attr-defined]


def _history_rows(model: type[Model], records: QuerySet[Any]) -> QuerySet[Any]:
    return records.order_by("-history_date", "-history_id").values_list(
        *_history_fields(model), "history_date", "history_type", "history_user_id"
    )


def _patient_history(pk: int) -> QuerySet[Any]:
    # One record's history: its newest 31 versions give its newest 30 changes.
    return _history_rows(Patient, Patient.history.filter(id=pk))[: RECENT_CHANGES + 1]


def _pump_history(pk: int) -> QuerySet[Any]:
    return _history_rows(Pump, Pump.history.filter(patient_id=pk))


@form_page
@clinical_staff_required
def book_visit(request: HttpRequest, pk: int) -> HttpResponse:
    """Book a visit for a patient; a refill visit is for the active pump.

    A day after the pump's battery stops (ERI replace-by, clinical-rules.md 5)
    asks for confirmation: the form comes back with the warning and a box to
    tick, and nothing is booked until it is ticked.
    """
    patient = get_object_or_404(Patient, pk=pk)
    pump = Pump.objects.active().filter(patient=patient).select_related("model").first()
    today = clinic_today()
    battery_warning = None
    if request.method == "POST":
        form = BookVisitForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            battery_warning = services.battery_warning(pump=pump, day=data["day"])
            if battery_warning and not data["confirm_battery"]:
                form.ask_to_confirm_battery(battery_warning)
            else:
                try:
                    services.book_visit(
                        patient=patient,
                        pump=pump,
                        kind=data["kind"],
                        day=data["day"],
                        at=data["at"],
                        notes=data["notes"],
                        room=data["room"],
                        booked_by=request.user,
                        today=today,
                    )
                except ValidationError as error:
                    for field, errors in error.message_dict.items():
                        form.add_error(field if field in form.fields else None, errors)
                else:
                    messages.success(
                        request,
                        f"{VisitKind(data['kind']).label} booked for {patient.full_name} "
                        f"on {data['day']:%a %d %b %Y} at {data['at']:%H:%M}.",
                    )
                    if battery_warning:
                        messages.warning(request, battery_warning)
                    return redirect(patient)
    else:
        # A suggested day from a link: anything unreadable or out of bounds is today.
        day = max(_day_param(request, today), today)
        kind = request.GET.get("kind", "")
        form = BookVisitForm(
            initial={"day": day, "kind": kind if kind in VisitKind.values else VisitKind.REFILL}
        )
    deadline = pump.refill_deadline if pump else None
    return render(
        request,
        "patients/book_visit.html",
        {
            "patient": patient,
            "pump": pump,
            "form": form,
            "deadline": deadline,
            "battery_warning": battery_warning,
        },
    )


# The marks that change what the lists show: asked once on a page that says
# what will happen (issue 14) before the POST that does it.
CONFIRMED_MARKS = (VisitStatus.MISSED, VisitStatus.CANCELLED)


# GET asks (Missed, Cancel), POST does; no HEAD: a GET here is the question.
@require_http_methods(["GET", "POST"])
@clinical_staff_required
def set_visit_status(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark a visit done, missed or cancelled; or restore one marked by mistake (with a
    reason, kept in the visit's history). GET (Missed, Cancel) asks first."""
    if request.method == "GET" and request.GET.get("status") not in CONFIRMED_MARKS:
        # Only Missed and Cancel are asked about; any other GET is refused
        # before the visit is looked up, as the POST-only view did.
        return HttpResponseNotAllowed(["POST"])
    appointment = get_object_or_404(Appointment.objects.select_related("patient", "pump"), pk=pk)
    if request.method == "GET":
        return _confirm_visit_status(request, appointment)
    status = request.POST.get("status", "")
    try:
        services.set_visit_status(
            appointment=appointment,
            status=status,
            reason=request.POST.get("reason", ""),
            user=request.user,
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        if status == VisitStatus.BOOKED:
            messages.success(request, f"Visit for {appointment.patient.full_name} restored.")
        else:
            label = VisitStatus(status).label.lower()
            messages.success(request, f"Visit for {appointment.patient.full_name} marked {label}.")
    back = _safe_next(request, request.POST.get("next", ""))
    # A URL as given, never a view name: redirect("x") would try reverse("x")
    # and fail with a 500 on any word without a slash or a dot.
    return HttpResponseRedirect(back) if back else redirect("patients:appointments_day")


def _safe_next(request: HttpRequest, back: str) -> str:
    """``back`` when it is a page of this site, else the empty string."""
    if back and url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        return back
    return ""


def _confirm_visit_status(request: HttpRequest, appointment: Appointment) -> HttpResponse:
    """The page that says what marking the visit missed or cancelled will do.

    It changes nothing: its button POSTs to the same address. Only Missed and
    Cancel are asked about (Done is the everyday click, restore asks for a reason).
    """
    status = request.GET.get("status", "")
    back = _safe_next(request, request.GET.get("next", ""))
    back = back or appointment.patient.get_absolute_url()
    if appointment.status != VisitStatus.BOOKED:
        messages.info(request, f"This visit is already {appointment.get_status_display().lower()}.")
        return HttpResponseRedirect(back)
    when = timezone.localtime(appointment.scheduled_at)
    if status == VisitStatus.MISSED:
        effects = [
            "The visit is marked missed and shows in the red “Missed visits” box of the "
            "day and week pages until a later visit of the same kind is booked or done"
            + (", or the pump is refilled." if appointment.kind == VisitKind.REFILL else "."),
        ]
    else:
        effects = [
            "The visit is cancelled: it leaves the day's list and shows under the day's "
            "cancelled visits.",
        ]
    other = (
        Appointment.objects.booked()
        .filter(pump=appointment.pump, kind=VisitKind.REFILL)
        .exclude(pk=appointment.pk)
        .order_by("scheduled_at")
        .first()
        if appointment.pump is not None
        else None
    )
    if appointment.kind == VisitKind.REFILL and other is not None:
        effects.append(
            "Another refill visit stays booked, on "
            f"{timezone.localtime(other.scheduled_at):%a %d %b %Y}."
        )
    elif appointment.kind == VisitKind.REFILL and appointment.pump is not None:
        deadline = appointment.pump.refill_deadline
        effects.append(
            f"Pump {appointment.pump.serial} is not booked any more"
            + (f": its refill deadline is {deadline:%a %d %b %Y}." if deadline else ".")
            + " Book another visit before then."
        )
    effects.append("A visit marked by mistake can be restored, with a reason, from the same lists.")
    return render(
        request,
        "patients/confirm_visit_status.html",
        {
            "visit": appointment,
            "status": status,
            "label": VisitStatus(status).label.lower(),
            "when": when,
            "effects": effects,
            "back": back,
        },
    )


def _visits_between(start: date, end: date, *, cancelled: bool = False):  # type: ignore[no-untyped-def]
    """Visits from ``start`` up to (not including) ``end``, clinic-local days; the
    cancelled ones only, when ``cancelled``."""
    visits = Appointment.objects.filter(
        scheduled_at__gte=services.local_datetime(start, time.min),
        scheduled_at__lt=services.local_datetime(end, time.min),
    )
    visits = (
        visits.filter(status=VisitStatus.CANCELLED)
        if cancelled
        else visits.exclude(status=VisitStatus.CANCELLED)
    )
    return visits.select_related("patient", "pump").order_by("scheduled_at", "pk")


VISIT_ACTIONS = [
    (VisitStatus.DONE, "Done"),
    (VisitStatus.MISSED, "Missed"),
    (VisitStatus.CANCELLED, "Cancel"),
]


def _mark_after_deadline(visits: list[Appointment]) -> list[Appointment]:
    """Flag booked refill visits that fall after the pump's refill deadline, and
    booked visits after the day its battery stops (ERI replace-by, section 5)."""
    for visit in visits:
        day = timezone.localtime(visit.scheduled_at).date()
        booked = visit.status == VisitStatus.BOOKED
        deadline = visit.pump.refill_deadline if visit.pump else None
        visit.after_deadline = bool(  # type: ignore[attr-defined]
            visit.kind == VisitKind.REFILL and booked and deadline and day > deadline
        )
        visit.after_battery = bool(  # type: ignore[attr-defined]
            booked and services.battery_warning(pump=visit.pump, day=day)
        )
    return visits


def _day_param(request: HttpRequest, today: date) -> date:
    """The ``?day=`` asked for; anything unreadable or outside the app's dates is today
    (a page must never fail on a typed address: day + 1 of 9999-12-31 overflows)."""
    text = request.GET.get("day", "")
    try:
        day = date.fromisoformat(text) if len(text) <= 10 else None
    except ValueError:
        day = None
    if day is None or entry_safety.date_refusal(day, today=today, happened=False):
        return today
    return day


@read_only_page
@staff_required
def appointments_day(request: HttpRequest) -> HttpResponse:
    today = clinic_today()
    day = _day_param(request, today)
    visits = _mark_after_deadline(list(_visits_between(day, day + timedelta(days=1))))
    return render(
        request,
        "patients/appointments_day.html",
        {
            "today": today,
            "day": day,
            "previous": day - timedelta(days=1),
            "next": day + timedelta(days=1),
            "visits": visits,
            "cancelled": list(_visits_between(day, day + timedelta(days=1), cancelled=True)),
            "visit_actions": VISIT_ACTIONS,
            "missed": _missed(),
        },
    )


@read_only_page
@staff_required
def appointments_week(request: HttpRequest) -> HttpResponse:
    today = clinic_today()
    day = _day_param(request, today)
    monday = day - timedelta(days=day.weekday())
    visits = _mark_after_deadline(list(_visits_between(monday, monday + timedelta(days=7))))
    days = [
        {
            "day": monday + timedelta(days=offset),
            "visits": [
                visit
                for visit in visits
                if timezone.localtime(visit.scheduled_at).date() == monday + timedelta(days=offset)
            ],
        }
        for offset in range(7)
    ]
    return render(
        request,
        "patients/appointments_week.html",
        {
            "today": today,
            "monday": monday,
            "days": days,
            "previous": monday - timedelta(days=7),
            "next": monday + timedelta(days=7),
            "missed": _missed(),
        },
    )


def _missed():  # type: ignore[no-untyped-def]
    """Missed visits stay on screen until a later visit of the same kind is booked or
    done, or (a missed refill) the pump is refilled on or after that day."""
    return list(Appointment.objects.missed_not_rebooked().select_related("patient", "pump"))
