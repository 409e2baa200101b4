"""The administrator exports the audit log from the admin, in a browser (issue 13)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path

from django.utils import timezone

from audit.models import AuditEntry
from core.roles import ADMINISTRATOR
from tests.browser.conftest import screenshot, sign_in
from tests.factories import UserFactory


def test_the_administrator_exports_a_range_for_one_patient(page) -> None:  # type: ignore[no-untyped-def]
    UserFactory(username="office", roles=[ADMINISTRATOR], is_staff=True)
    yesterday = timezone.now() - timedelta(days=1)
    for mrn in ("MRN-1", "MRN-2"):
        AuditEntry.objects.create(
            at=yesterday,
            username="nurse",
            view_name="patients:detail",
            what="patient record",
            path="/x/",
            patient_mrn=mrn,
        )
    sign_in(page, "office")
    page.goto("/admin/audit/auditentry/")
    screenshot(page, "audit-admin-list")
    page.get_by_role("link", name="Export as CSV").click()
    page.wait_for_selector("h1:has-text('Audit log export')")
    screenshot(page, "audit-export-form")

    # The last day before the first: refused on its field, nothing downloaded.
    today = timezone.localdate()
    page.get_by_label("From", exact=True).fill(today.isoformat())
    page.get_by_label("To", exact=True).fill((today - timedelta(days=3)).isoformat())
    page.get_by_role("button", name="Download CSV").click()
    page.wait_for_selector("text=The last day comes on or after the first.")
    screenshot(page, "audit-export-refused")

    page.get_by_label("From", exact=True).fill((today - timedelta(days=2)).isoformat())
    page.get_by_label("To", exact=True).fill(today.isoformat())
    page.get_by_label("Patient record number").fill("MRN-2")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    file = download.value
    assert file.suggested_filename == f"audit-log-{today.isoformat()}.csv"  # no patient in it
    rows = list(csv.DictReader(io.StringIO(Path(file.path()).read_text(encoding="utf-8"))))
    assert [row["patient_mrn"] for row in rows] == ["MRN-2"]
