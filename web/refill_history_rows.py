"""A patient's refill history as HTML rows, built in Python (issue 11: the load test).

A patient page is a third of what a busy clinic asks of the server, and its
refill history (a fill a month or two, for years) was half of the page's
work: about 30 template variables and filters per row, each resolved by the
template engine. The same markup is built here with f-strings (core.html),
so a row reads exactly as the template wrote it:
tests/patients/test_refill_history_rows.py compares the two on every kind of
row. The rest of the page stays a template.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from html import escape

from django.template.defaultfilters import floatformat
from django.utils.safestring import SafeString, mark_safe

from core.formatting import plain_decimal
from core.html import day, entered_in_error_actions, user_name
from pumps.models import Refill

NO_REFILLS = '<tr><td colspan="10" class="text-muted">No refills recorded.</td></tr>'
NOTHING = "\u2013"  # an en dash, as the table shows a value not recorded
TIMES = "\u00d7"  # the multiplication sign of "up to 4x/day"
FLAG_WENT_WITH_IT = '<div class="small text-muted">Its residual-volume flag went with it.</div>'


def _millilitres(value: Decimal) -> str:
    return escape(floatformat(value, 2))


def _dose(refill: Refill) -> str:
    dose = f"{escape(plain_decimal(refill.daily_dose))} {escape(refill.dose_unit)}"
    if refill.bolus_dose:
        # "mcg/day" -> "mcg": a bolus is a dose, not a rate.
        dose += (
            f'<div class="small text-muted">bolus {escape(plain_decimal(refill.bolus_dose))} '
            f"{escape(refill.dose_unit[:-4])} up to {refill.boluses_per_day}{TIMES}/day</div>"
        )
    return f"<td>{dose}</td>"


def _expected_residual(refill: Refill) -> str:
    expected, low = refill.expected_residual_ml, refill.expected_residual_low_ml
    if expected is None:
        text = NOTHING
    elif low is not None and low != expected:
        text = f"{_millilitres(low)} to {_millilitres(expected)} mL"
    else:
        text = f"{_millilitres(expected)} mL"
    return f'<td class="text-end">{text}</td>'


def _flags(refill: Refill) -> str:
    flags = ""
    # An entered-in-error refill's flag went with it (said on the row below).
    if refill.discrepancy and not refill.is_entered_in_error:
        signer = refill.discrepancy_signed_off_by
        if refill.discrepancy_signed_off_at:
            by = f" by {user_name(signer)}" if signer else ""
            flags = (
                f'<span class="badge text-bg-secondary" '
                f'title="{escape(refill.discrepancy_comment)}">Discrepancy signed off{by}</span>'
            )
        else:
            flags = '<span class="badge text-bg-warning">Discrepancy: awaiting physician</span>'
    eri = '<span class="badge text-bg-danger">ERI</span>' if refill.eri else ""
    return f"<td> {flags} {eri} </td>"


def _row(refill: Refill, *, is_clinical: bool, entered_in_error_url: str, restore_url: str) -> str:
    in_error = refill.is_entered_in_error
    marks = ' class="entered-in-error" data-entered-in-error="true"' if in_error else ""
    hidden = '<span class="visually-hidden">Entered in error: </span>' if in_error else ""
    residual = (
        NOTHING if refill.residual_ml is None else f"{escape(plain_decimal(refill.residual_ml))} mL"
    )
    recorder = refill.recorded_by
    recorded = user_name(recorder) if recorder else '<span class="text-muted">not recorded</span>'
    action = (
        f'<a class="btn btn-sm btn-outline-danger py-0" '
        f'href="{escape(entered_in_error_url)}?record=refill-{refill.pk}">Entered in error</a>'
        if is_clinical and not in_error
        else ""
    )
    row = (
        f'<tr data-refill="{refill.pk}"{marks}> '
        f'<td class="date-cell">{hidden}{day(refill.refill_date, "j M Y")}</td> '
        f'<td class="d-none d-lg-table-cell">{escape(refill.pump.serial)}</td> '
        f"<td>{escape(refill.drug.name)} {escape(plain_decimal(refill.concentration))} "
        f"{escape(refill.concentration_unit)}</td> "
        f"{_dose(refill)} {_expected_residual(refill)} "
        f'<td class="text-end">{residual}</td> '
        f'<td class="text-end">{escape(plain_decimal(refill.volume_ml))} mL</td> '
        f'{_flags(refill)} <td class="small">{recorded}</td> '
        f'<td class="correction small no-print">{action}</td> </tr>'
    )
    if not in_error:
        return row
    note = entered_in_error_actions(
        refill,
        "refill",
        is_clinical=is_clinical,
        entered_in_error_url=entered_in_error_url,
        restore_record_url=restore_url,
    )
    if refill.discrepancy and not refill.discrepancy_signed_off_at:
        note += FLAG_WENT_WITH_IT
    return (
        f'{row}\n<tr class="entered-in-error-row" data-refill-note="{refill.pk}">'
        f'<td colspan="10" class="correction pt-0">{note}</td></tr>'
    )


def refill_history_rows(
    refills: Sequence[Refill],
    *,
    is_clinical: bool,
    entered_in_error_url: str,
    restore_record_url: str,
) -> SafeString:
    """The ``<tr>`` of each refill, newest first as given; the patient's two correction
    URLs are reversed once by the page."""
    if not refills:
        return mark_safe(NO_REFILLS)
    rows = "\n".join(
        _row(
            refill,
            is_clinical=is_clinical,
            entered_in_error_url=entered_in_error_url,
            restore_url=restore_record_url,
        )
        for refill in refills
    )
    return mark_safe(rows)  # every value above is escaped
