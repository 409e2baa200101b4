"""Admin for patients, trials and clinical events."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest
from django.utils import timezone

from care import registration, rules
from care import services as patient_services
from care.choices import TrialDecision, TrialOutcome, VisitKind, VisitStatus
from care.models import Appointment, Complication, MriScan, Trial
from core.clock import clinic_today
from core.roles import ADMINISTRATOR, CLINICAL_ROLES, PHYSICIAN, has_role
from patients.choices import ContactBy
from patients.models import Patient
from patients.phones import PhoneRefused, normalise_phone
from pumps import entry_safety, services
from pumps.models import Pump
from web.admin_access import RoleAdmin
from web.pump_admin import EMPTY, HistoryReadOnlyAdmin

PUMP_INLINE_FIELDS = (
    "serial",
    "model",
    "implant_date",
    "explant_date",
    "explant_reason",
    "refill_due",
    "refill_deadline",
    "battery_window_closes",
)


class PumpInline(RoleAdmin, admin.TabularInline):
    """The patient's pumps, read-only: devices are edited on their own page."""

    model = Pump
    fields = PUMP_INLINE_FIELDS
    readonly_fields = PUMP_INLINE_FIELDS
    extra = 0
    can_delete = False
    show_change_link = True
    view_on_site = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Pump]:
        return super().get_queryset(request).select_related("model")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ActivePumpFilter(admin.SimpleListFilter):
    title = "active pump"
    parameter_name = "has_pump"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Has an active pump"), ("no", "No active pump")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Patient]) -> QuerySet[Patient]:
        if self.value() == "yes":
            return queryset.filter(active_pump_serial__isnull=False)  # type: ignore[misc]
        if self.value() == "no":
            return queryset.filter(active_pump_serial__isnull=True)  # type: ignore[misc]
        return queryset


class PhoneToCorrectFilter(admin.SimpleListFilter):
    """Patients whose phone, recorded before numbers were checked, could not be read."""

    title = "phone to correct"
    parameter_name = "phone_to_correct"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Phone as recorded, not a valid number")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            return queryset.exclude(phone_as_recorded="")
        return queryset


