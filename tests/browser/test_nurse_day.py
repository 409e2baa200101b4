"""A nurse's day in a real browser: sign in, worklist, refills, bookings."""

from __future__ import annotations

import re
from datetime import date, timedelta

from django.core.management import call_command
from django.utils import timezone

from pumps.due_list import build_due_list
from pumps.models import Pump, Refill, SchedulePolicy
from tests.browser.conftest import screenshot, sign_in
from tests.factories import PatientFactory, UserFactory, fill, make_pump


def overdue_baclofen_pump(today: date, **kwargs) -> Pump:
    """SynchroMed II 20 mL, baclofen 2000 mcg/mL at 400 mcg/day (0.2 mL/day),
    filled to 20 mL 95 days ago: the reservoir alarm passed five days ago."""
    pump = make_pump(implant_date=today - timedelta(days=800), **kwargs)
    fill(
        pump,
        on=today - timedelta(days=95),
        drug="baclofen",
        concentration="2000",
        concentration_unit="mcg/mL",
        daily_dose="400",
        dose_unit="mcg/day",
        volume_ml="20",
    )
    pump.refresh_from_db()
    return pump


def worklist_serials(page) -> list[str]:  # type: ignore[no-untyped-def]
    return page.locator("#worklist tbody tr").evaluate_all(
        "rows => rows.map(row => row.dataset.serial)"
    )


def test_signing_in_leads_to_the_worklist(page):
    UserFactory(username="nurse", first_name="Nora", last_name="Reed", roles=["Nurse"])
    page.goto("/")
    assert "/accounts/login/" in page.url
    screenshot(page, "01-sign-in")
    page.get_by_label("Username").fill("nurse")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_text("did not match").is_visible()
    sign_in(page, "nurse")
    assert page.get_by_text("Nora Reed · Nurse").is_visible()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/accounts/login/"))


def test_the_worklist_shows_the_seeded_statuses_in_the_documented_order(page, settings):
    settings.DEBUG = True  # seed_demo refuses to run with DEBUG off
    call_command("seed_demo", verbosity=0)
    sign_in(page, "nurse", password="pump-demo-2026")
    today = timezone.localdate()
    expected = [
        item["serial"]
        for item in build_due_list(
            today=today, lookahead_days=SchedulePolicy.current().lookahead_days, flagged_only=True
        )
    ]
    assert worklist_serials(page) == expected[:25]
    statuses = page.locator("#worklist tbody tr").evaluate_all(
        "rows => rows.map(row => [row.dataset.refillStatus, row.dataset.batteryStatus])"
    )
    seen = {status for pair in statuses for status in pair}
    assert {"overdue", "due", "eri"} <= seen
    assert page.locator("tr[data-urgent=true]").count() >= 1
    screenshot(page, "02-worklist-seeded")
    page.goto("/?page=2")
    assert worklist_serials(page) == expected[25:50]
    # Next reads by key (the rows after the last one shown); Previous goes back.
    page.goto("/")
    page.locator("a[rel=next]").click()
    page.wait_for_url("**after=**")
    assert worklist_serials(page) == expected[25:50]
    assert "page 2 of" in page.get_by_role("navigation", name="Worklist pages").inner_text()
    page.locator("a[rel=prev]").click()
    page.wait_for_url("**page=1")
    assert worklist_serials(page) == expected[:25]


def test_logging_a_refill_moves_the_pump_off_the_worklist(nurse_page):
    page = nurse_page
    today = timezone.localdate()
    pump = overdue_baclofen_pump(today, patient=PatientFactory(family_name="Abbott"))
    page.goto("/")
    row = page.locator(f"tr[data-serial='{pump.serial}']")
    assert row.get_attribute("data-urgent") == "true"
    row.get_by_role("link", name="Log refill").click()
    page.wait_for_selector("#refill-form")
    # Prefilled from the last fill; the expected residual is shown before typing.
    assert page.get_by_label("Concentration").input_value() == "2000"
    assert "Expected residual today" in page.locator("#expected-residual").inner_text()
    screenshot(page, "03-log-refill")
    page.get_by_label("Residual withdrawn (mL)").fill("1")
    page.get_by_label("Volume in the pump after the fill (mL)").fill("20")
    page.get_by_role("button", name="Save refill").click()
    page.wait_for_selector("#refill-saved")
    pump.refresh_from_db()
    schedule = page.locator("#new-schedule").inner_text()
    assert f"{pump.refill_deadline:%A %-d %B %Y}" in schedule
    assert "Low-reservoir alarm" in schedule
    screenshot(page, "04-refill-saved")
    page.get_by_role("link", name="Back to the worklist").click()
    page.wait_for_selector("h1:has-text('Worklist')")
    assert page.locator(f"tr[data-serial='{pump.serial}']").count() == 0


