"""A nurse logs a call from the worklist, comes back to the same filter and sees it
on the row; the physician finds the patient not reached; staff make a calendar feed
(issue 15, items 6 and 7)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone

from care import contact
from care.choices import ContactChannel, ContactOutcome
from care.models import ContactAttempt
from core.roles import PHYSICIAN
from tests.browser.conftest import sign_in
from tests.factories import PatientFactory, UserFactory, fill, make_pump

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/shots-i15con")
WIDTHS = {"1366": {"width": 1366, "height": 900}, "768": {"width": 768, "height": 1024}}


def shoot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    SHOTS.mkdir(parents=True, exist_ok=True)
    for label, size in WIDTHS.items():
        page.set_viewport_size(size)
        page.screenshot(path=SHOTS / f"{name}-{label}.png", full_page=True)
    page.set_viewport_size(WIDTHS["1366"])


def overdue(today, family_name: str, serial: str):  # type: ignore[no-untyped-def]
    pump = make_pump(
        implant_date=today - timedelta(days=400),
        serial=serial,
        patient=PatientFactory(family_name=family_name, given_name="Ines", phone="0161 496 0000"),
    )
    fill(pump, on=today - timedelta(days=200))
    return pump


def test_a_nurse_logs_a_call_from_the_worklist_and_returns_to_the_filter(
    nurse_page,
) -> None:  # type: ignore[no-untyped-def]
    page = nurse_page
    today = timezone.localdate()
    pump = overdue(today, "Okonkwo", "SN-CALL-1")
    other = overdue(today, "Abara", "SN-CALL-2")
    now = timezone.now()
    for hours, outcome in ((30, ContactOutcome.NO_ANSWER), (5, ContactOutcome.VOICEMAIL)):
        at = timezone.localtime(now - timedelta(hours=hours))
        contact.record_contact_attempt(
            patient=other.patient,
            pump=other,
            day=at.date(),
            at=at.time().replace(microsecond=0),
            channel=ContactChannel.CALL,
            outcome=outcome,
            today=today,
            now=now,
            user=None,
        )

    page.goto("/?status=overdue")
    row = page.locator(f"tr[data-serial='{pump.serial}']")
    assert "No contact attempt" in row.locator(".last-contact").inner_text()
    shoot(page, "worklist-before")
    row.get_by_role("link", name="Log call").click()
    page.wait_for_selector("#contact-attempt-form")
    assert "0161 496 0000" in page.locator("#contact-phone").inner_text()
    # No outcome chosen: the form is not sent (the field is required), nothing saved.
    page.get_by_role("button", name="Log attempt").click()
    assert page.locator("#id_outcome:invalid").count() == 1
    assert not ContactAttempt.objects.filter(patient=pump.patient).exists()
    shoot(page, "contact-form")
    page.get_by_label("Outcome").select_option("no_answer")
    page.get_by_label("Note").fill("Rang twice, no voicemail set up")
    page.get_by_role("button", name="Log attempt").click()
    page.wait_for_selector(".alert-success")

    # Back on the worklist with its filter.
    assert page.url.endswith("/?status=overdue")
    attempt = ContactAttempt.objects.get(patient=pump.patient)
    assert (attempt.pump_id, attempt.outcome, attempt.recorded_by.username) == (
        pump.pk,
        "no_answer",
        "nurse",
    )
    last = page.locator(f"tr[data-serial='{pump.serial}'] .last-contact").inner_text()
    assert "No answer" in last
    assert "just now" in last or "min ago" in last
    other_last = page.locator(f"tr[data-serial='{other.serial}'] .last-contact").inner_text()
    assert "Voicemail left" in other_last
    assert "5 h ago" in other_last
    shoot(page, "worklist-after")

    page.goto(f"/patients/{other.patient_id}/#contact-attempts")
    items = page.locator("#contact-attempts li[data-contact-attempt]")
    assert items.count() == 2
    assert items.first.get_attribute("data-outcome") == "voicemail"  # newest first
    page.locator("#contact-attempts").scroll_into_view_if_needed()
    shoot(page, "patient-attempts")

    # The booking page takes the visit's room, the one detail the calendar feed shows.
    page.goto(f"/patients/{other.patient_id}/book/")
    page.get_by_label("Room").fill("Clinic room 3")
    shoot(page, "book-visit-room")


def test_the_physician_sees_the_patient_not_reached_and_a_feed_is_made(
    page,
) -> None:  # type: ignore[no-untyped-def]
    today = timezone.localdate()
    pump = overdue(today, "Nwosu", "SN-UNREACHED")
    now = timezone.now()
    for hours in (50, 26, 2):
        at = timezone.localtime(now - timedelta(hours=hours))
        contact.record_contact_attempt(
            patient=pump.patient,
            pump=pump,
            day=at.date(),
            at=at.time().replace(microsecond=0),
            channel=ContactChannel.CALL,
            outcome=ContactOutcome.NO_ANSWER,
            today=today,
            now=now,
            user=None,
        )
    UserFactory(username="physician", first_name="Ada", last_name="Okafor", roles=[PHYSICIAN])
    sign_in(page, "physician")
    page.goto("/patients/review/#unreachable")
    row = page.locator(f"#unreachable tr[data-serial='{pump.serial}']")
    assert row.get_attribute("data-failed-attempts") == "3"
    page.locator("#unreachable").scroll_into_view_if_needed()
    shoot(page, "review-queue-unreachable")

    page.goto("/feeds/")
    page.get_by_label("My visits (booked by me, or of my patients)").check()
    page.get_by_label("Name it (optional)").fill("Work phone")
    page.get_by_role("button", name="Create feed address").click()
    page.wait_for_selector("#new-feed")
    url = page.locator("#new-feed-url").input_value()
    assert url.endswith(".ics")
    shoot(page, "feeds-created")
    # The address works without signing in, and only until it is revoked.
    path = url.split("://", 1)[1].split("/", 1)[1]
    assert Client().get("/" + path).status_code == 200
    page.get_by_role("button", name="Revoke").click()
    page.wait_for_selector(".alert-success")
    assert page.locator("#new-feed").count() == 0
    assert Client().get("/" + path).status_code == 404
    shoot(page, "feeds-revoked")