class PatientAdminForm(forms.ModelForm):
    """The birth date passes the checks of the staff pages (clinical-rules.md 8)."""

    class Meta:
        model = Patient
        fields = [
            "mrn",
            "family_name",
            "given_name",
            "birth_date",
            "phone",
            "phone_as_recorded",
            "email",
            "contact_by",
            "consent_to_contact",
            "consent_recorded_on",
            "consent_source",
            "preferred_language",
            "indication",
            "status",
            "treating_physician",
            "travel_buffer_days",
            "notes",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Left empty (an older saved form, a script): not to be contacted.
        if "contact_by" in self.fields:
            self.fields["contact_by"].required = False

    def clean_contact_by(self) -> Any:
        return self.cleaned_data.get("contact_by") or ContactBy.NONE

    def clean_mrn(self) -> Any:
        """The staff form's record-number rule (issue 14): stripped, no invisible
        character, no duplicate in another case."""
        mrn = self.cleaned_data.get("mrn") or ""
        if refusal := registration.mrn_refusal(
            mrn, patient=self.instance if self.instance.pk else None
        ):
            raise forms.ValidationError(refusal)
        return mrn.strip()

    def clean_phone(self) -> Any:
        """Read by the one phone rule (patients.phones): stored in E.164."""
        try:
            return normalise_phone(self.cleaned_data.get("phone") or "").e164
        except PhoneRefused as refusal:
            raise forms.ValidationError(str(refusal)) from None

    def clean_birth_date(self) -> Any:
        birth_date = self.cleaned_data.get("birth_date")
        if birth_date is not None and (
            refusal := patient_services.birth_date_refusal(
                birth_date=birth_date, today=clinic_today(), patient=self.instance
            )
        ):
            raise forms.ValidationError(refusal)
        return birth_date


@admin.register(Patient)
class PatientAdmin(HistoryReadOnlyAdmin):
    # Registering patients and their details is the office's as much as the
    # clinicians' (the import does it too); their status is the clinicians'.
    edit_roles = (ADMINISTRATOR, *CLINICAL_ROLES)
    delete_roles = (ADMINISTRATOR,)  # a patient with any record cannot be deleted (PROTECT)
    form = PatientAdminForm
    list_display = [
        "mrn",
        "family_name",
        "given_name",
        "birth_date",
        "indication",
        "status",
        "treating_physician",
        "travel_buffer_days",
        "active_pump",
    ]
    list_display_links = ["mrn", "family_name"]
    list_select_related = ["treating_physician"]
    list_filter = [
        "status",
        "indication",
        ActivePumpFilter,
        PhoneToCorrectFilter,
        "treating_physician",
    ]
    search_fields = ["mrn", "family_name", "given_name"]
    readonly_fields = ["created_at", "consent_withdrawn_at", "consent_withdrawn_via"]
    inlines = [PumpInline]
    show_full_result_count = False
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "mrn",
                    ("family_name", "given_name"),
                    "birth_date",
                    ("phone", "phone_as_recorded"),
                ]
            },
        ),
        ("Care", {"fields": ["indication", "status", "treating_physician"]}),
        (
            "Contact",
            {
                "fields": [
                    "email",
                    "contact_by",
                    ("consent_to_contact", "consent_recorded_on", "consent_source"),
                    "preferred_language",
                    ("consent_withdrawn_at", "consent_withdrawn_via"),
                ]
            },
        ),
        ("Scheduling", {"fields": ["travel_buffer_days"]}),
        (None, {"fields": ["notes", "created_at"]}),
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = [*super().get_readonly_fields(request, obj)]
        if not has_role(request.user, *CLINICAL_ROLES):
            fields.append("status")  # referred, implanted...: set by clinical decisions
        return fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Patient]:
        active = Pump.objects.active().filter(patient=OuterRef("pk")).values("serial")[:1]
        return super().get_queryset(request).annotate(active_pump_serial=Subquery(active))

    @admin.display(description="active pump", ordering="active_pump_serial")
    def active_pump(self, obj: Patient) -> str:
        return getattr(obj, "active_pump_serial", None) or EMPTY

    def save_model(self, request: HttpRequest, obj: Patient, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        # The travel buffer is part of the refill margin (clinical-rules.md
        # section 3), so it moves the stored due date of the patient's pumps.
        if change and "travel_buffer_days" in form.changed_data:
            count = services.recompute_schedules(Pump.objects.active().filter(patient=obj))
            if count:
                self.message_user(request, f"Recomputed the refill dates of {count} pump(s).")


def _check_event_date(
    form: forms.ModelForm, field: str, *, what: str, since_birth: bool = True
) -> None:
    """The checks of the staff pages on a date an event happened (clinical-rules.md 8)."""
    day = form.cleaned_data.get(field)
    if day is None:
        return
    patient = form.cleaned_data.get("patient") if since_birth else None
    refusal = patient_services.event_date_refusal(
        day,
        what=what,
        today=clinic_today(),
        birth_date=patient.birth_date if patient is not None else None,
    )
    if refusal:
        form.add_error(field, refusal)


class TrialAdminForm(forms.ModelForm):
    class Meta:
        model = Trial
        fields = [
            "patient",
            "trial_date",
            "method",
            "drug",
            "dose",
            "dose_unit",
            "scale",
            "score_before",
            "score_after",
            "decision",
            "final_outcome",
            "decision_reason",
            "referred_for_implant",
            "notes",
        ]

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        _check_event_date(self, "trial_date", what="the trial date")
        dose = cleaned.get("dose")
        if dose is not None and dose <= 0:
            self.add_error("dose", f"A trial dose of {dose.normalize():f} is no dose: above zero.")
        scale = cleaned.get("scale")
        before, after = cleaned.get("score_before"), cleaned.get("score_after")
        computed = None
        if scale and before is not None and after is not None:
            try:
                computed = rules.trial_outcome(scale=scale, before=before, after=after)
            except rules.ScoreError as error:
                self.add_error("score_after", str(error))
        decision = cleaned.get("decision")
        final = cleaned.get("final_outcome")
        if decision == TrialDecision.PENDING:
            if final:
                self.add_error("final_outcome", "Leave empty until the physician decides.")
            if cleaned.get("referred_for_implant"):
                self.add_error("referred_for_implant", "Only a decided success is referred.")
        elif decision == TrialDecision.CONFIRMED and computed is not None:
            if final and final != computed:
                self.add_error(
                    "final_outcome",
                    f"Confirming keeps the computed outcome ({computed.label.lower()}); "
                    "choose 'overridden' to change it.",
                )
            cleaned["final_outcome"] = computed
        elif decision == TrialDecision.OVERRIDDEN:
            if not final or final == computed:
                self.add_error(
                    "final_outcome", "Choose the outcome that replaces the computed one."
                )
            if not (cleaned.get("decision_reason") or "").strip():
                self.add_error("decision_reason", "Say why the computed outcome is overridden.")
        if cleaned.get("referred_for_implant") and cleaned.get("final_outcome") not in (
            TrialOutcome.SUCCESS,
            None,
        ):
            self.add_error("referred_for_implant", "Only a successful trial is referred.")
        return cleaned


@admin.register(Trial)
class TrialAdmin(HistoryReadOnlyAdmin):
    edit_roles = (PHYSICIAN,)  # recording and deciding trials is the physician's
    form = TrialAdminForm
    list_display = [
        "trial_date",
        "patient",
        "method",
        "drug",
        "dose_display",
        "scores",
        "computed",
        "decision",
        "final_outcome",
        "referred_for_implant",
    ]
    list_select_related = ["patient", "drug"]
    list_filter = ["decision", "final_outcome", "referred_for_implant", "scale", "method", "drug"]
    search_fields = ["patient__mrn", "patient__family_name", "patient__given_name"]
    autocomplete_fields = ["patient"]
    readonly_fields = ["computed", "decided_by", "decided_at"]
    show_full_result_count = False
    fieldsets = [
        (None, {"fields": ["patient", "trial_date", "method", ("drug", "dose", "dose_unit")]}),
        ("Scores", {"fields": ["scale", ("score_before", "score_after"), "computed"]}),
        (
            "Physician's decision",
            {
                "fields": [
                    "decision",
                    "final_outcome",
                    "decision_reason",
                    "referred_for_implant",
                    ("decided_by", "decided_at"),
                ]
            },
        ),
        (None, {"fields": ["notes"]}),
    ]

    @admin.display(description="dose")
    def dose_display(self, obj: Trial) -> str:
        return f"{obj.dose.normalize():f} {obj.dose_unit}"

    @admin.display(description="before → after")
    def scores(self, obj: Trial) -> str:
        return f"{obj.score_before} → {obj.score_after}"

    @admin.display(description="computed outcome")
    def computed(self, obj: Trial) -> str:
        if not obj.pk:
            return EMPTY
        try:
            return obj.computed_outcome.label
        except rules.ScoreError:
            return EMPTY

    def save_model(self, request: HttpRequest, obj: Trial, form: Any, change: bool) -> None:
        if obj.decision == TrialDecision.PENDING:
            obj.final_outcome = ""
            obj.decided_by = None
            obj.decided_at = None
        elif "decision" in form.changed_data or obj.decided_by_id is None:
            obj.decided_by = request.user  # type: ignore[assignment]
            obj.decided_at = timezone.now()
        super().save_model(request, obj, form, change)


class ComplicationAdminForm(forms.ModelForm):
    class Meta:
        model = Complication
        fields = ["patient", "pump", "occurred_on", "kind", "severity", "outcome", "notes"]

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        patient, pump = cleaned.get("patient"), cleaned.get("pump")
        if patient is not None and pump is not None and pump.patient_id != patient.pk:
            self.add_error("pump", "This pump belongs to another patient.")
        _check_event_date(self, "occurred_on", what="the complication date")
        return cleaned


@admin.register(Complication)
class ComplicationAdmin(HistoryReadOnlyAdmin):
    edit_roles = (PHYSICIAN,)
    form = ComplicationAdminForm
    list_display = ["occurred_on", "patient", "kind", "severity", "outcome", "pump_serial"]
    list_select_related = ["patient", "pump"]
    list_filter = ["kind", "severity", "outcome"]
    search_fields = ["patient__mrn", "patient__family_name", "pump__serial"]
    autocomplete_fields = ["patient", "pump"]
    readonly_fields = ["recorded_by"]
    show_full_result_count = False

    @admin.display(description="pump", ordering="pump__serial")
    def pump_serial(self, obj: Complication) -> str:
        return obj.pump.serial if obj.pump is not None else EMPTY

    def save_model(self, request: HttpRequest, obj: Complication, form: Any, change: bool) -> None:
        if not change and obj.recorded_by_id is None:
            obj.recorded_by = request.user  # type: ignore[assignment]
        super().save_model(request, obj, form, change)


class PumpCheckFilter(admin.SimpleListFilter):
    title = "post-MRI pump check"
    parameter_name = "pump_check"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("pending", "Pending"), ("done", "Done")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[MriScan]) -> QuerySet[MriScan]:
        if self.value() == "pending":
            return queryset.filter(pump_checked_on__isnull=True)
        if self.value() == "done":
            return queryset.filter(pump_checked_on__isnull=False)
        return queryset


