"""The audit log as CSV: administrators only, for a date range and a patient."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry

pytestmark = pytest.mark.django_db

URL = reverse("audit:export")


def days() -> dict[str, str]:
    """Yesterday and today: an entry written just now falls in, even just after midnight."""
    today = timezone.localdate()
    return {"start": (today - timedelta(days=1)).isoformat(), "end": today.isoformat()}


def entry(day: str | None = None, hour: int = 12, **fields: Any) -> AuditEntry:
    """An entry at ``hour`` o'clock of ``day`` in the clinic's time zone (no day: just
    now; the export lists only what was written before it)."""
    if day is None:
        at = timezone.now() - timedelta(seconds=5)
    else:
        at = timezone.make_aware(datetime.fromisoformat(day).replace(hour=hour))
    values = {"username": "nurse", "view_name": "patients:detail", "what": "patient record"}
    return AuditEntry.objects.create(at=at, **({"path": "/"} | values | fields))


def rows(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture
def administrator_client(client: Client, role_users: dict[str, Any]) -> Client:
    client.force_login(role_users["administrator"])
    return client


def test_the_export_takes_the_days_asked_for_both_included(administrator_client: Client) -> None:
    entry("2026-03-31", hour=23)
    entry("2026-04-01", hour=0, patient_mrn="A1")
    entry("2026-04-02", hour=23, patient_mrn="A2", method="POST", status=302)
    entry("2026-04-03", hour=0)
    response = administrator_client.get(URL, {"start": "2026-04-01", "end": "2026-04-02"})
    assert response["Content-Disposition"] == (
        'attachment; filename="audit-log-2026-04-02.csv"'  # its last day
    )
    found = rows(response)
    assert [row["patient_mrn"] for row in found] == ["A1", "A2"]  # oldest first
    assert list(found[1]) == [
        "at",
        "username",
        "user_id",
        "method",
        "status",
        "what",
        "page",
        "patient_id",
        "patient_mrn",
        "path",
        "from",
    ]
    assert (found[1]["method"], found[1]["status"]) == ("POST", "302")
    assert found[1]["at"].startswith("2026-04-02T23:00:00")


def test_the_export_for_one_patient(
    administrator_client: Client, clinic_objects: dict[str, Any]
) -> None:
    patient = clinic_objects["patient"]
    entry(patient_id=patient.pk, patient_mrn=patient.mrn)
    entry(patient_id=patient.pk, patient_mrn="OLD-MRN")  # the number was corrected since
    entry(patient_id=patient.pk + 1000, patient_mrn="OTHER")
    entry(what="worklist")  # a list names no patient
    response = administrator_client.get(URL, {**days(), "mrn": patient.mrn})
    # Named without patient data (issue 13 item 6): a download bar shows the name.
    assert patient.mrn not in response["Content-Disposition"]
    assert [row["patient_mrn"] for row in rows(response)] == [patient.mrn, "OLD-MRN"]
    # The export is itself in the log, naming the patient asked for.
    last = AuditEntry.objects.order_by("-pk").first()
    assert last is not None
    assert (last.what, last.patient_id, last.patient_mrn) == (
        "audit log (CSV export)",
        patient.pk,
        patient.mrn,
    )


def test_cells_a_spreadsheet_would_run_start_with_a_quote(administrator_client: Client) -> None:
    entry(username="=HYPERLINK(1)", path="/?q=+1", what="@SUM(1)", patient_mrn="-2")
    (row,) = rows(administrator_client.get(URL, days()))
    assert (row["username"], row["path"], row["what"], row["patient_mrn"]) == (
        "'=HYPERLINK(1)",
        "/?q=+1",  # a path starts with "/": left as it is
        "'@SUM(1)",
        "'-2",
    )


def test_the_form_page_and_its_refusals(administrator_client: Client) -> None:
    page = administrator_client.get(URL)
    assert page.status_code == 200
    assert b'name="start"' in page.content
    for bad in (
        {"start": "2026-04-02", "end": "2026-04-01"},
        {"start": "not a day", "end": "2026-04-01"},
        {"start": "1066-10-14", "end": "9999-12-31"},
    ):
        response = administrator_client.get(URL, bad)
        assert response.status_code == 400, bad
        assert b'name="start"' in response.content


@pytest.mark.parametrize("role", ["anonymous", "nurse", "physician"])
def test_only_administrators_export(client: Client, role_users: dict[str, Any], role: str) -> None:
    entry()
    if role_users[role] is not None:
        client.force_login(role_users[role])
    today = timezone.localdate()
    response = client.get(URL, {"start": today - timedelta(days=1), "end": today})
    assert response.status_code in (302, 403)
    assert b"patients:detail" not in b"".join(getattr(response, "streaming_content", [b""]))


def test_the_audit_log_in_the_admin_links_the_export(administrator_client: Client) -> None:
    page = administrator_client.get(reverse("admin:audit_auditentry_changelist"))
    assert URL in page.content.decode()
