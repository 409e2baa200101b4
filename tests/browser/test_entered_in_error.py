"""A nurse marks a refill entered in error from the patient page (clinical-rules.md 9)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from pumps.models import Pump, Refill
from tests.factories import PatientFactory, fill, make_pump

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/shots")


def test_a_refill_marked_entered_in_error_is_struck_through_and_the_dates_recomputed(
    nurse_page,
) -> None:  # type: ignore[no-untyped-def]
    page = nurse_page
    today = timezone.localdate()
    pump = make_pump(
        implant_date=today - timedelta(days=400), patient=PatientFactory(family_name="Okonkwo")
    )
    first = fill(pump, on=today - timedelta(days=40))
    pump.refresh_from_db()
    deadline_after_first = pump.refill_deadline
    # 20 - 0.2 x 10 = 18 mL expected; 10 mL withdrawn: flagged.
    second = fill(pump, on=today - timedelta(days=30), residual_ml="10")
    pump.refresh_from_db()
    assert pump.refill_deadline != deadline_after_first
    assert pump.open_discrepancies == 1

    page.goto(f"/patients/{pump.patient_id}/")
    row = page.locator(f"#refill-history tr[data-refill='{second.pk}']")
    row.get_by_role("link", name="Entered in error").click()
    page.wait_for_selector("#correction")
    effects = page.locator("#effects").inner_text()
    assert f"the fill of {first.refill_date:%-d %b %Y}" in effects
    # The reason is required: the server refuses an empty one (and says so by the field).
    page.get_by_label("Reason").fill("   ")
    page.get_by_role("button", name="Mark entered in error").click()
    page.wait_for_selector("#reason-error")
    assert "Say why" in page.locator("#reason-error").inner_text()
    assert not Refill.objects.get(pk=second.pk).is_entered_in_error
    page.get_by_label("Reason").fill("Logged on the wrong patient's pump")
    page.get_by_role("button", name="Mark entered in error").click()
    page.wait_for_selector(".alert-success")

    row = page.locator(f"#refill-history tr[data-refill='{second.pk}']")
    assert row.get_attribute("class") == "entered-in-error"
    decoration = row.locator("td").first.evaluate(
        "cell => getComputedStyle(cell).textDecorationLine"
    )
    assert decoration == "line-through"
    # Who, when and why, on a row of its own below (readable at any width).
    below = page.locator(f"#refill-history tr[data-refill-note='{second.pk}']")
    note = below.locator(".entered-in-error-note").inner_text()
    assert "Nora Reed" in note
    assert "Logged on the wrong patient's pump" in note
    assert below.get_by_role("link", name="Restore").count() == 1
    assert "Discrepancy: awaiting physician" not in row.inner_text()  # the flag went with it
    pump = Pump.objects.get(pk=pump.pk)
    assert pump.refill_deadline == deadline_after_first
    assert pump.open_discrepancies == 0

    SHOTS.mkdir(parents=True, exist_ok=True)
    for width, height in ((1366, 900), (820, 1180)):
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(SHOTS / f"patient_{width}.png"), full_page=True)
    page.emulate_media(media="print")
    page.pdf(path=str(SHOTS / "patient.pdf"), format="A4", print_background=True)
    assert (SHOTS / "patient.pdf").stat().st_size > 0