def test_an_overfill_is_refused_with_its_message(nurse_page):
    page = nurse_page
    pump = overdue_baclofen_pump(timezone.localdate())
    page.goto(f"/pumps/{pump.pk}/refill/")
    page.get_by_label("Residual withdrawn (mL)").fill("1")
    page.get_by_label("Volume in the pump after the fill (mL)").fill("25")
    page.get_by_role("button", name="Save refill").click()
    message = page.get_by_text("25 mL is more than this pump's reservoir holds (20 mL).")
    message.wait_for()
    assert message.is_visible()
    screenshot(page, "05-overfill-refused")
    assert Refill.objects.filter(pump=pump).count() == 1


def test_a_discrepancy_asks_for_confirmation_before_saving(nurse_page):
    page = nurse_page
    pump = overdue_baclofen_pump(timezone.localdate())
    page.goto(f"/pumps/{pump.pk}/refill/")
    page.get_by_label("Residual withdrawn (mL)").fill("9")  # expected 0 mL
    page.get_by_label("Volume in the pump after the fill (mL)").fill("20")
    page.get_by_role("button", name="Save refill").click()
    warnings = page.locator("#refill-warnings")
    warnings.wait_for()
    assert "You withdrew 9 mL" in warnings.inner_text()
    assert Refill.objects.filter(pump=pump).count() == 1
    screenshot(page, "06-discrepancy-confirm")
    page.get_by_label("I have checked the warnings above").check()
    page.get_by_role("button", name="Save refill").click()
    page.wait_for_selector("#refill-saved")
    assert "flagged for physician review" in page.locator("#refill-saved").inner_text()
    assert Refill.objects.filter(pump=pump, discrepancy=True).count() == 1


def test_a_double_click_on_save_saves_once(nurse_page):
    page = nurse_page
    pump = overdue_baclofen_pump(timezone.localdate())
    page.goto(f"/pumps/{pump.pk}/refill/")
    page.get_by_label("Residual withdrawn (mL)").fill("1")
    page.get_by_label("Volume in the pump after the fill (mL)").fill("20")
    page.get_by_role("button", name="Save refill").dblclick()
    page.wait_for_selector("#refill-saved")
    assert Refill.objects.filter(pump=pump).count() == 2  # the old fill and one new


def test_booking_the_next_visit_and_seeing_it(nurse_page):
    page = nurse_page
    pump = overdue_baclofen_pump(timezone.localdate(), patient=PatientFactory(family_name="Byrne"))
    page.goto(f"/pumps/{pump.pk}/refill/")
    page.get_by_label("Residual withdrawn (mL)").fill("1")
    page.get_by_label("Volume in the pump after the fill (mL)").fill("20")
    page.get_by_role("button", name="Save refill").click()
    page.get_by_role("link", name=re.compile("Book the next refill")).click()
    page.wait_for_selector("#book-visit-form")
    pump.refresh_from_db()
    assert page.get_by_label("Date").input_value() == pump.refill_due.isoformat()
    page.get_by_label("Time").fill("14:15")
    screenshot(page, "07-book-visit")
    page.get_by_role("button", name="Book visit").click()
    page.wait_for_selector("#visits")
    assert "booked for" in page.locator(".alert-success").inner_text()
    visits = page.locator("#visits").inner_text()
    assert f"{pump.refill_due:%a %-d %b %Y}, 14:15" in visits
    screenshot(page, "08-patient-page")
    page.goto(f"/patients/visits/week/?day={pump.refill_due.isoformat()}")
    assert "Byrne" in page.locator("#week-visits").inner_text()
    screenshot(page, "09-week-view")
    page.goto(f"/patients/visits/?day={pump.refill_due.isoformat()}")
    assert "Byrne" in page.locator("#day-visits").inner_text()
    screenshot(page, "10-day-view")
