"""Print-outs (issue 14): the whole worklist, the handover summary, the pharmacy order.

Each is an ordinary page styled for paper by static/css/print.css: the
table's repeated header carries the clinic and the day on every printed page,
and the page margins carry the page numbers.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.conf import settings
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from care import pharmacy, review_queue
from care.choices import VisitStatus
from care.models import Appointment, Complication, MriScan
from care.worklist import STATUS_FILTERS, RankedWorklist, WorklistFilters
from care.worklist_pages import PRINT_ROW_CAP, every_row
from core.clock import clinic_today
from core.csv_export import csv_download, csv_lines
from core.roles import read_only_page, staff_required
from patients.models import IN_FORCE, Patient
from pumps.models import Drug, Pump, PumpModel, Refill, SchedulePolicy


def _worklist_filters(request: HttpRequest) -> WorklistFilters:
    """The worklist's filters from its query string (the same names as its form)."""
    return WorklistFilters(
        status=request.GET.get("status", ""),
        drug=request.GET.get("drug", ""),
        model=request.GET.get("model", ""),
        booked=request.GET.get("booked", ""),
        query=request.GET.get("q", "")[:100],
    )


def _filter_summary(filters: WorklistFilters) -> str:
    """The filters in words, printed under the title (a print-out must say what it omits)."""
    parts = []
    if filters.status in STATUS_FILTERS:
        parts.append(STATUS_FILTERS[filters.status][0])
    if filters.drug:
        drug = Drug.objects.filter(code=filters.drug).values_list("name", flat=True).first()
        parts.append(f"drug {drug or filters.drug}")
    if filters.model:
        model = PumpModel.objects.filter(code=filters.model).values_list("name", flat=True).first()
        parts.append(f"model {model or filters.model}")
    if filters.booked == "yes":
        parts.append("booked")
    elif filters.booked == "no":
        parts.append("not booked")
    if filters.query:
        parts.append(f"search \u201c{filters.query}\u201d")
    return ", ".join(parts)


@read_only_page
@staff_required
def worklist_print(request: HttpRequest) -> HttpResponse:
    """Every row of the worklist's current filter, with phones and a column to tick."""
    today = clinic_today()
    policy = SchedulePolicy.current()
    filters = _worklist_filters(request)
    pumps = RankedWorklist(today=today, lookahead_days=policy.lookahead_days, filters=filters)
    rows, count = every_row(pumps)
    return render(
        request,
        "pumps/worklist_print.html",
        {
            "today": today,
            "printed_at": timezone.localtime(),
            "clinic_name": settings.CLINIC_NAME,
            "rows": rows,
            "count": count,
            "cut_off": count > len(rows) and len(rows) >= PRINT_ROW_CAP,
            "row_cap": PRINT_ROW_CAP,
            "filter_summary": _filter_summary(filters) if filters != WorklistFilters() else "",
            "back_query": request.GET.urlencode(),
        },
    )


@read_only_page
@staff_required
def patient_summary(request: HttpRequest, pk: int) -> HttpResponse:
    """One printed page for handover: the pump, drug and dose, dates, open flags, contacts."""
    patient = get_object_or_404(Patient.objects.select_related("treating_physician"), pk=pk)
    today = clinic_today()
    policy = SchedulePolicy.current()
    current = (
        Pump.objects.active()
        .filter(patient=patient)
        .with_list_relations()
        .order_by("-implant_date")
        .first()
    )
    context: dict[str, object] = {
        "patient": patient,
        "current": current,
        "today": today,
        "printed_at": timezone.localtime(),
        "clinic_name": settings.CLINIC_NAME,
        "visits": list(
            Appointment.objects.filter(
                patient=patient, status=VisitStatus.BOOKED, scheduled_at__date__gte=today
            ).order_by("scheduled_at")[:4]
        ),
        "missed": list(
            Appointment.objects.missed_not_rebooked()
            .filter(patient=patient)
            .order_by("-scheduled_at")[:3]
        ),
        "mri_checks": list(
            MriScan.objects.filter(IN_FORCE, patient=patient, pump_checked_on__isnull=True)
        ),
        "complications": list(
            Complication.objects.filter(IN_FORCE, patient=patient).order_by("-occurred_on")[:3]
        ),
    }
    if current is not None:
        context.update(
            refill_status=current.refill_status(today, policy.lookahead_days),
            battery_status=current.battery_status(today),
            review=review_queue.pump_review(current, today=today),
            discrepancies=list(
                Refill.objects.filter(
                    IN_FORCE, pump=current, discrepancy=True, discrepancy_signed_off_at__isnull=True
                ).order_by("refill_date")
            ),
        )
    return render(request, "patients/summary.html", context)


