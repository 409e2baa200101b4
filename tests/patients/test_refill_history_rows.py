"""The refill history built in Python (web/refill_history_rows.py) reads as the template
wrote it, and the entered-in-error tag (core.html) as the partial it replaced.

The template loops are kept beside this test (reference/) as the oracles: the page's
rows must equal them, whitespace aside, on every kind of refill: plain, a bolus with
its expected range, a discrepancy awaiting a physician, one signed off (by a named
physician, and by one known only by username, with a comment that must be escaped),
an ERI, a refill recorded by a nurse, and one entered in error with its flag; for a
clinical viewer and for an administrator (no correction links).
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from django.template import Context, Engine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from core.roles import ADMINISTRATOR, NURSE, PHYSICIAN
from patients.models import Patient
from pumps import services
from pumps.models import Refill
from tests.factories import PatientFactory, UserFactory, fill, make_pump

pytestmark = pytest.mark.django_db

REFERENCE = Path(__file__).parent / "reference"
ENGINE = Engine(dirs=[str(REFERENCE.parent)], libraries={"clinic": "pumps.templatetags.clinic"})


def squeeze(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r">\s+<", "> <", html)).strip()


def history(html: str) -> str:
    table = html[html.index('id="refill-history"') :]
    return squeeze(table[table.index("<tbody>") + len("<tbody>") : table.index("</tbody>")])


def reference_rows(response, *, is_clinical: bool) -> str:
    patient = response.context["patient"]
    refills = list(
        Refill.objects.filter(pump__patient=patient)
        .select_related("drug", "pump", "recorded_by", "discrepancy_signed_off_by")
        .select_related("entered_in_error_by")
        .order_by("-refill_date", "-pk")
    )
    template = ENGINE.get_template("reference/refill_history_rows.html")
    context = {
        "refills": refills,
        "is_clinical": is_clinical,
        "entered_in_error_url": reverse("patients:entered_in_error", args=[patient.pk]),
        "restore_record_url": reverse("patients:restore_record", args=[patient.pk]),
    }
    return squeeze(template.render(Context(context)))


@pytest.fixture
def every_kind_of_refill() -> Patient:
    today = timezone.localdate()
    nurse = UserFactory(roles=[NURSE], first_name="Nora", last_name="Nurse")
    named = UserFactory(roles=[PHYSICIAN], first_name="Phil", last_name="O'Hara")
    unnamed = UserFactory(roles=[PHYSICIAN], username="dr_<x>")
    now = timezone.now()
    patient = PatientFactory()
    pump = make_pump(patient=patient, implant_date=today - timedelta(days=900))
    fill(pump, on=today - timedelta(days=400), bolus_dose="0.1", boluses_per_day=4)
    # Residual far from the expected range: flagged, then signed off with a comment.
    signed = fill(pump, on=today - timedelta(days=340), residual_ml="1")
    services.sign_off_discrepancy(
        refill=signed, user=named, comment='checked "<b>" & fine', now=now
    )
    other = fill(pump, on=today - timedelta(days=280), residual_ml="1")
    services.sign_off_discrepancy(refill=other, user=unnamed, comment="seen", now=now)
    fill(pump, on=today - timedelta(days=220), eri=True)
    by_nurse = fill(pump, on=today - timedelta(days=160), residual_ml="1")
    Refill.objects.filter(pk=by_nurse.pk).update(recorded_by=nurse)
    # Flagged, then entered in error: the flag goes with it.
    wrong = fill(pump, on=today - timedelta(days=100), residual_ml="1")
    services.mark_refill_entered_in_error(
        refill=wrong, user=nurse, reason="wrong <pump> & date", now=now
    )
    fill(pump, on=today - timedelta(days=40), residual_ml="1")  # awaiting a physician
    return patient


@pytest.mark.parametrize(
    ("roles", "is_clinical"), [([NURSE], True), ([PHYSICIAN], True), ([ADMINISTRATOR], False)]
)
def test_the_rows_read_as_the_template_wrote_them(
    every_kind_of_refill: Patient, roles: list[str], is_clinical: bool
) -> None:
    client = Client()
    client.force_login(UserFactory(roles=roles))
    response = client.get(every_kind_of_refill.get_absolute_url())
    assert response.status_code == 200
    assert history(response.content.decode()) == reference_rows(response, is_clinical=is_clinical)


def test_every_branch_was_compared(every_kind_of_refill: Patient) -> None:
    """The fixture reaches each branch the oracle has (else the comparison proves less)."""
    client = Client()
    client.force_login(UserFactory(roles=[NURSE]))
    rows = history(client.get(every_kind_of_refill.get_absolute_url()).content.decode())
    for mark in (
        "bolus 0.1 mg up to 4\u00d7/day",
        " to ",  # an expected range after the bolus fill
        "Discrepancy signed off by Phil O&#x27;Hara",
        'title="checked &quot;&lt;b&gt;&quot; &amp; fine"',
        "Discrepancy signed off by dr_&lt;x&gt;",
        "Discrepancy: awaiting physician",
        '<span class="badge text-bg-danger">ERI</span>',
        "Nora Nurse",
        "not recorded",
        "Entered in error</strong> by Nora Nurse",
        "wrong &lt;pump&gt; &amp; date",
        "Its residual-volume flag went with it.",
        ">Restore</a>",
        "\u2013",  # an en dash: no residual recorded
    ):
        assert mark in rows, mark
    assert "<pump>" not in rows


def test_a_patient_without_refills(nurse_client: Client) -> None:
    patient = PatientFactory()
    rows = history(nurse_client.get(patient.get_absolute_url()).content.decode())
    assert rows == '<tr><td colspan="10" class="text-muted">No refills recorded.</td></tr>'


@pytest.mark.parametrize("is_clinical", [True, False])
@pytest.mark.parametrize("in_error", [True, False])
def test_the_entered_in_error_tag_writes_what_the_partial_wrote(
    is_clinical: bool, in_error: bool
) -> None:
    today = timezone.localdate()
    nurse = UserFactory(roles=[NURSE], first_name="", last_name="")
    refill = fill(make_pump(implant_date=today - timedelta(days=90)), on=today - timedelta(days=5))
    if in_error:
        services.mark_refill_entered_in_error(
            refill=refill, user=nurse, reason="typed 'twice' <again>", now=timezone.now()
        )
        refill.refresh_from_db()
    context = {
        "record": refill,
        "is_clinical": is_clinical,
        "entered_in_error_url": "/patients/1/entered-in-error/",
        "restore_record_url": "/patients/1/restore/",
    }
    tag = ENGINE.from_string('{% load clinic %}{% entered_in_error_actions record "refill" %}')
    partial = ENGINE.get_template("reference/entered_in_error_actions.html")
    written = squeeze(tag.render(Context(context)))
    assert written == squeeze(partial.render(Context({**context, "kind": "refill"})))
    assert ("Restore" in written) == (in_error and is_clinical)
    assert bool(written) == (in_error or is_clinical)
    # Set apart by line breaks, as the partial was (a space between inline elements).
    assert tag.render(Context(context)).startswith("\n")


def test_an_old_date_keeps_its_format(nurse_client: Client) -> None:
    """The history's dates are Django's ``date`` filter's (j M Y), as the template had."""
    pump = make_pump(implant_date=date(2001, 2, 3))
    fill(pump, on=date(2001, 2, 3))
    rows = history(nurse_client.get(pump.patient.get_absolute_url()).content.decode())
    assert "3 Feb 2001" in rows
