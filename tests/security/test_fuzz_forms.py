"""Arbitrary input at every form: never a 500, and a refusal writes nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from hypothesis import given

from patients.choices import VisitKind, VisitStatus
from pumps.choices import ConcentrationUnit, DoseUnit
from pumps.forms import RefillForm
from tests.factories import fill
from tests.security.fuzz import (
    assert_no_500,
    assert_refusal_wrote_nothing,
    choices,
    counts,
    form_data,
    fuzz,
)

pytestmark = pytest.mark.django_db

REFILL_FIELDS = form_data(
    {
        "refill_date": "date",
        "drug": choices("morphine", "baclofen", "hydromorphone", "ziconotide", "water"),
        "concentration": "decimal",
        "concentration_unit": choices(*ConcentrationUnit.values, "mg/L", "MG/ML"),
        "daily_dose": "decimal",
        "dose_unit": choices(*DoseUnit.values, "mg/hour"),
        "residual_ml": "decimal",
        "volume_ml": "decimal",
        "eri": "bool",
        "pain_score": "int",
        "ashworth_score": choices("", "0", "1", "1+", "2", "3", "4", "5"),
        "notes": "text",
        "confirm": "bool",
        "warnings_digest": "text",
        "submission_token": "uuid",
    }
)


@pytest.fixture
def nurse(client: Client, role_users: dict[str, Any]) -> Client:
    client.force_login(role_users["nurse"])
    return client


@fuzz(300)
@given(data=REFILL_FIELDS)
def test_the_refill_form_never_fails_and_refusals_write_nothing(
    nurse: Client, clinic_objects: dict[str, Any], data: dict[str, str]
) -> None:
    url = reverse("pumps:log_refill", args=[clinic_objects["active_pump"].pk])
    before = counts()
    response = nurse.post(url, data)
    assert_no_500(response, data)
    assert_refusal_wrote_nothing(before, response, data)


@fuzz(600)
@given(data=REFILL_FIELDS)
def test_the_refill_form_on_its_own_never_raises(
    clinic_objects: dict[str, Any], data: dict[str, str]
) -> None:
    """The form's own cleaning, for a pump with and without an expected residual."""
    pump = clinic_objects["active_pump"]
    for expected in (None, "12.5"):
        form = RefillForm(data, pump=pump, expected_residual=expected)
        if form.is_valid():
            assert form.cleaned_data["concentration"] > 0
            assert form.cleaned_data["daily_dose"] >= 0


@fuzz(350)
@given(
    data=form_data(
        {
            "kind": choices(*VisitKind.values, "surgery"),
            "day": "date",
            "at": "time",
            "notes": "text",
        }
    )
)
def test_the_booking_form_never_fails_and_refusals_write_nothing(
    nurse: Client, clinic_objects: dict[str, Any], data: dict[str, str]
) -> None:
    url = reverse("patients:book_visit", args=[clinic_objects["patient"].pk])
    before = counts()
    response = nurse.post(url, data)
    assert_no_500(response, data)
    assert_refusal_wrote_nothing(before, response, data)


@fuzz(300)
@given(data=form_data({"status": choices(*VisitStatus.values, "deleted"), "next": "text"}))
def test_the_visit_status_form_never_fails(
    nurse: Client, clinic_objects: dict[str, Any], data: dict[str, str]
) -> None:
    """Status changes answer with a redirect and a message either way; a refused one
    leaves the visit as it was."""
    appointment = clinic_objects["appointment"]
    appointment.refresh_from_db()
    status_before = appointment.status
    before = counts()
    response = nurse.post(reverse("patients:set_visit_status", args=[appointment.pk]), data)
    assert_no_500(response, data)
    appointment.refresh_from_db()
    if appointment.status == status_before:
        assert counts() == before
    # Wherever "next" said, the answer never leaves the site.
    assert url_has_allowed_host_and_scheme(response["Location"], allowed_hosts={"testserver"})


@fuzz(300)
@given(data=form_data({"username": "text", "password": "text", "next": "text"}))
def test_the_sign_in_form_never_fails(
    client: Client, role_users: dict[str, Any], data: dict[str, str]
) -> None:
    before = counts()
    response = client.post(reverse("login"), data)
    assert response.status_code in (200, 429), f"{response.status_code} for {data!r}"
    assert counts() == before
    assert "_auth_user_id" not in client.session


def test_a_valid_refill_gets_through_the_same_door(
    nurse: Client, clinic_objects: dict[str, Any]
) -> None:
    """The fuzzed door does open: the data above can succeed, so refusals are refusals."""
    pump = clinic_objects["active_pump"]
    fill(pump, on=timezone.localdate() - timedelta(days=1))
    assert pump.refills.count() == 2
