"""The audit log and the change history in the admin: searchable, read-only for everyone."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import models
from django.http import HttpRequest

from audit.models import AuditEntry
from care.models import Appointment, Complication, ContactAttempt, MriScan, Trial
from core.roles import ADMINISTRATOR, has_role
from patients.models import Patient
from pumps.models import DoseAdjustment, Pump, Refill


class ReadOnlyAdmin(admin.ModelAdmin):
    """Nobody adds, changes or deletes here, superusers included; administrators read."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_staff and has_role(request.user, ADMINISTRATOR)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = [
        "at",
        "username",
        "method",
        "what",
        "patient_mrn",
        "patient_id",
        "status",
        "ip_address",
        "path",
    ]
    list_filter = ["method", "view_name", "at"]
    # "=" matches whole values: search "A1001" for a patient, "nurse" for a user.
    search_fields = ["=patient_mrn", "=patient_id", "=username", "what"]
    search_help_text = "A patient's record number or id, or a username."
    date_hierarchy = "at"
    show_full_result_count = False
    # change_list.html (audit/templates/admin/...) links the CSV export (audit/views.py).


# Each clinical model's history, with the lookup that reaches its patient.
HISTORY_PATIENT_LOOKUPS: dict[type[models.Model], str] = {
    Patient: "mrn",
    Appointment: "patient__mrn",
    Trial: "patient__mrn",
    Complication: "patient__mrn",
    MriScan: "patient__mrn",
    ContactAttempt: "patient__mrn",
    Pump: "patient__mrn",
    Refill: "pump__patient__mrn",
    DoseAdjustment: "pump__patient__mrn",
}


def history_admin(model: type[models.Model], patient_lookup: str) -> type[ReadOnlyAdmin]:
    """A read-only list of every change to ``model``, searchable by patient and user."""
    return type(
        f"{model.__name__}ChangesAdmin",
        (ReadOnlyAdmin,),
        {
            "list_display": ["history_date", "history_type", "history_user", "__str__"],
            "list_filter": ["history_type", "history_date"],
            "list_select_related": ["history_user"],
            "search_fields": [f"={patient_lookup}", "=history_user__username"],
            "search_help_text": "A patient's record number, or a username.",
            "date_hierarchy": "history_date",
            "show_full_result_count": False,
        },
    )


for _model, _lookup in HISTORY_PATIENT_LOOKUPS.items():
    admin.site.register(_model.history.model, history_admin(_model, _lookup))  # type: ignore[attr-defined]
