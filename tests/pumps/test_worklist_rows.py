"""The worklist's rows built in Python (web/worklist_rows.py) read as the template wrote them.

The template's row loop is kept beside this test (reference/worklist_rows.html)
as the oracle: the page's rows must equal it, whitespace aside, on every kind
of row: each status, urgent, discrepancy, ERI, bookings after the deadline or
after the battery stops, a missed visit, a contact attempt, no fill, text that
must be escaped, and a viewer with no clinical role (no action buttons).
"""

from __future__ import annotations

import re
from datetime import date, time, timedelta
from pathlib import Path

import pytest
from django.template import Context, Engine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from care import contact
from care import services as care_services
from care.choices import ContactChannel, ContactOutcome, VisitKind, VisitStatus
from core.roles import ADMINISTRATOR, NURSE, PHYSICIAN
from pumps import services
from tests.factories import PatientFactory, UserFactory, baclofen_pump, fill, make_pump

pytestmark = pytest.mark.django_db

REFERENCE = Path(__file__).parent / "reference" / "worklist_rows.html"
URL = reverse("pumps:worklist")


def squeeze(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r">\s+<", "> <", html)).strip()


def reference_rows(response, *, is_clinical: bool) -> str:
    engine = Engine.get_default()
    template = engine.from_string(REFERENCE.read_text())
    context = Context(
        {
            "page": response.context["page"],
            "is_clinical": is_clinical,
            "here": response.wsgi_request.get_full_path(),
        }
    )
    return squeeze(template.render(context))


def page_rows(response) -> str:
    html = response.content.decode()
    return squeeze(html[html.index("<tbody>") + len("<tbody>") : html.index("</tbody>")])


@pytest.fixture
def today() -> date:
    return timezone.localdate()


@pytest.fixture
def every_kind_of_row(today: date) -> None:
    """One pump per branch of a row."""
    nurse = UserFactory(roles=[NURSE])
    moment = timezone.now()
    # Overdue morphine, a name and record number that must be escaped, a contact attempt.
    tricky = PatientFactory(family_name="O'Brien <b>&\"", given_name="<script>x</script>")
    overdue = make_pump(implant_date=today - timedelta(days=400), patient=tricky)
    fill(overdue, on=today - timedelta(days=200))
    at = timezone.localtime(moment - timedelta(hours=3))
    contact.record_contact_attempt(
        patient=tricky,
        pump=overdue,
        day=at.date(),
        at=at.time().replace(microsecond=0),
        channel=ContactChannel.CALL,
        outcome=ContactOutcome.NO_ANSWER,
        today=today,
        now=moment,
        user=nurse,
    )
    # Due baclofen: urgent, booked after its deadline (filled 95 days ago: 20 mL at
    # 0.2 mL a day).
    baclofen = baclofen_pump(today=today - timedelta(days=85))
    care_services.book_visit(
        patient=baclofen.patient,
        pump=baclofen,
        kind=VisitKind.REFILL,
        day=today + timedelta(days=20),
        at=time(9, 30),
        today=today,
    )
    # A residual discrepancy left unsigned, and an ERI whose battery stops before the
    # next refill is due.
    flagged = make_pump(implant_date=today - timedelta(days=2000))
    fill(flagged, on=today - timedelta(days=88))
    fill(flagged, on=today - timedelta(days=2), residual_ml="1")
    services.record_eri(pump=flagged, seen_on=today - timedelta(days=60), today=today)
    care_services.book_visit(
        patient=flagged.patient,
        pump=flagged,
        kind=VisitKind.REFILL,
        day=today + timedelta(days=40),
        at=time(14, 0),
        today=today,
    )
    # In the battery window, with a missed visit.
    window = make_pump(implant_date=today - timedelta(days=365 * 5 + 30))
    fill(window, on=today - timedelta(days=85))
    missed = care_services.book_visit(
        patient=window.patient,
        pump=window,
        kind=VisitKind.REFILL,
        day=today,
        at=time(0, 0),
        today=today,
    )
    care_services.set_visit_status(appointment=missed, status=VisitStatus.MISSED, user=nurse)
    # Never filled.
    make_pump(implant_date=today - timedelta(days=3))


@pytest.mark.parametrize(
    ("roles", "is_clinical"), [([NURSE], True), ([PHYSICIAN], True), ([ADMINISTRATOR], False)]
)
@pytest.mark.parametrize("query", ["", "?status=discrepancy", "?status=eri", "?q=O'Brien&page=1"])
def test_the_rows_read_as_the_template_wrote_them(
    every_kind_of_row: None, roles: list[str], is_clinical: bool, query: str
) -> None:
    client = Client()
    client.force_login(UserFactory(roles=roles))
    response = client.get(URL + query)
    assert response.status_code == 200
    assert response.context["page"].object_list, "the filter left no row to compare"
    assert page_rows(response) == reference_rows(response, is_clinical=is_clinical)


def test_every_branch_was_compared(every_kind_of_row: None, nurse_client: Client) -> None:
    """The fixture reaches each branch the oracle has (else the comparison proves less)."""
    rows = page_rows(nurse_client.get(URL))
    for mark in (
        "urgent-flag",
        'data-flag="discrepancy"',
        'data-replace-by="',
        "closes ",
        'data-problem="after-deadline"',
        "Missed visit",
        "Last attempt:",
        "no fill recorded",
        "O&#x27;Brien &lt;b&gt;&amp;&quot;",
        "&lt;script&gt;x&lt;/script&gt;",
        'data-problem="after-battery"',
        'data-problem="due-after-battery"',
    ):
        assert mark in rows, mark
    assert "<script>x" not in rows


def test_the_way_back_keeps_the_page_and_its_filters(
    every_kind_of_row: None, nurse_client: Client
) -> None:
    rows = page_rows(nurse_client.get(URL + "?status=overdue&q=O'Brien"))
    assert "next=/%3Fstatus%3Doverdue%26q%3DO%27Brien" in rows
