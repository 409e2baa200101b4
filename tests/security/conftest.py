"""Users in each role and a small clinic for the security tests."""

from __future__ import annotations

from datetime import date, time, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from care import services as visit_services
from care.choices import VisitKind
from care.models import Appointment, MriScan, Trial
from core.roles import ADMINISTRATOR, NURSE, PHYSICIAN
from pumps import services
from tests.factories import FAR_FUTURE, PatientFactory, UserFactory, fill, make_pump

ROLES = ("anonymous", "nurse", "physician", "administrator")


def make_user(role: str) -> AbstractBaseUser | None:
    """A user as the demo clinic makes them: the administrator is staff (may enter the
    Django admin) in the Administrator group, no superuser and no clinician."""
    if role == "anonymous":
        return None
    if role == "administrator":
        return UserFactory(username="sec-admin", roles=[ADMINISTRATOR], is_staff=True)
    return UserFactory(
        username=f"sec-{role}", roles=[{"nurse": NURSE, "physician": PHYSICIAN}[role]]
    )


@pytest.fixture
def role_users(db) -> dict[str, Any]:
    return {role: make_user(role) for role in ROLES}


@pytest.fixture
def clinic_objects(db) -> dict[str, Any]:
    """One of each record a URL can name, keyed as the access matrix names them."""
    today = timezone.localdate()
    patient = PatientFactory(mrn="SEC0001")
    pump = make_pump(patient=patient, implant_date=today - timedelta(days=400))
    refill = fill(pump, on=today - timedelta(days=20))
    old_patient = PatientFactory(mrn="SEC0002")
    old_pump = make_pump(patient=old_patient, implant_date=date(2020, 1, 1))
    services.explant_pump(
        pump=old_pump, explant_date=date(2021, 1, 1), reason="battery_end_of_life", today=FAR_FUTURE
    )
    visit_services.book_visit(
        patient=patient,
        pump=pump,
        kind=VisitKind.REFILL,
        day=today + timedelta(days=3),
        at=time(9, 0),
        notes="",
        booked_by=None,
        today=today,
    )
    # For the physician's review pages (issue 4): a flagged refill to sign off,
    # a pending trial and an MRI whose pump check is not done.
    flagged_pump = make_pump(
        patient=PatientFactory(mrn="SEC0003"), implant_date=today - timedelta(days=400)
    )
    fill(flagged_pump, on=today - timedelta(days=20))
    flagged = fill(flagged_pump, on=today - timedelta(days=10), residual_ml="1")
    # Explanted, so that the lists keep the one active pump the other tests expect.
    services.explant_pump(pump=flagged_pump, explant_date=today, reason="other", today=today)
    trial = Trial.objects.create(
        patient=old_patient,
        trial_date=today,
        method="single_bolus",
        drug=refill.drug,
        dose="1",
        dose_unit="mg",
        scale="pain_nrs",
        score_before="8",
        score_after="2",
    )
    return {
        "patient": patient,
        "active_pump": pump,
        "explanted_pump": old_pump,
        "refill": refill,
        "appointment": Appointment.objects.get(patient=patient),
        "patient_without_pump": old_patient,
        "discrepancy_refill": flagged,
        "pending_trial": trial,
        "mri_scan": MriScan.objects.create(patient=patient, scanned_on=today),
    }
