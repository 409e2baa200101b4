"""The refill form's entry safety in a real browser (clinical-rules.md section 8):
a decimal comma is read as a point, and a unit slip must be confirmed."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from django.utils import timezone

from pumps.models import Refill
from tests.factories import baclofen_pump

SHOTS = Path("/tmp/shots")
WIDTHS = (1366, 820)


def test_a_decimal_comma_is_saved_as_a_decimal_point(nurse_page):
    page = nurse_page
    pump = baclofen_pump(today=timezone.localdate())
    page.goto(f"/pumps/{pump.pk}/refill/")
    volume = page.get_by_label("Volume in the pump after the fill (mL)")
    # A text box with the decimal keypad: a number input would drop the comma.
    assert volume.get_attribute("type") == "text"
    assert volume.get_attribute("inputmode") == "decimal"
    page.get_by_label("Residual withdrawn (mL)").fill("18")
    volume.fill("12,5")
    assert volume.input_value() == "12,5"
    page.get_by_role("button", name="Save refill").click()
    page.wait_for_selector("#refill-saved")
    assert "12.5 mL in the pump" in page.locator("#refill-saved").inner_text()
    refill = Refill.objects.get(pump=pump, refill_date=timezone.localdate())
    assert refill.volume_ml == Decimal("12.5")


def test_an_ambiguous_number_is_refused_in_the_browser(nurse_page):
    page = nurse_page
    pump = baclofen_pump(today=timezone.localdate())
    page.goto(f"/pumps/{pump.pk}/refill/")
    page.get_by_label("Residual withdrawn (mL)").fill("18")
    page.get_by_label("Volume in the pump after the fill (mL)").fill("12,500")
    page.get_by_role("button", name="Save refill").click()
    message = page.get_by_text("“12,500” could mean 12.500 or 12500")
    message.wait_for()
    assert Refill.objects.filter(pump=pump).count() == 1


def test_a_unit_slip_must_be_ticked_before_the_refill_saves(nurse_page):
    page = nurse_page
    pump = baclofen_pump(today=timezone.localdate())
    page.goto(f"/pumps/{pump.pk}/refill/")
    page.locator("#id_concentration").fill("200")  # a tenth of the last fill
    page.get_by_label("Residual withdrawn (mL)").fill("18")
    page.get_by_label("Volume in the pump after the fill (mL)").fill("20")
    page.get_by_role("button", name="Save refill").click()
    warnings = page.locator("#refill-warnings")
    warnings.wait_for()
    text = warnings.inner_text()
    assert "200 mcg/mL is 0.2 mg/mL; the last fill was 2000 mcg/mL." in text
    assert "A tenfold change looks like a unit slip." in text
    confirm = page.get_by_label("I have checked the warnings above")
    assert not confirm.is_checked()
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=SHOTS / f"refill_unit_slip_{width}.png", full_page=True)
    # Saving again without the tick asks again and saves nothing.
    page.get_by_role("button", name="Save refill").click()
    page.locator("#refill-warnings").wait_for()
    assert Refill.objects.filter(pump=pump).count() == 1
    page.get_by_label("I have checked the warnings above").check()
    page.get_by_role("button", name="Save refill").click()
    page.wait_for_selector("#refill-saved")
    refill = Refill.objects.get(pump=pump, refill_date=timezone.localdate())
    assert refill.concentration == Decimal("200")
    assert refill.concentration_unit == "mcg/mL"
