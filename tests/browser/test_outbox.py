"""The outbox in a real browser (issue 15): a nurse filters the outbox, opens a
patient's messages, and marks a "to phone" task done."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from outreach import outbox
from outreach.choices import Channel, MessageKind, MessageState, TaskState
from outreach.models import Message, StaffTask
from patients.choices import ContactBy
from tests.browser.conftest import screenshot
from tests.factories import PatientFactory, make_pump


def test_a_nurse_filters_the_outbox_and_closes_a_task(nurse_page):
    page = nurse_page
    patient = PatientFactory(
        family_name="Okonkwo", phone="555-0142", contact_by=ContactBy.SMS, consent_to_contact=True
    )
    pump = make_pump(patient=patient)
    now = timezone.now()
    outbox.queue(
        [
            Message(
                patient=patient,
                kind=MessageKind.VISIT_REMINDER,
                channel=Channel.SMS,
                text=f"Reminder number {n}",
                due_at=now - timedelta(hours=n),
                dedupe_key=f"k{n}",
            )
            for n in range(3)
        ]
    )
    Message.objects.filter(dedupe_key="k1").update(state=MessageState.SENT, sent_at=now)
    Message.objects.filter(dedupe_key="k2").update(
        state=MessageState.FAILED, last_error="provider answered 503"
    )
    task = StaffTask.objects.create(
        patient=patient,
        pump=pump,
        message=Message.objects.get(dedupe_key="k1"),
        text="Refill due, not booked: phone the patient.",
        dedupe_key="task:1",
    )

    page.get_by_role("link", name="Outbox").click()
    page.wait_for_selector("h1:has-text('Outbox')")
    assert page.locator("#outbox tbody tr").count() == 3
    assert "Okonkwo" in page.inner_text("#staff-tasks")
    screenshot(page, "outbox")

    page.select_option("#id_state", "failed")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**state=failed**")
    rows = page.locator("#outbox tbody tr")
    assert rows.count() == 1
    assert "provider answered 503" in rows.first.inner_text()

    page.locator("#staff-tasks").get_by_role("button", name="Done").click()
    page.wait_for_selector(".alert:has-text('marked done')")
    task.refresh_from_db()
    assert task.state == TaskState.DONE
    assert page.locator("#staff-tasks").count() == 0

    page.locator("#outbox a", has_text="Okonkwo").first.click()
    page.wait_for_selector("h1:has-text('Messages to')")
    assert page.locator("#patient-messages tbody tr").count() == 3
    assert "Consents" in page.inner_text("#contact-consent")
    screenshot(page, "patient-messages")
