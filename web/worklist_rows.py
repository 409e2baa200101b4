"""The worklist's rows as HTML, built in Python (issue 11: the load test's target).

The worklist is half of what a busy clinic asks of the server, and its 25
rows were most of the page's work: about 50 template variables, six date
filters and a dozen tags per row, each resolved by the template engine. The
same markup is built here with f-strings (core.html). The badges, phone
links and row links come from the helpers the templates use
(``pumps.templatetags.clinic``, ``core.paths``), and each date from
Django's ``date`` filter (``core.html.day``), so a row reads exactly as the
template wrote it:
tests/pumps/test_worklist_rows.py compares the two on every kind of row.

The page around the rows (cards, filters, pagination) stays a template.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from urllib.parse import quote

from django.utils.safestring import SafeString, mark_safe

from core.formatting import plain_decimal
from core.html import day
from core.paths import id_path
from pumps.models import Pump
from pumps.templatetags.clinic import badge, patient_phone

NO_FILL = '<span class="text-muted">no fill recorded</span>'
AFTER_BATTERY = (
    '<div><span class="badge text-bg-danger" data-problem="due-after-battery">'
    "The battery stops before this date</span></div>"
)


def _annotated_status(pump: Pump, kind: str) -> str:
    """The row's ``refill`` or ``battery`` status as the worklist's query annotated it
    (pumps.status): the instance attribute, which hides the model's method of that name."""
    return str(pump.__dict__[f"{kind}_status"])


def _drug_and_dose(pump: Pump) -> str:
    fill = pump.latest_fill
    if fill is None:
        return NO_FILL
    return escape(f"{fill.drug.name} {plain_decimal(fill.daily_dose)} {fill.dose_unit}")


def _patient_cell(pump: Pump, drug_and_dose: str) -> str:
    patient = pump.patient
    link = id_path("patients:detail", pump.patient_id)
    return (
        f'<td> <a class="fw-semibold" href="{escape(link)}">'
        f"{escape(patient.family_name)}, {escape(patient.given_name)}</a> "
        f'<div class="small text-muted">{escape(patient.mrn)}'
        f'<span class="d-lg-none"> · {escape(pump.serial)}</span></div> '
        f'<div class="small worklist-phone">{patient_phone(patient)}</div> '
        # On a tablet the pump column is hidden: the drug stays in sight here.
        f'<div class="small d-lg-none">{drug_and_dose}</div> </td>'
    )


def _pump_cell(pump: Pump, drug_and_dose: str) -> str:
    model = pump.model
    return (
        f'<td class="d-none d-lg-table-cell"> <div>{escape(pump.serial)} '
        f'<span class="text-muted small">{escape(model.name)} '
        f"{plain_decimal(model.reservoir_ml)} mL</span></div> "
        f'<div class="small">{drug_and_dose}</div> </td>'
    )


def _refill_cell(pump: Pump) -> str:
    parts = [badge(_annotated_status(pump, "refill"), "refill")]
    if pump.urgent:  # type: ignore[attr-defined]
        drug = pump.latest_fill.drug.name if pump.latest_fill else ""
        parts.append(
            '<span class="badge text-bg-danger urgent-flag">'
            f"Urgent: {escape(drug.lower())} withdrawal risk</span>"
        )
    if pump.has_unsigned_discrepancy:
        parts.append(
            '<span class="badge text-bg-warning" data-flag="discrepancy">'
            "Residual discrepancy</span>"
        )
    if pump.refill_deadline:
        parts.append(
            f'<div class="small"><span class="date-cell">due {day(pump.refill_due, "D j M")}'
            '</span> · <span class="date-cell">deadline '
            f"<strong>{day(pump.refill_deadline, 'D j M Y')}</strong></span></div>"
        )
    if pump.refill_due_after_battery_stops:
        parts.append(AFTER_BATTERY)
    return _cell("<td>", parts)


def _battery_cell(pump: Pump) -> str:
    status = _annotated_status(pump, "battery")
    parts = [badge(status, "battery")]
    if status == "eri":
        parts.append(
            '<div class="small date-cell" '
            f'data-replace-by="{day(pump.eri_replace_by, "Y-m-d")}">'
            f"replace by <strong>{day(pump.eri_replace_by, 'j M Y')}</strong></div>"
        )
    elif pump.battery_window_closes and status != "ok":
        parts.append(
            f'<div class="small date-cell">closes {day(pump.battery_window_closes, "j M Y")}</div>'
        )
    return _cell("<td>", parts)


