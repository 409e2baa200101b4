"""Arbitrary input at every form: never a 500, and a refusal writes nothing."""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from hypothesis import event, given
from hypothesis import strategies as st

from care.choices import VisitKind, VisitStatus
from pumps.choices import ConcentrationUnit, DoseUnit
from pumps.models import Refill
from tests.factories import fill
from tests.security.fuzz import (
    assert_no_500,
    assert_refusal_wrote_nothing,
    choices,
    counts,
    decimals,
    form_data,
    fuzz,
)
from web.pump_forms import RefillForm

pytestmark = pytest.mark.django_db

REFILL_FIELDS = form_data(
    {
        "refill_date": "date",
        "drug": choices("morphine", "baclofen", "hydromorphone", "ziconotide", "water"),
        "concentration": "decimal",
        "concentration_unit": choices(*ConcentrationUnit.values, "mg/L", "MG/ML"),
        "daily_dose": "decimal",
        "dose_unit": choices(*DoseUnit.values, "mg/hour"),
        "bolus_dose": "decimal",
        "boluses_per_day": "int",
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


# --- The refill form's decimals: exactly what was typed, or a field error -------------------

DECIMAL_FIELDS = ("concentration", "daily_dose", "bolus_dose", "residual_ml", "volume_ml")

typed_numbers = st.one_of(
    st.from_regex(r"-?[0-9]{1,9}([.,][0-9]{1,6})?", fullmatch=True),
    st.from_regex(r"[0-9]{1,3}([.,][0-9]{3}){1,2}([.,][0-9]{1,2})?", fullmatch=True),
    st.text(alphabet="0123456789.,- \u200b\u00a0\u066b\uff10e+", min_size=1, max_size=12),
    decimals(),
    st.text(max_size=20),
)


def valid_refill(pump: Any, today: date) -> dict[str, str]:
    """A refill of the security clinic's pump that saves without a warning:
    morphine 20 mg/mL at 4 mg/day (0.2 mL/day), 16 mL left after 20 days."""
    return {
        "refill_date": today.isoformat(),
        "drug": "morphine",
        "concentration": "20",
        "concentration_unit": "mg/mL",
        "daily_dose": "4",
        "dose_unit": "mg/day",
        "bolus_dose": "",
        "boluses_per_day": "2",
        "residual_ml": "16",
        "volume_ml": "20",
        "submission_token": str(uuid.uuid4()),
    }


def canonical(text: str) -> Decimal | None:
    """The one number ``text`` can mean (section 8), or None: an oracle independent of
    entry_safety.parse_decimal."""
    stripped = text.strip(" ")
    if not re.fullmatch(r"-?([0-9]+([.,][0-9]+)?|[.,][0-9]+)", stripped, flags=re.ASCII):
        return None
    if re.fullmatch(r"-?[1-9][0-9]{0,2},[0-9]{3}", stripped, flags=re.ASCII):
        return None  # 12,500: 12.5 or 12500?
    return Decimal(stripped.replace(",", "."))


@fuzz(300)
@given(field=st.sampled_from(DECIMAL_FIELDS), typed=typed_numbers)
def test_a_typed_decimal_saves_exactly_or_is_a_field_error(
    nurse: Client, clinic_objects: dict[str, Any], field: str, typed: str
) -> None:
    pump = clinic_objects["active_pump"]
    url = reverse("pumps:log_refill", args=[pump.pk])
    data = {**valid_refill(pump, timezone.localdate()), field: typed}
    # Each example is undone, so every one starts from the same records.
    with transaction.atomic():
        before = counts()
        refills = Refill.objects.count()
        response = nurse.post(url, data)
        assert_no_500(response, data)
        if response.status_code == 200 and response.context["warnings"]:
            digest = response.context["form"].data["warnings_digest"]
            response = nurse.post(url, {**data, "confirm": "on", "warnings_digest": digest})
            assert_no_500(response, data)
        event("saved" if response.status_code == 302 else "refused")
        if response.status_code == 302:
            saved = Refill.objects.get(submission_token=data["submission_token"])
            assert Refill.objects.count() == refills + 1
            stored = getattr(saved, field)
            if typed == "":  # an optional field left empty: not measured, no bolus
                assert field in ("residual_ml", "bolus_dose")
                assert stored is None
                transaction.set_rollback(True)
                return
            expected = canonical(typed)
            assert expected is not None, f"{typed!r} saved as {stored!r}"
            if field == "bolus_dose" and expected == 0:
                assert stored is None  # no bolus, as record_fill stores it
            else:
                assert stored == expected, f"{typed!r} saved as {stored!r}"
        else:
            assert response.status_code in (200, 409), response.status_code
            errors = response.context["form"].errors
            assert set(errors) - {"__all__"}, f"no field error for {typed!r}: {errors!r}"
            assert counts() == before, f"a refused input wrote rows: {typed!r}"
        transaction.set_rollback(True)


def test_the_typed_decimal_oracle_saves_a_decimal_comma(
    nurse: Client, clinic_objects: dict[str, Any]
) -> None:
    """The property's door opens: 19,5 mL saves as 19.5 mL."""
    pump = clinic_objects["active_pump"]
    data = {**valid_refill(pump, timezone.localdate()), "volume_ml": "19,5"}
    response = nurse.post(reverse("pumps:log_refill", args=[pump.pk]), data)
    assert response.status_code == 302
    assert Refill.objects.get(submission_token=data["submission_token"]).volume_ml == Decimal(
        "19.5"
    )
    assert canonical("12,500") is None
    assert canonical("12,5") == Decimal("12.5")


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
