"""A physician's review in a real browser: sign-off, trial decision, replacement, charts."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from care.models import MriScan, Trial
from pumps import services
from pumps.models import Drug, Pump
from tests.browser.conftest import screenshot, sign_in
from tests.factories import PatientFactory, fill, make_pump

pytestmark = pytest.mark.browser


@pytest.fixture
def physician_page(page, physician_user):  # type: ignore[no-untyped-def]
    sign_in(page, "physician")
    return page


def upcoming_pump_with_a_discrepancy(today: date, **kwargs) -> Pump:
    """Morphine 20 mg/mL at 4 mg/day (0.2 mL/day). Filled 180 days ago to 20 mL, so
    nothing was expected 100 days later; 5 mL came back (flagged). That fill's 90-day
    stability ends in 10 days: refill upcoming, so the pump is on the worklist."""
    pump = make_pump(implant_date=today - timedelta(days=400), **kwargs)
    fill(pump, on=today - timedelta(days=180))
    fill(pump, on=today - timedelta(days=80), residual_ml="5")
    pump.refresh_from_db()
    return pump


def test_signing_off_a_discrepancy_clears_the_worklist_and_the_queue(physician_page):
    page = physician_page
    today = timezone.localdate()
    pump = upcoming_pump_with_a_discrepancy(today, patient=PatientFactory(family_name="Nakamura"))
    page.goto("/?status=discrepancy")
    row = page.locator(f"#worklist tr[data-serial='{pump.serial}']")
    assert "Residual discrepancy" in row.inner_text()
    page.get_by_role("link", name="Review queue").click()
    page.wait_for_selector("h1:has-text('Review queue')")
    screenshot(page, "phys-01-review-queue")
    refill = pump.refills.get(discrepancy=True)
    page.locator(f"#discrepancies tr[data-refill='{refill.pk}']").get_by_role(
        "link", name="Sign off"
    ).click()
    page.wait_for_selector("#sign-off-form")
    page.get_by_label("What was found or decided").fill("Catheter aspirated: patent. Recheck.")
    screenshot(page, "phys-02-sign-off")
    page.get_by_role("button", name="Sign off").click()
    page.wait_for_selector(".alert-success")
    assert "signed off" in page.locator(".alert-success").inner_text()
    assert page.locator(f"#discrepancies tr[data-refill='{refill.pk}']").count() == 0
    assert "Nothing to sign off." in page.locator("#discrepancies").inner_text()
    page.goto("/?status=discrepancy")
    assert page.locator(f"#worklist tr[data-serial='{pump.serial}']").count() == 0
    page.goto("/")
    row = page.locator(f"#worklist tr[data-serial='{pump.serial}']")
    assert row.count() == 1  # still on the worklist for its refill
    assert "Residual discrepancy" not in row.inner_text()


def test_a_confirmed_trial_puts_the_patient_on_the_referral_list(physician_page):
    page = physician_page
    patient = PatientFactory(family_name="Lindgren", given_name="Maja", status="screening")
    trial = Trial.objects.create(
        patient=patient,
        trial_date=timezone.localdate() - timedelta(days=2),
        method="single_bolus",
        drug=Drug.objects.get(code="baclofen"),
        dose="50",
        dose_unit="mcg",
        scale="ashworth",
        score_before="3",
        score_after="1",
    )
    page.get_by_role("link", name="Trials").click()
    page.wait_for_selector("h1:has-text('Screening trials')")
    assert "Nobody is waiting for an implant." in page.locator("#referrals").inner_text()
    page.locator(f"#awaiting tr[data-trial='{trial.pk}']").get_by_role(
        "link", name="Decide"
    ).click()
    page.wait_for_selector("#decide-form")
    assert "Success" in page.locator("#computed-outcome").inner_text()
    page.get_by_label("Confirm the computed outcome").check()
    screenshot(page, "phys-03-decide-trial")
    page.get_by_role("button", name="Record decision").click()
    page.wait_for_selector(".alert-success")
    referral = page.locator(f"#referral-list tr[data-patient='{patient.pk}']")
    assert "Lindgren, Maja" in referral.inner_text()
    assert "Computed outcome confirmed by physician" in referral.inner_text()
    screenshot(page, "phys-04-trials")


def test_a_replacement_pump_starts_the_battery_again(physician_page):
    page = physician_page
    today = timezone.localdate()
    old = make_pump(serial="OLDPUMP1", implant_date=today - timedelta(days=int(6.4 * 365)))
    fill(old, on=today - timedelta(days=20))
    page.goto(old.patient.get_absolute_url())
    assert page.locator("#current-pump [data-status='window']").count() == 1
    page.get_by_role("link", name="Explant or replace pump").click()
    page.wait_for_selector("#explant-form")
    page.get_by_label("Reason").select_option("battery_end_of_life")
    page.get_by_label("New pump model").select_option("synchromed_ii_40")
    page.get_by_label("New pump serial").fill("NEWPUMP9")
    screenshot(page, "phys-05-replacement")
    page.get_by_role("button", name="Record explant").click()
    page.wait_for_selector("#confirm-explant")  # asked once (issue 14)
    page.get_by_role("button", name="Explant and replace").click()
    page.wait_for_selector(".alert-success")
    current = page.locator("#current-pump").inner_text()
    assert "NEWPUMP9" in current
    assert page.locator("#current-pump [data-status='ok']").count() == 1  # battery OK again
    assert page.locator("#current-pump [data-status='unknown']").count() == 1  # first fill due
    new = Pump.objects.get(serial="NEWPUMP9")
    assert new.battery_window_opens == today.replace(year=today.year + 5)


def test_the_timeline_charts_draw_their_data(physician_page):
    page = physician_page
    today = timezone.localdate()
    patient = PatientFactory(family_name="Okonkwo", given_name="Ife")
    pump = make_pump(patient=patient, implant_date=today - timedelta(days=500))
    drug = Drug.objects.get(code="baclofen")
    doses = ["200", "250", "300", "300", "350", "400"]
    # Expected residuals: 12, 10, 8, 8, 6 mL; the fourth is 3.1 mL short (flagged).
    residuals = [None, "12.5", "9.1", "8.4", "4.9", "6.6"]
    for number, (dose, residual) in enumerate(zip(doses, residuals, strict=True)):
        services.record_fill(
            pump=pump,
            fill=services.Fill(
                refill_date=today - timedelta(days=450 - 80 * number),
                drug=drug,
                concentration=Decimal("2000"),
                concentration_unit="mcg/mL",
                daily_dose=Decimal(dose),
                dose_unit="mcg/day",
                volume_ml=Decimal("20"),
                residual_ml=Decimal(residual) if residual else None,
            ),
            ashworth_score=["3", "3", "2", "1+", "1+", "1"][number],
            pain_score=[7, 6, 5, 5, 4, 3][number],
            today=today,
        )
    MriScan.objects.create(patient=patient, scanned_on=today - timedelta(days=100))
    page.goto(patient.get_absolute_url())
    page.get_by_role("link", name="Timeline").click()
    page.wait_for_selector("#events")
    # The charts are drawn by scripts at the end of the page, once loaded.
    page.wait_for_function("() => window.Chart && Chart.getChart('chart-discrepancy')")
    counts = page.evaluate(
        """() => ['chart-dose', 'chart-scores', 'chart-discrepancy'].map(id => {
            const chart = Chart.getChart(document.getElementById(id));
            return chart ? chart.data.datasets.reduce((n, set) => n + set.data.length, 0) : -1;
        })"""
    )
    assert counts == [6, 12, 5]  # 6 doses; 6 pain + 6 Ashworth scores; 5 residuals
    assert page.locator("#table-discrepancy tbody tr").count() == 5
    screenshot(page, "phys-06-timeline")
    page.goto("/board/")
    screenshot(page, "phys-07-board")
