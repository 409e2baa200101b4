"""Issue 14 in the browser: the picker searches as you type and a physician chooses a
patient with the keyboard alone; the phone, notes and what the pump holds where staff
work. Screenshots at 1366 and 768 px in /tmp/shots-i14c (SHOTS_DIR to change)."""

from __future__ import annotations

import os
from datetime import date, timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from care.models import Trial
from core.roles import PHYSICIAN
from patients.models import Patient
from pumps.models import Refill
from tests.browser.conftest import screenshot, sign_in
from tests.factories import PatientFactory, UserFactory, fill, make_pump

SHOTS = Path(os.environ.get("SHOTS_DIR", "/tmp/shots-i14c"))
WIDTHS = (1366, 768)


def shots(page, name: str) -> None:  # type: ignore[no-untyped-def]
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=SHOTS / f"{name}-{width}.png", full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


@pytest.fixture
def physician_page(page):  # type: ignore[no-untyped-def]
    UserFactory(username="doctor", first_name="Dana", last_name="Hale", roles=[PHYSICIAN])
    sign_in(page, "doctor")
    return page


@pytest.fixture
def clinic() -> dict[str, Patient]:
    today = timezone.localdate()
    names = [("Okafor", "Ada"), ("Okafor", "Obi"), ("Okoye", "Chidi"), ("Smith", "Emil")]
    patients = {
        given: PatientFactory(
            mrn=f"A{1001 + n}",
            family_name=family,
            given_name=given,
            birth_date=date(1950 + n, 3, 4),
            phone=f"+1312555010{n}",
            notes="Hard of hearing: call the daughter first." if given == "Obi" else "",
        )
        for n, (family, given) in enumerate(names)
    }
    for n in range(40):  # a clinic larger than one screen of names
        PatientFactory(mrn=f"Z{n:03d}", family_name=f"Other{n:02d}", given_name="Pat")
    pump = make_pump(
        model="synchromed_ii_40",
        implant_date=today - timedelta(days=400),
        patient=patients["Obi"],
        serial="NGP424242H",
    )
    refill = fill(
        pump,
        on=today + timedelta(days=2 - 90),
        drug="admixture",
        concentration="5",
        daily_dose="1",
        volume_ml="40",
    )
    Refill.objects.filter(pk=refill.pk).update(
        notes="Hydromorphone with bupivacaine 15 mg/mL and clonidine 50 mcg/mL."
    )
    return patients


def test_a_physician_types_and_picks_a_patient_with_the_keyboard(physician_page, clinic):
    page = physician_page
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    page.goto("/patients/trials/")
    box = page.get_by_role("combobox", name="Patient")
    assert box.get_attribute("aria-expanded") == "false"
    box.focus()
    page.keyboard.type("okaf")
    matches = page.get_by_role("listbox", name="Matching patients")
    options = matches.get_by_role("option")
    options.first.wait_for()
    assert options.count() == 2
    assert box.get_attribute("aria-expanded") == "true"
    assert "Okafor, Ada" in options.nth(0).inner_text()
    shots(page, "picker-typing")
    page.keyboard.press("ArrowDown")  # from Ada to Obi
    active = box.get_attribute("aria-activedescendant")
    assert active
    assert "Okafor, Obi" in page.locator(f"#{active}").inner_text()
    page.keyboard.press("Enter")  # chooses; the form is not sent
    assert matches.is_hidden()
    assert box.input_value() == "Okafor, Obi · A1002 · born 4 Mar 1951"
    assert page.locator("input[name=patient]").input_value() == str(clinic["Obi"].pk)
    assert not Trial.objects.exists()

    # Escape closes the list and keeps the patient chosen before.
    box.focus()
    page.keyboard.type(" x")
    page.keyboard.press("Escape")
    assert page.locator("input[name=patient]").input_value() == str(clinic["Obi"].pk)

    # A birth date and a serial find the patient too.
    box.fill("")
    page.keyboard.type("NGP4242")
    options.first.wait_for()
    assert options.count() == 1
    assert "Okafor, Obi" in options.first.inner_text()
    page.keyboard.press("Enter")

    # The rest of the form by keyboard, then send it.
    page.locator("#id_trial_date").fill(timezone.localdate().isoformat())
    page.locator("#id_drug").select_option("baclofen")
    page.locator("#id_dose").fill("50")
    page.get_by_label("mcg (bolus)").check()
    page.locator("#id_scale").select_option("ashworth")
    page.locator("#id_score_before").fill("3")
    page.locator("#id_score_after").fill("1")
    page.get_by_role("button", name="Record trial").click()
    page.wait_for_url("**/decide/")
    assert Trial.objects.get().patient == clinic["Obi"]
    assert not errors, errors


def test_without_javascript_the_picker_is_a_search_page(browser, live_server, clinic):
    context = browser.new_context(
        java_script_enabled=False, base_url=live_server.url, viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    UserFactory(username="doctor2", roles=[PHYSICIAN])
    sign_in(page, "doctor2")
    page.goto("/patients/trials/")
    shots(page, "picker-no-js-form")
    page.get_by_role("link", name="Find a patient").click()
    page.get_by_label("Name, record number, pump serial or birth date").fill("04/03/1951")
    page.get_by_role("button", name="Search").click()
    assert page.locator("#find-note").is_visible()  # 4 March or 3 April: both read
    shots(page, "picker-no-js-results")
    page.get_by_role("link", name="Choose Okafor, Obi (A1002)").click()
    page.wait_for_url("**/patients/trials/?patient=*")
    box = page.get_by_role("textbox", name="Patient")
    assert box.input_value() == "Okafor, Obi · A1002 · born 4 Mar 1951"
    assert box.get_attribute("readonly") is not None
    context.close()


def test_phone_notes_and_composition_where_staff_work(physician_page, clinic):
    page = physician_page
    obi = clinic["Obi"]
    page.goto("/")
    row = page.locator("tr[data-serial='NGP424242H']")
    link = row.get_by_role("link", name="+1 312-555-0101")
    assert link.get_attribute("href") == "tel:+13125550101"
    shots(page, "worklist")

    page.goto(f"/patients/{obi.pk}/")
    contact = page.locator("#contact")
    assert contact.get_by_role("link", name="+1 312-555-0101").is_visible()
    assert contact.get_by_text("Hard of hearing: call the daughter first.").is_visible()
    assert page.get_by_text("clonidine 50 mcg/mL").is_visible()
    shots(page, "patient-page")

    page.get_by_role("link", name="Log refill").first.click()
    page.wait_for_selector("#refill-form")
    assert (
        page.locator("[data-composition]:visible").get_by_text("clonidine 50 mcg/mL").is_visible()
    )
    page.set_viewport_size({"width": 768, "height": 900})
    assert page.locator("#refill-context").get_by_text("clonidine 50 mcg/mL").is_visible()
    page.set_viewport_size({"width": 1280, "height": 900})
    assert page.locator("#contact").get_by_role("link", name="+1 312-555-0101").is_visible()
    shots(page, "refill-form")

    page.goto("/worklist/print/")
    assert page.get_by_text("+1 312-555-0101").is_visible()
    screenshot(page, "i14c-worklist-print")
