"""Template helpers: the one status badge, numbers without trailing zeros, row links."""

from __future__ import annotations

from decimal import Decimal

from django import template
from django.utils.html import format_html

from core.formatting import plain_decimal
from core.paths import id_path
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
    css, label = BADGES[kind].get(status, ("text-bg-secondary", str(status)))
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