class MriScanAdminForm(forms.ModelForm):
    class Meta:
        model = MriScan
        fields = ["patient", "scanned_on", "pump_checked_on", "notes"]

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        _check_event_date(self, "scanned_on", what="the scan date")
        _check_event_date(self, "pump_checked_on", what="the pump check date", since_birth=False)
        scanned, checked = cleaned.get("scanned_on"), cleaned.get("pump_checked_on")
        if scanned and checked and checked < scanned:
            self.add_error("pump_checked_on", "The pump check comes on or after the scan.")
        return cleaned


@admin.register(MriScan)
class MriScanAdmin(HistoryReadOnlyAdmin):
    """MRIs; a SynchroMed pump must be interrogated the same day (section 7)."""

    edit_roles = (PHYSICIAN,)
    form = MriScanAdminForm
    list_display = ["scanned_on", "patient", "pump_checked_on", "check_pending"]
    list_select_related = ["patient"]
    list_filter = [PumpCheckFilter, "scanned_on"]
    search_fields = ["patient__mrn", "patient__family_name", "patient__given_name"]
    autocomplete_fields = ["patient"]
    show_full_result_count = False

    @admin.display(description="check pending", boolean=True)
    def check_pending(self, obj: MriScan) -> bool:
        return obj.pump_checked_on is None


