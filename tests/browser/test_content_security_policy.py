"""The Content-Security-Policy in a real browser (issue 13): nothing refused.

Chromium reports each script, style or image the policy blocks on the
console ("Refused to apply inline style ... Content Security Policy"). Every
app page is opened signed in as a physician (who may open every clinical
page: the administrator is no clinician) and a tour of the admin as the
administrator; none may report a refusal, and the scripts still work (the
menu opens, the timeline draws its charts).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from care.models import MriScan, Trial
from core.roles import ADMINISTRATOR, PHYSICIAN
from tests.browser.conftest import TABLET, screenshot, sign_in
from tests.factories import PatientFactory, UserFactory, fill, make_pump

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/shots-headers")
REFUSED = ("Content Security Policy", "Refused to")


@pytest.fixture
def clinic() -> dict[str, Any]:
    today = timezone.localdate()
    patient = PatientFactory(family_name="Okonkwo", given_name="Ada")
    pump = make_pump(patient=patient, implant_date=today - timedelta(days=400))
    fill(pump, on=today - timedelta(days=60))
    refill = fill(pump, on=today - timedelta(days=20), residual_ml="5")  # a discrepancy
    trial = Trial.objects.create(
        patient=PatientFactory(status="screening"),
        trial_date=today,
        method="single_bolus",
        drug=refill.drug,
        dose="1",
        dose_unit="mg",
        scale="pain_nrs",
        score_before="8",
        score_after="2",
    )
    MriScan.objects.create(patient=patient, scanned_on=today)
    UserFactory(username="admin", roles=[ADMINISTRATOR], is_staff=True, is_superuser=True)
    UserFactory(username="physician", roles=[PHYSICIAN])
    return {"patient": patient, "pump": pump, "refill": refill, "trial": trial}


@pytest.fixture
def refusals(page) -> Iterator[list[str]]:  # type: ignore[no-untyped-def]
    """What the browser refused or failed to run, from any page opened."""
    found: list[str] = []
    page.on(
        "console",
        lambda message: (
            found.append(f"{page.url}: {message.text}")
            if any(word in message.text for word in REFUSED)
            else None
        ),
    )
    page.on("pageerror", lambda error: found.append(f"{page.url}: script error: {error}"))
    return found


def app_pages(clinic: dict[str, Any]) -> list[str]:
    patient, pump, refill = clinic["patient"], clinic["pump"], clinic["refill"]
    return [
        reverse("pumps:worklist"),
        reverse("pumps:worklist") + "?status=discrepancy",
        reverse("patients:detail", args=[patient.pk]),
        reverse("patients:timeline", args=[patient.pk]),
        reverse("patients:book_visit", args=[patient.pk]),
        reverse("pumps:log_refill", args=[pump.pk]),
        reverse("pumps:board"),
        reverse("pumps:board") + "?sort=-serial&drug=morphine",
        reverse("pumps:help_entry_safety"),
        reverse("patients:review_queue"),
        reverse("patients:trials"),
        reverse("patients:appointments_day"),
        reverse("patients:appointments_week"),
        reverse("patients:record_mri", args=[patient.pk]),
        reverse("patients:record_complication", args=[patient.pk]),
        reverse("patients:entered_in_error", args=[patient.pk]) + f"?record=refill-{refill.pk}",
        reverse("pumps:sign_off", args=[refill.pk]),
        reverse("patients:decide_trial", args=[clinic["trial"].pk]),
        reverse("pumps:explant", args=[pump.pk]),
        reverse("patients:register"),
    ]


def admin_pages(clinic: dict[str, Any]) -> list[str]:
    patient, refill = clinic["patient"], clinic["refill"]
    return [
        "/admin/",
        "/admin/patients/patient/",
        "/admin/patients/patient/?q=Okonkwo",
        f"/admin/patients/patient/{patient.pk}/change/",
        "/admin/patients/patient/add/",
        f"/admin/pumps/refill/{refill.pk}/history/",
        "/admin/pumps/refill/",
        "/admin/pumps/historicalrefill/",
        "/admin/audit/auditentry/",
        "/admin/axes/accessattempt/",
        "/admin/pumps/schedulepolicy/",
        "/admin/pumps/pumpmodel/",
        "/admin/pumps/drug/",
        "/admin/auth/user/",
        "/admin/auth/user/add/",
    ]


def test_app_pages_load_with_nothing_refused(page, clinic, refusals) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, "physician")
    for path in app_pages(clinic):
        response = page.goto(path)
        assert response is not None
        assert response.status == 200, path
        assert "script-src 'self'" in response.headers["content-security-policy"], path
        assert "no-store" in response.headers["cache-control"], path
        page.wait_for_load_state("load")
    assert refusals == []


def test_scripts_still_run_under_the_policy(page, clinic, refusals) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, "admin")
    patient = clinic["patient"]
    # The timeline's charts: data from json_script, drawn by static/js/timeline-charts.js.
    page.goto(f"/patients/{patient.pk}/timeline/")
    page.wait_for_function(
        "() => [...document.querySelectorAll('canvas')].some(c => Chart.getChart(c))"
    )
    # Bootstrap's collapsing menu at tablet width.
    page.set_viewport_size(TABLET)
    page.goto(f"/patients/{patient.pk}/")
    page.get_by_role("button", name="Menu").click()
    page.get_by_role("link", name="Pump board").wait_for(state="visible")
    assert refusals == []
    # Styling from static files only: the struck-through style now in static/css/record.css.
    assert (
        page.evaluate(
            "() => [...document.styleSheets].some(s => (s.href || '').endsWith('css/record.css'))"
        )
        is True
    )
    page.set_viewport_size({"width": 1280, "height": 900})
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / "patient-page.png", full_page=True)
    page.goto("/")
    page.screenshot(path=SHOTS / "worklist.png", full_page=True)
    screenshot(page, "csp-worklist")


def test_admin_pages_load_with_nothing_refused(page, clinic, refusals) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, "admin")
    for path in admin_pages(clinic):
        response = page.goto(path)
        assert response is not None
        assert response.status == 200, path
        assert "content-security-policy" in response.headers, path
        page.wait_for_load_state("load")
    page.goto(admin_pages(clinic)[5])
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / "admin-history.png", full_page=True)
    assert refusals == []
