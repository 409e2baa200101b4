"""Admin for pumps, drugs, refills and the schedule policy.

The admin is one more door into the data (docs/style.md, point 7), so it
never leaves a stored schedule stale: every save that can move a date calls
``pumps.services.store_schedule`` or ``recompute_schedules`` inside the
admin's own transaction (``changeform_view`` runs in ``transaction.atomic``).
The checks of clinical-rules.md section 8 hold here as on the staff pages: a
refill's corrected values pass ``services.validate_fill`` and its warnings
must be confirmed; a dose change is recorded by ``services.adjust_dose``;
every clinical decimal is a ``ClinicalDecimalField``. Nothing clinical is
deleted here (section 9: mark it entered in error instead).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, QueryDict
from django.utils import timezone
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from core.clock import clinic_today
from core.formatting import plain_decimal
from core.roles import CLINICAL_ROLES, PHYSICIAN, has_role
from pumps import entry_safety, services, status
from pumps.choices import BatteryStatus, RefillStatus
from pumps.fields import ClinicalDecimalField
from pumps.models import (
    DoseAdjustment,
    Drug,
    Pump,
    PumpModel,
    Refill,
    SchedulePolicy,
)
from web.admin_access import SYSTEM, RoleAdmin
from web.pump_forms import warnings_digest

EMPTY = "—"


class NamedAutocompleteSelect(AutocompleteSelect):
    """The admin's search-as-you-type box, named by its field's label for screen
    readers (static/js/admin-autocomplete-names.js: with nothing chosen, select2
    leaves the box unnamed, WCAG 4.1.2)."""

    @property
    def media(self) -> forms.Media:
        # Naming autocomplete.js again ties the order: Media keeps the script after it
        # (and lists it once); without it the two lists' relative order is free.
        return super().media + forms.Media(
            js=["admin/js/autocomplete.js", "js/admin-autocomplete-names.js"]
        )


class HistoryReadOnlyAdmin(RoleAdmin, SimpleHistoryAdmin):
    """History is visible but cannot be reverted from the admin.

    Every role reads; each admin names who adds, changes and deletes
    (web/admin_access.py): nobody, unless it says so.

    Reverting saves an old version wholesale, which would bypass the services
    (a refill's sign-off, a pump's stored schedule); corrections go through
    the change form, where the checks and recomputations run.

    Every decimal reads a decimal comma and refuses ambiguous text, as on the
    staff pages (clinical-rules.md 8): no type=number box drops a character.
    """

    formfield_overrides = {models.DecimalField: {"form_class": ClinicalDecimalField}}

    def revert_disabled(self, request: HttpRequest, obj: Any = None) -> bool:
        return True

    def formfield_for_foreignkey(
        self, db_field: models.ForeignKey[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> forms.ModelChoiceField | None:
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(request):
            kwargs["widget"] = NamedAutocompleteSelect(
                db_field, self.admin_site, using=kwargs.get("using")
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def history_form_view(
        self,
        request: HttpRequest,
        object_id: str,
        version_id: str,
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        if request.method == "POST":
            raise PermissionDenied("Old versions can be viewed, not restored.")
        return super().history_form_view(request, object_id, version_id, extra_context)


def status_day(request: HttpRequest) -> tuple[date, int]:
    """The clinic's local today and the look-ahead, read once per request.

    The changelist, its filters and its rows all judge statuses on the same
    day; caching on the request also keeps the policy to one query per page.
    """
    cached = getattr(request, "_pump_status_day", None)
    if cached is None:
        cached = (clinic_today(), SchedulePolicy.current().lookahead_days)
        request._pump_status_day = cached  # type: ignore[attr-defined]
    return cached


class ExplantedFilter(admin.SimpleListFilter):
    title = "explanted"
    parameter_name = "explanted"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("no", "Active (in the patient)"), ("yes", "Explanted")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Pump]) -> QuerySet[Pump]:
        if self.value() == "no":
            return queryset.filter(explant_date__isnull=True)
        if self.value() == "yes":
            return queryset.filter(explant_date__isnull=False)
        return queryset


class RefillStatusFilter(admin.SimpleListFilter):
    """Active pumps by refill status on today (clinical-rules.md section 3)."""

    title = "refill status (today)"
    parameter_name = "refill_status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return list(RefillStatus.choices)

    def queryset(self, request: HttpRequest, queryset: QuerySet[Pump]) -> QuerySet[Pump]:
        value = self.value()
        if value is None or value not in RefillStatus.values:
            return queryset
        today, lookahead = status_day(request)
        # An explanted pump keeps its last stored dates but is on no list.
        return queryset.filter(
            status.first_match("refill", value, status.Day(today, lookahead)),
            explant_date__isnull=True,
        )


class BatteryStatusFilter(admin.SimpleListFilter):
    """Active pumps by battery status on today (clinical-rules.md section 5)."""

    title = "battery status (today)"
    parameter_name = "battery_status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return list(BatteryStatus.choices)

    def queryset(self, request: HttpRequest, queryset: QuerySet[Pump]) -> QuerySet[Pump]:
        value = self.value()
        if value is None or value not in BatteryStatus.values:
            return queryset
        today, _ = status_day(request)
        return queryset.filter(
            status.first_match("battery", value, status.Day(today, 0)),
            explant_date__isnull=True,
        )


# --- Catalogue and policy ------------------------------------------------------


@admin.register(PumpModel)
class PumpModelAdmin(HistoryReadOnlyAdmin):
    """The catalogue. The discrepancy threshold is read when a refill is judged, so
    changing it needs no recompute; the alarm volume and battery window do."""

    edit_roles = delete_roles = SYSTEM  # the catalogue is the system's

    list_display = [
        "code",
        "manufacturer",
        "name",
        "reservoir_ml",
        "alarm_ml",
        "discrepancy_threshold_ml",
        "has_battery",
        "battery_window",
        "battery_note",
    ]
    list_filter = ["manufacturer", "has_battery"]
    search_fields = ["code", "manufacturer", "name"]

    # Fields that enter a pump's stored schedule (sections 1, 3 and 5).
    schedule_fields = frozenset(
        {"alarm_ml", "has_battery", "battery_window_opens_years", "battery_window_closes_years"}
    )

    @admin.display(description="battery window (years)")
    def battery_window(self, obj: PumpModel) -> str:
        if not obj.has_battery:
            return EMPTY
        return f"{obj.battery_window_opens_years} to {obj.battery_window_closes_years}"

    def save_model(self, request: HttpRequest, obj: PumpModel, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change and self.schedule_fields & set(form.changed_data):
            count = services.recompute_schedules(Pump.objects.active().filter(model=obj))
            self.message_user(
                request, f"Recomputed the stored schedule of {count} active {obj.code} pumps."
            )


class DrugAdminForm(forms.ModelForm):
    class Meta:
        model = Drug
        fields = [
            "code",
            "name",
            "stability_days",
            "first_fill_stability_days",
            "undiluted_mcg_per_ml",
            "undiluted_stability_days",
            "urgent_when_due",
            "dose_warn_below_mcg_per_day",
            "dose_warn_above_mcg_per_day",
            "first_fill_dose_warn_above_mcg_per_day",
            "concentration_min_mcg_per_ml",
            "concentration_max_mcg_per_ml",
            "policy_note",
            "compounded",
            "pharmacy_lead_days",
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        low = cleaned.get("concentration_min_mcg_per_ml")
        high = cleaned.get("concentration_max_mcg_per_ml")
        if low is not None and high is not None and low > high:
            self.add_error(
                "concentration_max_mcg_per_ml",
                f"The highest accepted concentration ({plain_decimal(high)} mcg/mL) is below "
                f"the lowest ({plain_decimal(low)} mcg/mL).",
            )
        return cleaned


@admin.register(Drug)
class DrugAdmin(HistoryReadOnlyAdmin):
    """Drugs; the accepted concentration range is read whenever a fill is checked."""

    edit_roles = delete_roles = SYSTEM

    form = DrugAdminForm
    list_display = [
        "code",
        "name",
        "stability_days",
        "first_fill_stability_days",
        "undiluted_stability_days",
        "urgent_when_due",
        "accepted_concentrations",
        "policy_note",
    ]
    list_filter = ["urgent_when_due"]
    search_fields = ["code", "name"]

    schedule_fields = frozenset(
        {
            "stability_days",
            "first_fill_stability_days",
            "undiluted_mcg_per_ml",
            "undiluted_stability_days",
        }
    )

    @admin.display(description="accepted concentration (mcg/mL)")
    def accepted_concentrations(self, obj: Drug) -> str:
        low, high = obj.concentration_min_mcg_per_ml, obj.concentration_max_mcg_per_ml
        if low is None and high is None:
            return "any"
        return f"{plain_decimal(low) if low is not None else '0'} to " + (
            plain_decimal(high) if high is not None else "any"
        )

    def save_model(self, request: HttpRequest, obj: Drug, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change and self.schedule_fields & set(form.changed_data):
            count = services.recompute_schedules(
                Pump.objects.active().filter(latest_fill__drug=obj)
            )
            self.message_user(
                request,
                f"Recomputed the stored schedule of {count} active pumps filled with {obj}.",
            )


@admin.register(SchedulePolicy)
class SchedulePolicyAdmin(HistoryReadOnlyAdmin):
    edit_roles = SYSTEM
    list_display = [
        "__str__",
        "refill_margin_days",
        "lookahead_days",
        "dose_change_warn_percent",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # One row (pk=1); the catalogue migration creates it.
        return super().has_add_permission(request) and not SchedulePolicy.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(
        self, request: HttpRequest, obj: SchedulePolicy, form: Any, change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        # Only the margin is stored in the dates; look-ahead and thresholds are
        # read when a status or a refill is judged.
        if "refill_margin_days" in form.changed_data:
            count = services.recompute_schedules()
            self.message_user(request, f"Recomputed the stored schedule of {count} active pumps.")


# --- Pumps -----------------------------------------------------------------------


class PumpAdminForm(forms.ModelForm):
    """The checks of ``services.implant_pump`` and ``explant_pump``, in form words."""

    class Meta:
        model = Pump
        fields = [
            "patient",
            "model",
            "serial",
            "implant_date",
            "alarm_ml_override",
            "explant_date",
            "explant_reason",
            "eri_reported_on",
        ]

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        today = clinic_today()
        patient = cleaned.get("patient") or getattr(self.instance, "patient", None)
        model = cleaned.get("model")
        implant_date = cleaned.get("implant_date")
        explant_date = cleaned.get("explant_date")
        explant_reason = cleaned.get("explant_reason")
        serial = (cleaned.get("serial") or "").strip()
        if "serial" in cleaned:
            if refusal := entry_safety.serial_refusal(serial):
                self.add_error("serial", refusal)
            elif Pump.objects.filter(serial__iexact=serial).exclude(pk=self.instance.pk).exists():
                self.add_error("serial", f"A pump with serial {serial} is already recorded.")
            else:
                cleaned["serial"] = serial
        if implant_date and (
            refusal := entry_safety.date_refusal(implant_date, today=today, happened=True)
        ):
            self.add_error("implant_date", refusal)
        elif implant_date and patient is not None and implant_date < patient.birth_date:
            self.add_error(
                "implant_date",
                f"The implant date is before the patient's birth ({patient.birth_date}).",
            )
        if explant_date and (
            refusal := entry_safety.date_refusal(explant_date, today=today, happened=True)
        ):
            self.add_error("explant_date", refusal)
        elif explant_date and implant_date and explant_date < implant_date:
            self.add_error("explant_date", "The explant date cannot be before the implant date.")
        if explant_date and not explant_reason:
            self.add_error("explant_reason", "Choose the reason for the explant.")
        if explant_reason and not explant_date:
            self.add_error("explant_date", "Enter the explant date, or clear the reason.")
        override = cleaned.get("alarm_ml_override")
        if model and override is not None and override >= model.reservoir_ml:
            self.add_error(
                "alarm_ml_override", "The alarm volume must be below the reservoir size."
            )
        eri = cleaned.get("eri_reported_on")
        if eri and model and not model.has_battery:
            self.add_error(
                "eri_reported_on", f"A {model.code} pump has no battery and shows no ERI."
            )
        elif eri and (refusal := entry_safety.date_refusal(eri, today=today, happened=True)):
            self.add_error("eri_reported_on", refusal)
        if patient is not None and not explant_date:
            others = Pump.objects.active().filter(patient=patient).exclude(pk=self.instance.pk)
            if others.exists():
                raise ValidationError(
                    "This patient already has an active pump; record its explant first."
                )
        return cleaned


@admin.register(Pump)
class PumpAdmin(HistoryReadOnlyAdmin):
    # Implant, explant and ERI are the physician's (the staff pages' explant and
    # implant are physicians' pages too).
    edit_roles = (PHYSICIAN,)
    form = PumpAdminForm
    list_display = [
        "serial",
        "patient",
        "model_code",
        "drug",
        "refill_status_label",
        "refill_due",
        "refill_deadline",
        "battery_status_label",
        "battery_window_closes",
        "open_discrepancy",
        "explant_date",
    ]
    list_select_related = ["patient", "model", "latest_fill__drug"]
    list_filter = [
        RefillStatusFilter,
        BatteryStatusFilter,
        ExplantedFilter,
        "model",
        ("latest_fill__drug", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = ["serial", "patient__mrn", "patient__family_name", "patient__given_name"]
    autocomplete_fields = ["patient"]
    actions = ["recompute_schedule"]
    # The total count is one more query per page and adds nothing here.
    show_full_result_count = False
    schedule_readonly = ("latest_fill", *services.SCHEDULE_FIELDS)
    status_readonly = ("refill_status_label", "battery_status_label")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Clinical records are never deleted here (section 9); an explant ends a pump.
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Pump]:
        today, lookahead = status_day(request)
        return super().get_queryset(request).with_statuses(today, lookahead)  # type: ignore[attr-defined]

    def get_readonly_fields(self, request: HttpRequest, obj: Pump | None = None) -> Sequence[str]:
        fields = [*self.schedule_readonly]
        if obj is not None:
            # A device never moves between patients; record a new pump instead.
            fields += ["patient", *self.status_readonly]
        return fields

    def get_fieldsets(self, request: HttpRequest, obj: Pump | None = None) -> Any:
        statuses = obj is not None
        return [
            (None, {"fields": ["patient", "model", "serial", "implant_date", "alarm_ml_override"]}),
            ("Explant", {"fields": ["explant_date", "explant_reason"]}),
            (
                "Battery",
                {
                    "fields": [
                        "eri_reported_on",
                        "battery_window_opens",
                        "battery_window_closes",
                        *(["battery_status_label"] if statuses else []),
                    ]
                },
            ),
            (
                "Stored schedule",
                {
                    "description": "Computed from the latest fill by the scheduling service "
                    "and recomputed whenever this pump is saved; not edited by hand.",
                    "fields": [
                        *(["refill_status_label"] if statuses else []),
                        "latest_fill",
                        "refill_alarm",
                        "refill_deadline",
                        "refill_due",
                        "refill_limited_by",
                    ],
                },
            ),
        ]

    @admin.display(description="model", ordering="model__code")
    def model_code(self, obj: Pump) -> str:
        return obj.model.code

    @admin.display(description="drug", ordering="latest_fill__drug__name")
    def drug(self, obj: Pump) -> str:
        return str(obj.latest_fill.drug) if obj.latest_fill is not None else EMPTY

    @admin.display(description="refill", ordering="refill_deadline")
    def refill_status_label(self, obj: Pump) -> str:
        value = getattr(obj, "refill_status", None)
        if not obj.is_active or not isinstance(value, str):
            return EMPTY
        label = RefillStatus(value).label
        fill = obj.latest_fill
        if fill is not None and status.is_urgent(value, fill.drug.urgent_when_due):
            return format_html("<strong>{} (urgent: {})</strong>", label, fill.drug)
        return label

    @admin.display(description="battery", ordering="battery_window_closes")
    def battery_status_label(self, obj: Pump) -> str:
        value = getattr(obj, "battery_status", None)
        if not obj.is_active or not isinstance(value, str):
            return EMPTY
        return BatteryStatus(value).label

    @admin.display(description="residual flag open", boolean=True)
    def open_discrepancy(self, obj: Pump) -> bool:
        return obj.has_unsigned_discrepancy

    def save_model(self, request: HttpRequest, obj: Pump, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        # The INSERT/UPDATE above holds this row until the admin's transaction
        # commits, so the recompute cannot interleave with a refill being saved.
        services.store_schedule(obj, policy=SchedulePolicy.current())

    @admin.action(description="Recompute stored schedule")
    def recompute_schedule(self, request: HttpRequest, queryset: QuerySet[Pump]) -> None:
        count = services.recompute_schedules(queryset)
        self.message_user(
            request, f"Recomputed the stored schedule of {count} pumps.", messages.SUCCESS
        )


# --- Refills and dose changes ---------------------------------------------------------


class DiscrepancyFilter(admin.SimpleListFilter):
    title = "residual discrepancy"
    parameter_name = "discrepancy"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("open", "Awaiting sign-off"), ("signed", "Signed off"), ("none", "None")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Refill]) -> QuerySet[Refill]:
        if self.value() == "open":
            return queryset.filter(discrepancy=True, discrepancy_signed_off_at__isnull=True)
        if self.value() == "signed":
            return queryset.filter(discrepancy=True, discrepancy_signed_off_at__isnull=False)
        if self.value() == "none":
            return queryset.filter(discrepancy=False)
        return queryset


def with_unit(amount: Any, unit: str) -> str:
    return f"{plain_decimal(amount)} {unit}"


# A refill's clinical values, corrected through services.correct_fill. Its
# pump and date are not: a refill on the wrong pump or day is marked entered
# in error and recorded again (section 9).
REFILL_CLINICAL_FIELDS = services.CORRECTABLE_FILL_FIELDS
ENTERED_IN_ERROR_FIELDS = ("entered_in_error_at", "entered_in_error_by", "entered_in_error_reason")


class RefillAdminForm(forms.ModelForm):
    """A correction of a refill passes section 8 as a new one does on the refill form."""

    sign_off = forms.BooleanField(
        required=False,
        label="Sign off the discrepancy now",
        help_text="Signs the residual-volume flag off as you, now, with the comment above.",
    )
    confirm_warnings = forms.BooleanField(
        required=False,
        label="I have checked the warnings and want to save these values",
    )
    warnings_digest = forms.CharField(required=False, widget=forms.HiddenInput)

    class Meta:
        model = Refill
        fields = [
            *REFILL_CLINICAL_FIELDS,
            "pain_score",
            "ashworth_score",
            "discrepancy_comment",
            "notes",
        ]

    locked_pump: Pump | None = None

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        refill = self.instance
        if cleaned.get("sign_off"):
            if not refill.discrepancy:
                self.add_error("sign_off", "This refill has no residual-volume discrepancy.")
            elif refill.discrepancy_signed_off_at is not None:
                self.add_error("sign_off", "This discrepancy is already signed off.")
            elif not (cleaned.get("discrepancy_comment") or "").strip():
                self.add_error("discrepancy_comment", "Say what was found or decided.")
        if self.clinical_changes() and not self.errors:
            self._check_fill(cleaned)
        return cleaned

    def clinical_changes(self) -> set[str]:
        return set(self.changed_data) & set(REFILL_CLINICAL_FIELDS)

    def as_fill(self) -> services.Fill:
        # Its date is the recorded refill's own: a wrong day is entered in error.
        return services.Fill.of(self.cleaned_data, refill_date=self.instance.refill_date)

    def _check_fill(self, cleaned: dict[str, Any]) -> None:
        # The admin's change view runs in a transaction: the lock taken here
        # holds until the save, so the pump cannot change in between.
        pump = self.locked_pump = (
            Pump.objects.select_for_update()
            .select_related("model", "patient")
            .get(pk=self.instance.pump_id)
        )
        fill = self.as_fill()
        try:
            services.validate_fill(
                pump=pump, fill=fill, today=clinic_today(), correcting=self.instance
            )
        except ValidationError as error:
            for field, messages in error.message_dict.items():
                self.add_error(field if field in self.fields else None, messages)
            return
        warnings = [
            warning.message
            for warning in services.fill_warnings(
                pump=pump, fill=fill, policy=SchedulePolicy.current()
            )
        ]
        digest = warnings_digest(warnings)
        if warnings and not (
            cleaned.get("confirm_warnings") and cleaned.get("warnings_digest") == digest
        ):
            # Each set of warnings needs its own decision: untick, and ask.
            data = cast(QueryDict, self.data).copy()
            data["confirm_warnings"] = ""
            data["warnings_digest"] = digest
            self.data = data
            self.add_error("confirm_warnings", warnings)


@admin.register(Refill)
class RefillAdmin(HistoryReadOnlyAdmin):
    """Refills: corrected here through the services, never added or deleted.

    A new refill is recorded on the refill form (``services.record_fill``). A
    correction here passes ``services.validate_fill`` and asks to confirm
    ``services.fill_warnings``; the save then recomputes the residual check,
    the next refill's check and the pump's stored schedule. A refill marked
    entered in error keeps its values: only its notes can change.
    """

    edit_roles = CLINICAL_ROLES  # the sign-off on the form: physicians only
    form = RefillAdminForm
    list_display = [
        "refill_date",
        "pump_serial",
        "patient",
        "drug",
        "concentration_display",
        "dose_display",
        "bolus_display",
        "volume_ml",
        "residual_ml",
        "expected_residual_ml",
        "discrepancy_state",
        "eri",
        "in_error",
    ]
    list_select_related = ["pump__patient", "drug"]
    list_filter = [DiscrepancyFilter, "drug", "eri", "refill_date"]
    search_fields = [
        "pump__serial",
        "pump__patient__mrn",
        "pump__patient__family_name",
        "pump__patient__given_name",
    ]
    show_full_result_count = False
    always_readonly = (
        "pump",
        "refill_date",
        "recorded_by",
        "created_at",
        "expected_residual_range",
        "discrepancy",
        "discrepancy_signed_off_by",
        "discrepancy_signed_off_at",
        *ENTERED_IN_ERROR_FIELDS,
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: Refill | None = None) -> Sequence[str]:
        fields = [*self.always_readonly]
        if obj is not None and obj.is_entered_in_error:
            fields += [*REFILL_CLINICAL_FIELDS, "pain_score", "ashworth_score"]
        if obj is not None and not obj.discrepancy:
            fields.append("discrepancy_comment")
        return fields

    def get_fieldsets(self, request: HttpRequest, obj: Refill | None = None) -> Any:
        residual = [
            "residual_ml",
            "expected_residual_range",
            "discrepancy",
            "discrepancy_signed_off_by",
            "discrepancy_signed_off_at",
            "discrepancy_comment",
        ]
        if (
            obj is not None
            and obj.discrepancy
            and obj.discrepancy_signed_off_at is None
            and has_role(request.user, PHYSICIAN)
        ):
            residual.append("sign_off")
        fieldsets: list[Any] = [
            (
                "Visit",
                {
                    "description": "The pump and date cannot change: mark a refill on the "
                    "wrong pump or day entered in error and record it again. Corrected values "
                    "pass the same checks as the refill form and move the pump's dates.",
                    "fields": ["pump", "refill_date", "recorded_by", "created_at"],
                },
            ),
            (
                "Drug and dose",
                {
                    "fields": [
                        "drug",
                        ("concentration", "concentration_unit"),
                        ("daily_dose", "dose_unit"),
                        ("bolus_dose", "boluses_per_day"),
                        "volume_ml",
                    ],
                    "description": "The bolus dose is in the daily dose's unit; the refill "
                    "dates assume every allowed bolus is taken.",
                },
            ),
            ("Residual volume check", {"fields": residual}),
            ("Interrogation and scores", {"fields": ["eri", "pain_score", "ashworth_score"]}),
            ("Notes", {"fields": ["notes"]}),
        ]
        if obj is None or not obj.is_entered_in_error:
            fieldsets.append(
                (
                    "Confirm warnings",
                    {"fields": ["confirm_warnings", "warnings_digest"]},
                )
            )
        fieldsets.append(("Entered in error", {"fields": [*ENTERED_IN_ERROR_FIELDS]}))
        return fieldsets

    @admin.display(description="pump", ordering="pump__serial")
    def pump_serial(self, obj: Refill) -> str:
        return obj.pump.serial

    @admin.display(description="patient", ordering="pump__patient__family_name")
    def patient(self, obj: Refill) -> str:
        return str(obj.pump.patient)

    @admin.display(description="concentration")
    def concentration_display(self, obj: Refill) -> str:
        return with_unit(obj.concentration, obj.concentration_unit)

    @admin.display(description="daily dose")
    def dose_display(self, obj: Refill) -> str:
        return with_unit(obj.daily_dose, obj.dose_unit)

    @admin.display(description="boluses")
    def bolus_display(self, obj: Refill) -> str:
        if not obj.bolus_dose:
            return EMPTY
        unit = obj.dose_unit.removesuffix("/day")
        return f"{obj.boluses_per_day} x {plain_decimal(obj.bolus_dose)} {unit} a day"

    @admin.display(description="expected residual")
    def expected_residual_range(self, obj: Refill) -> str:
        if obj.expected_residual_ml is None:
            return EMPTY
        high = plain_decimal(obj.expected_residual_ml)
        if obj.expected_residual_low_ml is None:
            return f"about {high} mL"
        return f"between {plain_decimal(obj.expected_residual_low_ml)} and {high} mL"

    @admin.display(description="discrepancy")
    def discrepancy_state(self, obj: Refill) -> str:
        if not obj.discrepancy:
            return EMPTY
        return "Signed off" if obj.discrepancy_signed_off_at else "Awaiting sign-off"

    @admin.display(description="entered in error", boolean=True)
    def in_error(self, obj: Refill) -> bool:
        return obj.is_entered_in_error

    def save_model(self, request: HttpRequest, obj: Refill, form: Any, change: bool) -> None:
        # Notes, scores and the comment are saved as typed; the clinical values
        # go through the service, which recomputes what follows from them.
        columns = {field.name for field in Refill._meta.concrete_fields}
        plain = [
            name
            for name in form.changed_data
            if name in columns and name not in REFILL_CLINICAL_FIELDS
        ]
        if plain:
            obj.save(update_fields=plain)
        if form.clinical_changes():
            services.correct_fill(refill=obj, fill=form.as_fill(), today=clinic_today())
        if form.cleaned_data.get("sign_off"):
            services.sign_off_discrepancy(
                refill=obj,
                user=request.user,
                comment=obj.discrepancy_comment,
                now=timezone.now(),
            )
        obj.refresh_from_db()


class DoseAdjustmentAdminForm(forms.ModelForm):
    """A new dose change is recorded by ``services.adjust_dose``, which decides."""

    class Meta:
        model = DoseAdjustment
        fields = ["pump", "adjusted_on", "daily_dose", "dose_unit", "notes"]

    recorded_by: Any = None
    created: DoseAdjustment | None = None

    def _post_clean(self) -> None:
        super()._post_clean()  # type: ignore[misc]
        if self.instance.pk is not None or self.errors:
            return
        data = self.cleaned_data
        # The service writes here, inside the admin's transaction, so that its
        # refusals show on the form; save_model then keeps what it wrote.
        try:
            self.created = services.adjust_dose(
                pump=data["pump"],
                adjusted_on=data["adjusted_on"],
                daily_dose=data["daily_dose"],
                dose_unit=data["dose_unit"],
                today=clinic_today(),
                notes=data.get("notes", ""),
                recorded_by=self.recorded_by,
            )
        except ValidationError as error:
            for field, messages in error.message_dict.items():
                self.add_error(field if field in self.fields else None, messages)


@admin.register(DoseAdjustment)
class DoseAdjustmentAdmin(HistoryReadOnlyAdmin):
    """Reprogrammings without a refill, recorded through ``services.adjust_dose``.

    A recorded one keeps its date and dose (only its notes change): a wrong
    one is marked entered in error and recorded again (section 9).
    """

    edit_roles = CLINICAL_ROLES
    form = DoseAdjustmentAdminForm
    list_display = [
        "adjusted_on",
        "pump_serial",
        "patient",
        "dose_display",
        "recorded_by",
        "in_error",
    ]
    list_select_related = ["pump__patient", "recorded_by"]
    list_filter = ["adjusted_on", "dose_unit"]
    search_fields = ["pump__serial", "pump__patient__mrn", "pump__patient__family_name"]
    autocomplete_fields = ["pump"]
    show_full_result_count = False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"recorded_by": request.user})

    def get_readonly_fields(
        self, request: HttpRequest, obj: DoseAdjustment | None = None
    ) -> Sequence[str]:
        if obj is None:
            return []
        return [
            "pump",
            "adjusted_on",
            "daily_dose",
            "dose_unit",
            "recorded_by",
            *ENTERED_IN_ERROR_FIELDS,
        ]

    def get_fields(self, request: HttpRequest, obj: DoseAdjustment | None = None) -> Sequence[str]:
        fields = ["pump", "adjusted_on", "daily_dose", "dose_unit", "notes"]
        if obj is not None:
            fields += ["recorded_by", *ENTERED_IN_ERROR_FIELDS]
        return fields

    @admin.display(description="pump", ordering="pump__serial")
    def pump_serial(self, obj: DoseAdjustment) -> str:
        return obj.pump.serial

    @admin.display(description="patient", ordering="pump__patient__family_name")
    def patient(self, obj: DoseAdjustment) -> str:
        return str(obj.pump.patient)

    @admin.display(description="daily dose")
    def dose_display(self, obj: DoseAdjustment) -> str:
        return with_unit(obj.daily_dose, obj.dose_unit)

    @admin.display(description="entered in error", boolean=True)
    def in_error(self, obj: DoseAdjustment) -> bool:
        return obj.is_entered_in_error

    def save_model(
        self, request: HttpRequest, obj: DoseAdjustment, form: Any, change: bool
    ) -> None:
        if change:
            # Only the notes change here: the dates stay as they are.
            super().save_model(request, obj, form, change)
            return
        created = form.created
        assert created is not None  # the form is valid only once the service recorded it
        obj.pk = created.pk
        obj.recorded_by = created.recorded_by
        obj._state.adding = False