class AppointmentAdminForm(forms.ModelForm):
    class Meta:
        model = Appointment
        fields = ["patient", "pump", "kind", "scheduled_at", "room", "status", "notes"]

    def clean(self) -> dict[str, Any]:
        # The rules of care.services.book_visit that hold for any edit.
        super().clean()
        cleaned = self.cleaned_data
        patient, pump = cleaned.get("patient"), cleaned.get("pump")
        if patient is not None and pump is not None and pump.patient_id != patient.pk:
            self.add_error("pump", "This pump belongs to another patient.")
        if cleaned.get("kind") == VisitKind.REFILL and pump is None:
            self.add_error("pump", "A refill visit needs the patient's active pump.")
        self._check_booking(cleaned)
        return cleaned

    def _check_booking(self, cleaned: dict[str, Any]) -> None:
        """The date rules of book_visit: any date within the app's bounds; a visit
        booked or moved here from today up to two years ahead, never for an
        explanted pump, one per pump, kind and day (clinical-rules.md 8)."""
        moment = cleaned.get("scheduled_at")
        if moment is None:
            return
        today = clinic_today()
        day = timezone.localtime(moment).date()
        if refusal := entry_safety.date_refusal(day, today=today, happened=False):
            self.add_error("scheduled_at", f"The visit date {refusal}")
            return
        booking = cleaned.get("status") == VisitStatus.BOOKED and (
            self.instance.pk is None or {"scheduled_at", "status", "pump"} & set(self.changed_data)
        )
        if not booking:
            return
        if "scheduled_at" in self.changed_data and (
            refusal := entry_safety.booking_refusal(day, today=today)
        ):
            self.add_error("scheduled_at", f"The visit date {refusal}")
        patient, pump, kind = cleaned.get("patient"), cleaned.get("pump"), cleaned.get("kind")
        if pump is not None and not pump.is_active:
            self.add_error(
                "pump",
                f"Pump {pump.serial} was explanted on {pump.explant_date}: "
                "book for the active pump.",
            )
        if patient is not None and kind:
            existing = patient_services.same_day_booking(
                patient=patient, pump=pump, kind=kind, day=day, exclude_pk=self.instance.pk
            )
            if existing is not None:
                self.add_error("scheduled_at", patient_services.same_day_message(existing))


@admin.register(Appointment)
class AppointmentAdmin(HistoryReadOnlyAdmin):
    edit_roles = CLINICAL_ROLES
    form = AppointmentAdminForm
    list_display = ["scheduled_at", "patient", "kind", "status", "pump_serial", "booked_by"]
    list_select_related = ["patient", "pump", "booked_by"]
    list_filter = ["status", "kind", "scheduled_at"]
    search_fields = ["patient__mrn", "patient__family_name", "patient__given_name", "pump__serial"]
    autocomplete_fields = ["patient", "pump"]
    readonly_fields = ["booked_by", "created_at"]
    show_full_result_count = False

    @admin.display(description="pump", ordering="pump__serial")
    def pump_serial(self, obj: Appointment) -> str:
        return obj.pump.serial if obj.pump is not None else EMPTY

    def save_model(self, request: HttpRequest, obj: Appointment, form: Any, change: bool) -> None:
        if not change and obj.booked_by_id is None:
            obj.booked_by = request.user  # type: ignore[assignment]
        super().save_model(request, obj, form, change)
