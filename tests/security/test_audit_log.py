"""Who changed what (django-simple-history) and who viewed what (the audit log)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.apps import apps
from django.contrib import admin
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from audit.admin import HISTORY_PATIENT_LOOKUPS
from audit.ip import client_ip
from audit.models import AuditEntry, AuditLogIsAppendOnly
from audit.registry import AUDITED_VIEWS, NOT_PATIENT_DATA, describe, is_recorded
from care.models import Appointment
from patients.models import Patient
from pumps.models import Pump, Refill
from tests.factories import UserFactory
from tests.security.test_access_matrix import url_patterns

pytestmark = pytest.mark.django_db

CLINICAL_APPS = ("patients", "pumps", "care")


# --- Changes: django-simple-history ----------------------------------------------


def test_every_clinical_model_keeps_its_history() -> None:
    without = [
        model._meta.label
        for app in CLINICAL_APPS
        for model in apps.get_app_config(app).get_models()
        if not model.__name__.startswith("Historical") and not hasattr(model, "history")
    ]
    assert not without, f"Add history = HistoricalRecords() to {without}"


def test_every_clinical_history_is_searchable_in_the_admin() -> None:
    tracked = {
        model
        for app in CLINICAL_APPS
        for model in apps.get_app_config(app).get_models()
        if hasattr(model, "history") and model._meta.app_label in CLINICAL_APPS
    }
    catalogue = {"PumpModel", "Drug", "SchedulePolicy"}  # settings: history on their own page
    missing = {m.__name__ for m in tracked} - {m.__name__ for m in HISTORY_PATIENT_LOOKUPS}
    assert missing <= catalogue, f"Add {missing - catalogue} to audit.admin.HISTORY_PATIENT_LOOKUPS"
    for model in HISTORY_PATIENT_LOOKUPS:
        assert admin.site.is_registered(model.history.model)  # type: ignore[attr-defined]


def refill_form(today: Any, token: uuid.UUID) -> dict[str, str]:
    return {
        "refill_date": today.isoformat(),
        "drug": "morphine",
        "concentration": "20",
        "concentration_unit": "mg/mL",
        "daily_dose": "4",
        "dose_unit": "mg/day",
        "residual_ml": "",
        "volume_ml": "20",
        "submission_token": str(token),
    }


def test_a_refill_from_the_web_records_the_nurse_in_every_history_row(
    client: Client, role_users: dict[str, Any], clinic_objects: dict[str, Any]
) -> None:
    nurse, pump = role_users["nurse"], clinic_objects["active_pump"]
    client.force_login(nurse)
    token = uuid.uuid4()
    response = client.post(
        reverse("pumps:log_refill", args=[pump.pk]), refill_form(timezone.localdate(), token)
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    refill = Refill.objects.get(submission_token=token)
    created = refill.history.get()  # type: ignore[attr-defined]
    assert (created.history_type, created.history_user) == ("+", nurse)
    pump_change = Pump.history.filter(id=pump.pk).latest("history_date")  # type: ignore[attr-defined]
    assert (pump_change.history_type, pump_change.history_user) == ("~", nurse)
    assert pump_change.latest_fill_id == refill.pk
    # The booked refill visit it fulfils was closed, by the same nurse.
    visit = Appointment.history.filter(id=clinic_objects["appointment"].pk).latest("history_date")  # type: ignore[attr-defined]
    assert visit.history_user == nurse


def test_a_visit_booked_from_the_web_records_who_booked_it(
    client: Client, role_users: dict[str, Any], clinic_objects: dict[str, Any]
) -> None:
    physician, patient = role_users["physician"], clinic_objects["patient"]
    client.force_login(physician)
    day = timezone.localdate() + timedelta(days=5)
    response = client.post(
        reverse("patients:book_visit", args=[patient.pk]),
        {"kind": "physician_review", "day": day.isoformat(), "at": "10:00", "notes": ""},
    )
    assert response.status_code == 302
    booked = Appointment.history.filter(patient_id=patient.pk).latest("history_date")  # type: ignore[attr-defined]
    assert (booked.history_type, booked.history_user) == ("+", physician)


def test_an_admin_edit_records_the_administrator(
    client: Client, role_users: dict[str, Any], clinic_objects: dict[str, Any]
) -> None:
    administrator, patient = role_users["administrator"], clinic_objects["patient"]
    client.force_login(administrator)
    url = reverse("admin:patients_patient_change", args=[patient.pk])
    data = {
        "mrn": patient.mrn,
        "family_name": "Changed",
        "given_name": patient.given_name,
        "birth_date": patient.birth_date.isoformat(),
        "phone": "",
        "indication": patient.indication,
        "status": patient.status,
        "treating_physician": "",
        "travel_buffer_days": "0",
        "notes": "",
        "pumps-TOTAL_FORMS": "0",
        "pumps-INITIAL_FORMS": "0",
    }
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    change = patient.history.latest("history_date")
    assert (change.family_name, change.history_user) == ("Changed", administrator)


# --- Views: the audit log ------------------------------------------------------------


def test_viewing_a_patient_is_logged_with_who_what_when_and_where(
    client: Client, role_users: dict[str, Any], clinic_objects: dict[str, Any]
) -> None:
    nurse, patient = role_users["nurse"], clinic_objects["patient"]
    client.force_login(nurse)
    before = timezone.now()
    client.get(reverse("patients:detail", args=[patient.pk]), REMOTE_ADDR="10.1.2.3")
    entry = AuditEntry.objects.get()
    assert (entry.user_id, entry.username) == (nurse.pk, nurse.username)
    assert (entry.view_name, entry.what) == ("patients:detail", "patient record")
    assert (entry.patient_id, entry.patient_mrn) == (patient.pk, patient.mrn)
    assert before <= entry.at <= timezone.now()
    assert entry.ip_address == "10.1.2.3"


def test_the_due_list_export_is_logged(client: Client, role_users: dict[str, Any]) -> None:
    client.force_login(role_users["physician"])
    client.get(reverse("pumps:due_list_json"), {"as_of": "2026-04-06"})
    entry = AuditEntry.objects.get()
    assert entry.what == "due list (JSON export)"
    assert entry.patient_id is None
    assert entry.path == "/api/due-list/?as_of=2026-04-06"


def test_refused_and_missing_pages_log_nothing(
    client: Client, role_users: dict[str, Any], clinic_objects: dict[str, Any]
) -> None:
    client.get(reverse("patients:detail", args=[clinic_objects["patient"].pk]))  # anonymous
    client.force_login(role_users["nurse"])
    client.get(reverse("patients:detail", args=[987654321]))  # 404
    client.get(reverse("pumps:due_list_json"), {"as_of": "not a date"})  # 400
    client.options(reverse("patients:detail", args=[clinic_objects["patient"].pk]))  # 405
    client.get(reverse("pumps:sign_off", args=[clinic_objects["discrepancy_refill"].pk]))  # 403
    client.get(reverse("admin:index"))  # not staff: to the admin's sign-in
    client.get(reverse("pumps:help_entry_safety"))  # the rules: no patient data
    assert AuditEntry.objects.count() == 0


def test_lists_and_forms_are_logged_with_the_method_and_the_answer(
    client: Client, role_users: dict[str, Any], clinic_objects: dict[str, Any]
) -> None:
    """Not only records: the lists that show patients, and forms sent, saved or not."""
    nurse, pump = role_users["nurse"], clinic_objects["active_pump"]
    client.force_login(nurse)
    client.get(reverse("pumps:worklist"), {"q": "SEC"})
    client.head(reverse("pumps:board"))
    client.post(reverse("pumps:log_refill", args=[pump.pk]), {})  # comes back with errors
    client.post(
        reverse("patients:set_visit_status", args=[clinic_objects["appointment"].pk]),
        {"status": "done"},
    )
    entries = list(AuditEntry.objects.order_by("pk"))
    assert [(e.what, e.method, e.status) for e in entries] == [
        ("worklist", "GET", 200),
        ("pump board", "HEAD", 200),
        ("refill form", "POST", 200),
        ("visit status", "POST", 302),
    ]
    assert entries[0].path == "/?q=SEC"
    patient = clinic_objects["patient"]
    assert [(e.patient_id, e.patient_mrn) for e in entries[2:]] == [(patient.pk, patient.mrn)] * 2


def test_admin_pages_of_patient_data_are_logged_with_the_patient(
    client: Client, role_users: dict[str, Any], clinic_objects: dict[str, Any]
) -> None:
    administrator, refill = role_users["administrator"], clinic_objects["refill"]
    patient = clinic_objects["patient"]
    client.force_login(administrator)
    version = refill.history.get()
    pages = [
        reverse("admin:pumps_refill_change", args=[refill.pk]),
        reverse("admin:pumps_refill_history", args=[refill.pk]),
        reverse("admin:pumps_refill_simple_history", args=[refill.pk, version.history_id]),
        reverse("admin:pumps_historicalrefill_change", args=[version.history_id]),
        reverse("admin:patients_patient_changelist") + "?q=SEC0001",
    ]
    for page in pages:
        assert client.get(page).status_code == 200, page
    client.get(reverse("admin:pumps_drug_changelist"))  # the catalogue: nothing of a patient
    entries = list(AuditEntry.objects.order_by("pk"))
    assert [e.what for e in entries] == [
        "admin: refill record",
        "admin: refill history",
        "admin: refill old version",
        "admin: historical refill record",
        "admin: patient list",
    ]
    assert [e.patient_mrn for e in entries] == [patient.mrn] * 4 + [""]
    assert {e.username for e in entries} == {administrator.username}


def test_the_admin_search_and_link_to_a_record_are_logged(
    client: Client, role_users: dict[str, Any], clinic_objects: dict[str, Any]
) -> None:
    client.force_login(role_users["administrator"])
    search = client.get(
        reverse("admin:autocomplete"),
        {"app_label": "care", "model_name": "trial", "field_name": "patient", "term": "SEC"},
    )
    assert search.status_code == 200
    assert AuditEntry.objects.get().what == "admin search (autocomplete)"
    assert "term=SEC" in AuditEntry.objects.get().path


@pytest.mark.parametrize(
    ("trusted", "forwarded", "expected"),
    [
        (False, "203.0.113.9", "10.0.0.5"),  # no proxy: the header is the client's word
        (True, "203.0.113.9", "203.0.113.9"),
        (True, "198.51.100.1, 203.0.113.9", "203.0.113.9"),  # only our proxy's entry
        (True, "not-an-address", "10.0.0.5"),
        (True, "", "10.0.0.5"),
    ],
)
def test_the_address_honours_x_forwarded_for_only_behind_a_trusted_proxy(
    settings: Any, trusted: bool, forwarded: str, expected: str
) -> None:
    settings.TRUSTED_PROXY = trusted
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected


def test_the_log_records_the_forwarded_address_behind_a_trusted_proxy(
    client: Client, settings: Any, role_users: dict[str, Any]
) -> None:
    settings.TRUSTED_PROXY = True
    client.force_login(role_users["nurse"])
    client.get(
        reverse("pumps:due_list_json"), REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="192.0.2.7"
    )
    assert AuditEntry.objects.get().ip_address == "192.0.2.7"


def make_entry(**fields: Any) -> AuditEntry:
    values = {"username": "nurse", "view_name": "patients:detail", "what": "patient record"}
    return AuditEntry.objects.create(**(values | fields))


def test_an_audit_entry_cannot_be_changed_or_deleted() -> None:
    entry = make_entry(patient_mrn="A1")
    entry.patient_mrn = "B2"
    with pytest.raises(AuditLogIsAppendOnly):
        entry.save()
    with pytest.raises(AuditLogIsAppendOnly):
        entry.delete()
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEntry.objects.filter(pk=entry.pk).update(patient_mrn="B2")
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEntry.objects.all().delete()
    assert AuditEntry.objects.get().patient_mrn == "A1"


def test_deleting_a_patient_or_user_leaves_the_log_as_it_was(
    client: Client, role_users: dict[str, Any]
) -> None:
    patient = Patient.objects.create(
        mrn="GONE1", family_name="X", given_name="Y", birth_date="1970-01-01", indication="other"
    )
    nurse = role_users["nurse"]
    client.force_login(nurse)
    client.get(reverse("patients:detail", args=[patient.pk]))
    patient.delete()
    nurse.delete()
    entry = AuditEntry.objects.get()
    assert (entry.username, entry.patient_mrn) == ("sec-nurse", "GONE1")


@pytest.mark.parametrize("view", ["add", "change", "delete"])
@pytest.mark.parametrize("superuser", [False, True])
def test_nobody_adds_changes_or_deletes_audit_entries_in_the_admin_not_even_a_superuser(
    client: Client, role_users: dict[str, Any], view: str, superuser: bool
) -> None:
    entry = make_entry()
    client.force_login(
        UserFactory(username="root", is_staff=True, is_superuser=True)
        if superuser
        else role_users["administrator"]
    )
    args = [] if view == "add" else [entry.pk]
    url = reverse(f"admin:audit_auditentry_{view}", args=args)
    if view == "change":
        # The change page is a read-only view: a POST changes nothing.
        client.post(url, {"username": "someone else"})
        assert AuditEntry.objects.get().username == "nurse"
    else:
        assert client.get(url).status_code == 403
    changelist = client.get(reverse("admin:audit_auditentry_changelist"))
    assert "delete_selected" not in changelist.content.decode()


def test_administrators_search_the_log_by_patient_and_by_user(
    client: Client, role_users: dict[str, Any]
) -> None:
    make_entry(username="nurse", patient_mrn="A1001", patient_id=1)
    make_entry(username="physician", patient_mrn="A1002", patient_id=2)
    make_entry(username="nurse", patient_mrn="A1002", patient_id=2)
    client.force_login(role_users["administrator"])
    url = reverse("admin:audit_auditentry_changelist")
    assert client.get(url, {"q": "A1002"}).context["cl"].result_count == 2
    assert client.get(url, {"q": "nurse"}).context["cl"].result_count == 2
    assert client.get(url, {"q": "physician"}).context["cl"].result_count == 1


def test_administrators_search_the_change_history_by_patient_and_by_user(
    client: Client, role_users: dict[str, Any], clinic_objects: dict[str, Any]
) -> None:
    client.force_login(role_users["administrator"])
    url = reverse("admin:pumps_historicalrefill_changelist")
    by_patient = client.get(url, {"q": clinic_objects["patient"].mrn}).context["cl"]
    assert by_patient.result_count == 1
    assert client.get(url, {"q": "nobody"}).context["cl"].result_count == 0
    assert client.get(url, {"q": "SEC0002"}).context["cl"].result_count == 0


@pytest.mark.parametrize("role", ["nurse", "physician"])
def test_clinical_staff_cannot_read_the_audit_log(
    client: Client, role_users: dict[str, Any], role: str
) -> None:
    client.force_login(role_users[role])
    response = client.get(reverse("admin:audit_auditentry_changelist"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_every_name_in_the_registry_is_a_url_pattern() -> None:
    names = {name for name, _, _ in url_patterns()}
    # An unnamed pattern goes by its view's dotted path (the admin's redirects).
    named = {name for name in set(AUDITED_VIEWS) | NOT_PATIENT_DATA if "." not in name}
    stale = named - names
    assert not stale, f"audit.registry names {stale}, which are no URL"


def test_every_staff_page_says_what_it_shows() -> None:
    """A new page is recorded anyway (by its URL name); listing it names what it shows."""
    unlisted = [
        name
        for name, _, namespace in url_patterns()
        if not namespace.startswith("admin:")
        and name not in AUDITED_VIEWS
        and name not in NOT_PATIENT_DATA
    ]
    assert not unlisted, f"Add {unlisted} to audit.registry.AUDITED_VIEWS (or NOT_PATIENT_DATA)"


def test_an_unlisted_page_is_recorded_by_default() -> None:
    assert is_recorded("pumps:some_new_page")
    assert describe("pumps:some_new_page", {}, {}).what == "pumps:some_new_page"
    assert not is_recorded("admin:auth_user_changelist")
    assert is_recorded("admin:patients_patient_changelist")
