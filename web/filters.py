"""The pump status board's filters (django-filter), on the annotated statuses."""

from __future__ import annotations

import django_filters
from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from core.roles import PHYSICIAN
from patients.choices import Indication
from pumps.choices import BatteryStatus, RefillStatus
from pumps.models import Drug, PumpModel

YES_NO = [("yes", "Yes"), ("no", "No")]


def physicians(request) -> QuerySet:  # type: ignore[no-untyped-def]
    return (
        get_user_model()
        .objects.filter(groups__name=PHYSICIAN, is_active=True)
        .order_by("last_name", "first_name", "username")
    )


class PumpBoardFilter(django_filters.FilterSet):
    """Filters on a queryset from ``pumps.board.board_pumps`` (statuses annotated)."""

    refill_status = django_filters.ChoiceFilter(
        label="Refill", choices=RefillStatus.choices, empty_label="Any"
    )
    battery_status = django_filters.ChoiceFilter(
        label="Battery", choices=BatteryStatus.choices, empty_label="Any"
    )
    drug = django_filters.ModelChoiceFilter(
        label="Drug",
        field_name="latest_fill__drug",
        queryset=Drug.objects.all(),
        to_field_name="code",
        empty_label="Any",
    )
    model = django_filters.ModelChoiceFilter(
        label="Pump model",
        field_name="model",
        queryset=PumpModel.objects.all(),
        to_field_name="code",
        empty_label="Any",
    )
    indication = django_filters.ChoiceFilter(
        label="Indication",
        field_name="patient__indication",
        choices=Indication.choices,
        empty_label="Any",
    )
    physician = django_filters.ModelChoiceFilter(
        label="Physician",
        field_name="patient__treating_physician",
        queryset=physicians,
        empty_label="Any",
    )
    discrepancy = django_filters.ChoiceFilter(
        label="Unsigned discrepancy",
        choices=YES_NO,
        empty_label="Any",
        method="filter_discrepancy",
    )

    def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        for field in self.form.fields.values():
            field.widget.attrs["class"] = "form-select"

    def filter_discrepancy(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if value == "yes":
            return queryset.filter(open_discrepancies__gt=0)
        return queryset.filter(open_discrepancies=0)