def _order_range(request: HttpRequest, today: date) -> tuple[date, date, str]:
    """The range asked for (default: the look-ahead from today), and what was wrong with it."""
    default_end = today + timedelta(days=SchedulePolicy.current().lookahead_days)
    problem = ""
    try:
        start = date.fromisoformat(request.GET.get("start") or today.isoformat())
        end = date.fromisoformat(request.GET.get("end") or default_end.isoformat())
    except ValueError:
        start, end, problem = today, default_end, "Dates are YYYY-MM-DD; showing the default."
    if end < start:
        start, end, problem = (
            today,
            default_end,
            "The range ends before it starts; showing the default.",
        )
    if (end - start).days > pharmacy.MAX_RANGE_DAYS:
        end = start + timedelta(days=pharmacy.MAX_RANGE_DAYS)
        problem = f"A list reaches at most {pharmacy.MAX_RANGE_DAYS} days; shortened."
    return start, end, problem


def _basis(request: HttpRequest) -> str:
    basis = request.GET.get("basis", "")
    return basis if basis in pharmacy.BASES else pharmacy.BASIS_LAST_FILL


@read_only_page
@staff_required
def pharmacy_orders(request: HttpRequest) -> HttpResponse:
    """Refills booked or due in a range, by drug and concentration, with order-by days."""
    today = clinic_today()
    start, end, problem = _order_range(request, today)
    basis = _basis(request)
    groups = pharmacy.grouped(pharmacy.order_lines(start=start, end=end, today=today, basis=basis))
    return render(
        request,
        "pumps/pharmacy_orders.html",
        {
            "today": today,
            "printed_at": timezone.localtime(),
            "clinic_name": settings.CLINIC_NAME,
            "start": start,
            "end": end,
            "problem": problem,
            "basis": basis,
            "basis_label": pharmacy.BASES[basis],
            "bases": pharmacy.BASES.items(),
            "groups": groups,
            "query": f"start={start.isoformat()}&end={end.isoformat()}&basis={basis}",
        },
    )


PHARMACY_CSV_HEADER = (
    "order_by",
    "drug",
    "concentration",
    "concentration_unit",
    "refill_day",
    "booked",
    "volume_ml",
    "patient_record_number",
    "patient",
    "pump_serial",
)


@read_only_page
@staff_required
def pharmacy_orders_csv(request: HttpRequest) -> StreamingHttpResponse:
    """The order list as CSV, one row per refill, in the printed list's order."""
    today = clinic_today()
    start, end, _ = _order_range(request, today)
    groups = pharmacy.grouped(
        pharmacy.order_lines(start=start, end=end, today=today, basis=_basis(request))
    )
    rows = (
        (
            line.order_by,
            line.drug.name,
            line.concentration,
            line.concentration_unit,
            line.refill_day,
            line.booked,
            line.volume_ml,
            line.pump.patient.mrn,
            f"{line.pump.patient.family_name}, {line.pump.patient.given_name}",
            line.pump.serial,
        )
        for group in groups
        for line in group.lines
    )
    return csv_download(csv_lines(PHARMACY_CSV_HEADER, rows), kind="pharmacy-orders", day=today)
