"""HTML built in Python for a page's hot loops, as the templates would write it.

A template resolves every variable, filter and tag of a row through the
engine: on a list of a few dozen rows that was most of a page's work (the
worklist, a patient's refill history). Their rows are built with f-strings
instead, each value escaped with ``html.escape`` (what Django's ``escape``
does, without its lazy-string wrapper on each call). Each such module has a
test comparing its rows with the template loop it replaced.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from html import escape
from typing import Any

from django.template.defaultfilters import date as date_filter
from django.utils import timezone, translation


@lru_cache(maxsize=4096)
def _formatted(value: date | datetime, pattern: str, zone: str, language: str | None) -> str:
    # The zone and language are part of the key: they change what the filter writes.
    if isinstance(value, datetime):
        value = timezone.localtime(value)
    return escape(date_filter(value, pattern))


def day(value: date | datetime | None, pattern: str) -> str:
    """Django's ``date`` filter as a template applies it (a datetime in local time),
    escaped; memoised, since a date is often shown on many rows."""
    if value is None:
        return ""
    return _formatted(
        value, pattern, timezone.get_current_timezone_name(), translation.get_language()
    )


def user_name(user: Any) -> str:
    """``user.get_full_name|default:user.username``, escaped."""
    return escape(user.get_full_name() or user.username)


def entered_in_error_actions(
    record: Any,
    kind: str,
    *,
    is_clinical: bool,
    entered_in_error_url: str,
    restore_record_url: str,
) -> str:
    """The entered-in-error note and action of one record (clinical-rules.md 9).

    ``kind`` names the record in the link (refill, dose_change, trial, mri,
    complication, contact); the two URLs are the patient's, reversed once by the
    page rather than once a row. Set apart by line breaks, as the template
    partial it replaced wrote it (between inline elements, a space).
    """
    reference = f"{escape(kind)}-{record.pk}"
    if record.is_entered_in_error:
        who = record.entered_in_error_by
        note = (
            f'<div class="small text-danger entered-in-error-note" '
            f'data-entered-in-error="{reference}"><strong>Entered in error</strong> by '
            f"{user_name(who) if who else 'someone'} on "
            f"{day(record.entered_in_error_at, 'j M Y, H:i')}: "
            f"{escape(record.entered_in_error_reason)}</div>"
        )
        if is_clinical:
            note += (
                '\n<a class="btn btn-sm btn-outline-secondary py-0 no-print" '
                f'href="{escape(restore_record_url)}?record={reference}">Restore</a>'
            )
        return f"\n{note}\n"
    if is_clinical:
        return (
            '\n<a class="btn btn-sm btn-outline-danger py-0 no-print" '
            f'href="{escape(entered_in_error_url)}?record={reference}">Entered in error</a>\n'
        )
    return "\n"
