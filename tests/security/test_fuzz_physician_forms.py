"""Arbitrary input at the physician's forms (issue 4): never a 500, refusals write nothing.

To fuzz another form, add a row to FORMS: (url name, clinic_objects key for its
pk or None, its fields by kind as in tests/security/fuzz.py).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from care.choices import (
    ComplicationKind,
    ComplicationOutcome,
    Severity,
    TrialDecision,
    TrialDoseUnit,
    TrialMethod,
    TrialOutcome,
    TrialScale,
)
from pumps.choices import ExplantReason
from tests.security.fuzz import (
    assert_no_500,
    assert_refusal_wrote_nothing,
    choices,
    counts,
    form_data,
    fuzz,
)

pytestmark = pytest.mark.django_db

NEW_PUMP = {
    "new_model": choices("synchromed_ii_20", "synchromed_ii_40", "prometra_ii", "x"),
    "new_serial": "text",
    "new_implant_date": "date",
}
SCORES = choices("0", "1", "1+", "2", "3", "4", "8", "10", "11", "-1")

FORMS: list[tuple[str, str | None, dict[str, Any]]] = [
    (
        "patients:trials",
        None,
        {
            "patient": "int",
            "trial_date": "date",
            "method": choices(*TrialMethod.values),
            "drug": choices("morphine", "baclofen", "x"),
            "dose": "decimal",
            "dose_unit": choices(*TrialDoseUnit.values),
            "scale": choices(*TrialScale.values),
            "score_before": SCORES,
            "score_after": SCORES,
            "notes": "text",
        },
    ),
    (
        "patients:decide_trial",
        "pending_trial",
        {
            "decision": choices(*TrialDecision.values),
            "final_outcome": choices("", *TrialOutcome.values),
            "reason": "text",
        },
    ),
    ("pumps:sign_off", "discrepancy_refill", {"comment": "text"}),
    ("patients:record_mri", "patient", {"scanned_on": "date", "notes": "text"}),
    ("patients:mri_checked", "mri_scan", {"checked_on": "date"}),
    (
        "patients:record_complication",
        "patient",
        {
            "occurred_on": "date",
            "kind": choices(*ComplicationKind.values),
            "severity": choices(*Severity.values),
            "outcome": choices(*ComplicationOutcome.values),
            "notes": "text",
        },
    ),
    (
        "pumps:explant",
        "active_pump",
        {
            "explant_date": "date",
            "reason": choices("", *ExplantReason.values),
            "replace": "bool",
            **NEW_PUMP,
        },
    ),
    ("pumps:implant", "patient_without_pump", NEW_PUMP),
]


@pytest.fixture
def physician(client: Client, role_users: dict[str, Any]) -> Client:
    client.force_login(role_users["physician"])
    return client


@pytest.mark.parametrize(("name", "obj", "fields"), FORMS, ids=[form[0] for form in FORMS])
@fuzz(80)
@given(data=st.data())
def test_physician_forms_never_fail_and_refusals_write_nothing(
    physician: Client,
    clinic_objects: dict[str, Any],
    name: str,
    obj: str | None,
    fields: dict[str, Any],
    data: st.DataObject,
) -> None:
    body = data.draw(form_data(fields))
    url = reverse(name, args=[clinic_objects[obj].pk] if obj else [])
    before = counts()
    response = physician.post(url, body)
    assert_no_500(response, body)
    assert_refusal_wrote_nothing(before, response, body)