def _visit_cell(pump: Pump) -> str:
    booking = pump.next_booking  # type: ignore[attr-defined]
    parts: list[str] = []
    if booking:
        parts.append(f'<span class="date-cell">{day(booking, "D j M, H:i")}</span>')
        if pump.booked_after_deadline:  # type: ignore[attr-defined]
            parts.append(
                '<div><span class="badge text-bg-danger" data-problem="after-deadline">'
                "Booked after the deadline</span></div>"
            )
        if pump.booked_after_battery:  # type: ignore[attr-defined]
            parts.append(
                '<div><span class="badge text-bg-danger" data-problem="after-battery">'
                "The battery stops before this date</span></div>"
            )
    else:
        parts.append('<span class="text-muted">Not booked</span>')
    if pump.missed_visit:  # type: ignore[attr-defined]
        parts.append('<div><span class="badge text-bg-danger">Missed visit</span></div>')
    if pump.last_contact_at:  # type: ignore[attr-defined]
        last = (
            '<span class="text-muted">Last attempt:</span> '
            f"{escape(str(pump.last_contact_outcome_label))} "  # type: ignore[attr-defined]
            f'<span class="text-muted">({escape(str(pump.last_contact_channel_label).lower())}, '  # type: ignore[attr-defined]
            f"{escape(pump.last_contact_age)})</span>"  # type: ignore[attr-defined]
        )
    else:
        last = '<span class="text-muted">No contact attempt</span>'
    outcome = pump.last_contact_outcome or "none"  # type: ignore[attr-defined]
    parts.append(f'<div class="last-contact" data-last-contact="{escape(outcome)}">{last}</div>')
    return _cell('<td class="small">', parts)


def _action_cell(pump: Pump, *, is_clinical: bool, back_here: str) -> str:
    if not is_clinical:
        return '<td class="text-end no-print"> </td>'
    refill = id_path("pumps:log_refill", pump.pk)
    book = id_path("patients:book_visit", pump.patient_id)
    call = id_path("patients:contact_attempt", pump.patient_id)
    return (
        '<td class="text-end no-print"> '
        '<div class="d-flex flex-column flex-xl-row gap-1 justify-content-end"> '
        f'<a class="btn btn-primary btn-sm text-nowrap" href="{escape(refill)}">Log refill</a> '
        f'<a class="btn btn-outline-primary btn-sm" href="{escape(book)}?kind=refill&amp;'
        f'day={day(pump.refill_due, "Y-m-d")}">Book</a> '
        '<a class="btn btn-outline-secondary btn-sm text-nowrap" data-action="log-contact" '
        f'href="{escape(call)}?pump={pump.pk}&amp;next={back_here}">Log call</a> </div> </td>'
    )


def _cell(opening: str, parts: list[str]) -> str:
    """A cell of ``parts`` with a space between them, as the template's lines had:
    badges side by side stay apart."""
    return f"{opening} {' '.join(parts)} </td>"


def _row(pump: Pump, *, is_clinical: bool, back_here: str) -> str:
    urgent = ' class="row-urgent" data-urgent="true"' if pump.urgent else ""  # type: ignore[attr-defined]
    drug_and_dose = _drug_and_dose(pump)
    cells = " ".join(
        (
            _patient_cell(pump, drug_and_dose),
            _pump_cell(pump, drug_and_dose),
            _refill_cell(pump),
            _battery_cell(pump),
            _visit_cell(pump),
            _action_cell(pump, is_clinical=is_clinical, back_here=back_here),
        )
    )
    return (
        f'<tr data-serial="{escape(pump.serial)}" '
        f'data-refill-status="{escape(_annotated_status(pump, "refill"))}" '
        f'data-battery-status="{escape(_annotated_status(pump, "battery"))}"{urgent}> {cells} </tr>'
    )


def worklist_rows(pumps: Iterable[Pump], *, is_clinical: bool, here: str) -> SafeString:
    """The ``<tr>`` of each pump on the page, in order (the page's ``object_list``).

    ``here`` is the page's own path and query: each row's "Log call" comes back to it.
    """
    # As the template's urlencode filter wrote it: "/" kept, the rest quoted.
    back_here = escape(quote(here, safe="/"))
    rows = "\n".join(_row(pump, is_clinical=is_clinical, back_here=back_here) for pump in pumps)
    return mark_safe(rows)  # every value above is escaped
