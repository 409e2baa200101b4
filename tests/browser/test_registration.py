"""Issue 14's target in a real browser: a nurse registers a patient, implants a pump,
logs the first refill and prints the day's list, without opening the admin."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from django.utils import timezone

from patients.models import Patient
from pumps.models import Pump, Refill

SHOTS = Path("/tmp/shots-reg")
WIDTHS = (1366, 768)


def shoot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    """The page at the two widths the issue asks for, for a person to look at."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=SHOTS / f"{name}-{width}.png", full_page=True)
    page.set_viewport_size({"width": 1366, "height": 900})


def test_a_nurse_registers_implants_refills_and_prints_the_day(nurse_page):  # type: ignore[no-untyped-def]
    page = nurse_page
    today = timezone.localdate()

    # Register: from the navigation bar, never the admin.
    page.get_by_role("link", name="Register patient").click()
    page.wait_for_selector("#register-form")
    page.get_by_label("Record number (MRN)").fill("MRN-4242")
    page.get_by_label("Family name").fill("Lindqvist")
    page.get_by_label("Given name").fill("Elsa")
    page.get_by_label("Birth date").fill("1961-09-30")
    page.get_by_label("Indication").select_option("spinal_cord_injury")
    page.get_by_label("Phone").fill("+46 8 123 456")
    page.get_by_label("Contact by").select_option("sms")
    page.get_by_label("The patient consents to be contacted this way").check()
    page.get_by_label("Travel buffer (days)").fill("5")
    shoot(page, "01-register")
    page.get_by_role("button", name="Register patient").click()

    # Implant: the next page.
    page.wait_for_selector("#implant-form")
    assert "Lindqvist" in page.locator("h1").inner_text()
    page.get_by_label("Pump model").select_option("synchromed_ii_20")
    page.get_by_label("Serial").fill("NGP4242")
    assert page.get_by_label("Implanted on").input_value() == today.isoformat()
    shoot(page, "02-implant")
    page.get_by_role("button", name="Record implant").click()
    page.wait_for_selector(".alert-success")
    assert "NGP4242" in page.locator("#current-pump").inner_text()
    patient = Patient.objects.get(mrn="MRN-4242")
    assert patient.travel_buffer_days == 5
    assert patient.consent_to_contact

    # Book today's refill visit, then log the first refill from the day's list.
    page.get_by_role("link", name="Book visit").click()
    page.get_by_label("Date").fill(today.isoformat())
    page.get_by_label("Time").fill("23:30")
    page.get_by_role("button", name="Book visit").click()
    page.wait_for_selector(".alert-success")
    page.get_by_role("link", name="Today's visits").click()
    row = (
        page.locator("#visits tr", has_text="Lindqvist")
        if page.locator("#visits").count()
        else page.locator("tr", has_text="Lindqvist")
    )
    shoot(page, "03-day-before-refill")
    row.get_by_role("link", name="Log refill").click()
    page.locator("select[name=drug]").select_option("baclofen")
    page.locator("input[name=concentration]").fill("500")
    page.locator("input[name=concentration_unit][value='mcg/mL']").check()
    page.locator("input[name=daily_dose]").fill("100")
    page.locator("input[name=dose_unit][value='mcg/day']").check()
    page.get_by_label("Volume in the pump after the fill (mL)").fill("20")
    page.get_by_role("button", name="Save refill").click()
    if page.get_by_label("I have checked the warnings above").count():
        # A first fill may be asked about (a short fill, say): the nurse has checked.
        page.get_by_label("I have checked the warnings above").check()
        page.get_by_role("button", name="Save refill").click()
    page.wait_for_url("**/saved/")
    assert Refill.objects.filter(pump=Pump.objects.get(serial="NGP4242")).count() == 1

    # Print the day's list: the patient is on it, the buttons are not.
    page.get_by_role("link", name="Today's visits").click()
    page.emulate_media(media="print")
    printed = page.locator("main").inner_text() if page.locator("main").count() else ""
    printed = printed or page.locator("body").inner_text()
    assert "Lindqvist" in printed
    assert not page.get_by_role("link", name="Log refill").is_visible()
    page.pdf(path=str(SHOTS / "04-day-list.pdf"))
    page.emulate_media(media="screen")
    shoot(page, "04-day-after-refill")

    # Asked once: Cancel says what will happen and changes nothing until confirmed.
    page.goto(f"/patients/{patient.pk}/book/")
    page.get_by_label("Date").fill((today + timedelta(days=7)).isoformat())
    page.get_by_role("button", name="Book visit").click()
    page.wait_for_selector(".alert-success")
    page.goto(f"/patients/visits/?day={(today + timedelta(days=7)).isoformat()}")
    page.locator("tr", has_text="Lindqvist").get_by_role("link", name="Cancel").click()
    page.wait_for_selector("#confirm-visit")
    shoot(page, "05-confirm-cancel")
    page.get_by_role("button", name="Cancel the visit").click()
    page.wait_for_selector(".alert-success")

    # The explant asks too, saying what will happen.
    page.goto(patient.get_absolute_url())
    page.get_by_role("link", name="Explant or replace pump").click()
    page.locator("select[name=reason]").select_option("infection")
    shoot(page, "06-explant-form")
    page.get_by_role("button", name="Record explant").click()
    page.wait_for_selector("#confirm-explant")
    assert "no active pump afterwards" in page.locator("#effects").inner_text()
    shoot(page, "07-confirm-explant")
    assert Pump.objects.get(serial="NGP4242").explant_date is None
