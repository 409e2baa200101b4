"""Template helpers: the one status badge, numbers without trailing zeros, row links."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from typing import Any

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from core.formatting import plain_decimal
from core.html import entered_in_error_actions as entered_in_error_html
from core.paths import id_path, page_path
from patients.phones import display_phone, tel_uri
from pumps.choices import BatteryStatus, LimitedBy, RefillStatus

register = template.Library()

BADGES: dict[str, dict[str, tuple[str, str]]] = {
    "refill": {
        RefillStatus.OVERDUE: ("text-bg-danger", "Refill overdue"),
        RefillStatus.DUE: ("text-bg-warning", "Refill due"),
        RefillStatus.UPCOMING: ("text-bg-info", "Refill upcoming"),
        RefillStatus.OK: ("text-bg-success", "Refill OK"),
        RefillStatus.UNKNOWN: ("text-bg-dark", "Never filled"),
    },
    "battery": {
        BatteryStatus.ERI: ("text-bg-danger", "Battery ERI"),
        BatteryStatus.OVERDUE: ("text-bg-danger", "Battery overdue"),
        BatteryStatus.WINDOW: ("text-bg-warning", "Battery window"),
        BatteryStatus.OK: ("text-bg-success", "Battery OK"),
        BatteryStatus.NOT_APPLICABLE: ("text-bg-light border", "No battery"),
    },
}


@register.filter
def badge(status: str | None, kind: str) -> str:
    """``{{ pump.refill_status|badge:"refill" }}``: the same colours on every page."""
    if not status:
        return ""
    return _badge(str(status), kind)


@lru_cache(maxsize=64)  # a handful of statuses, on every row of every list
def _badge(status: str, kind: str) -> str:
    css, label = BADGES[kind].get(status, ("text-bg-secondary", status))
    return format_html(
        '<span class="badge {} status-{}-{}" data-status="{}">{}</span>',
        css,
        kind,
        status,
        status,
        label,
    )


@register.simple_tag
def id_url(name: str, pk: int) -> str:
    """``{% id_url "pumps:log_refill" pump.pk %}``: ``{% url %}`` for a page of one id,
    without matching the URL patterns on every row (core.paths)."""
    return id_path(name, pk)


@register.simple_tag
def page_url(name: str) -> str:
    """``{% page_url "pumps:worklist" %}``: ``{% url %}`` for a page of no argument,
    without matching the URL patterns on every page (core.paths)."""
    return page_path(name)


@register.filter
def plain(value: Decimal | None) -> str:
    """20 rather than 20.0000; empty for None."""
    return "" if value is None else plain_decimal(value)


@register.filter
def limit_label(value: str) -> str:
    try:
        return LimitedBy(value).label
    except ValueError:
        return ""


@register.filter
def phone(stored: str | None) -> str:
    """``{{ patient.phone|phone }}``: a stored (E.164) number in the international format."""
    return display_phone(stored or "")


@register.filter
def patient_phone(patient: Any, mode: str = "") -> str:
    """``{{ patient|patient_phone }}``: the phone as a ``tel:`` link in the international
    format (``"print"``: as text); else the text kept as recorded (issue 14's data
    migration could not read it), marked; else a dash."""
    stored = patient.phone
    if stored:
        tel = tel_uri(stored)
        if tel and mode != "print":
            return format_html(
                '<a class="text-nowrap" href="{}" data-phone>{}</a>', tel, display_phone(stored)
            )
        return format_html('<span class="text-nowrap" data-phone>{}</span>', display_phone(stored))
    if patient.phone_as_recorded:
        return format_html(
            "<span data-phone-as-recorded>{}</span> "
            '<span class="badge text-bg-warning">not a valid number</span>',
            patient.phone_as_recorded,
        )
    return format_html('<span class="text-muted" data-phone>{}</span>', "\N{EN DASH}")


@register.simple_tag(takes_context=True)
def entered_in_error_actions(context: template.Context, record: Any, kind: str) -> SafeString:
    """``{% entered_in_error_actions refill "refill" %}``: the record's entered-in-error
    note and action (core.html), with the page's ``is_clinical`` and the patient's
    ``entered_in_error_url`` and ``restore_record_url``."""
    html = entered_in_error_html(
        record,
        kind,
        is_clinical=bool(context.get("is_clinical")),
        entered_in_error_url=str(context.get("entered_in_error_url", "")),
        restore_record_url=str(context.get("restore_record_url", "")),
    )
    return mark_safe(html)  # every value in it is escaped
