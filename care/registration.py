"""Registering a patient from the staff pages (issue 14): one write path, its refusals.

The checks live here once, so the staff form and the admin refuse alike
(clinical-rules.md 8): forms only convert text to values. A record number
that already exists is refused with the existing patient, so the page can
link to that record instead of leaving staff to search for it.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from care.services import birth_date_refusal, event_date_refusal
from patients.choices import ConsentSource, ContactBy, PatientStatus
from patients.models import Patient
from patients.phones import normalise_phone, phone_refusal
from pumps.models import Pump

MAX_TRAVEL_BUFFER_DAYS = 60


@dataclass(frozen=True)
class NewPatient:
    mrn: str
    family_name: str
    given_name: str
    birth_date: date
    indication: str
    treating_physician: Any = None
    status: str = PatientStatus.REFERRED
    phone: str = ""
    email: str = ""
    contact_by: str = ContactBy.NONE
    consent_to_contact: bool = False
    consent_recorded_on: date | None = None
    # Where the consent came from (issue 15): "At registration" when not said.
    consent_source: str = ""
    preferred_language: str = ""
    travel_buffer_days: int = 0
    notes: str = ""


def _has_invisible(text: str) -> bool:
    """Zero-width, direction and control characters make two record numbers look
    the same on screen while differing in the database: refused, never dropped."""
    return any(unicodedata.category(char) in {"Cf", "Cc", "Zl", "Zp"} for char in text)


def patient_with_mrn(mrn: str) -> Patient | None:
    """The patient already holding ``mrn`` (case and outer spaces ignored), or None."""
    return Patient.objects.filter(mrn__iexact=mrn.strip()).first()


def pump_with_serial(serial: str) -> Pump | None:
    """The pump already holding ``serial`` (the database's rule: any case), or None."""
    return Pump.objects.filter(serial__iexact=serial.strip()).select_related("patient").first()


def mrn_refusal(mrn: str, *, patient: Patient | None = None) -> str | None:
    """Why ``mrn`` cannot be a (new) patient's record number, or None."""
    mrn = mrn.strip()
    if not mrn:
        return "Enter the record number."
    if _has_invisible(mrn):
        return (
            "The record number holds an invisible or control character "
            "(often pasted): type it again."
        )
    holder = patient_with_mrn(mrn)
    if holder is not None and (patient is None or holder.pk != patient.pk):
        return (
            f"Record number {holder.mrn} is already registered, for {holder.full_name} "
            f"(born {holder.birth_date}): open {holder.get_absolute_url()}"
        )
    return None


def registration_refusals(new: NewPatient, *, today: date) -> dict[str, str]:
    """Every refusal of ``new``, each on its field, so the form is corrected in one go."""
    errors: dict[str, str] = {}
    if refusal := mrn_refusal(new.mrn):
        errors["mrn"] = refusal
    for field in ("family_name", "given_name"):
        value = getattr(new, field).strip()
        if not value:
            errors[field] = "Enter the name."
        elif _has_invisible(value):
            errors[field] = "The name holds an invisible or control character: type it again."
    if refusal := birth_date_refusal(birth_date=new.birth_date, today=today):
        errors["birth_date"] = refusal
    if not 0 <= new.travel_buffer_days <= MAX_TRAVEL_BUFFER_DAYS:
        errors["travel_buffer_days"] = f"The travel buffer is 0 to {MAX_TRAVEL_BUFFER_DAYS} days."
    errors.update(_contact_refusals(new, today=today))
    return errors


def _contact_refusals(new: NewPatient, *, today: date) -> dict[str, str]:
    """A way to be contacted needs its address and the patient's consent: the
    reminders of a later issue will send only what these fields allow."""
    errors: dict[str, str] = {}
    if refusal := phone_refusal(new.phone):
        errors["phone"] = refusal
    elif new.contact_by in (ContactBy.PHONE, ContactBy.SMS) and not normalise_phone(new.phone).e164:
        errors["phone"] = "Contact by phone or text message needs the phone number."
    if new.contact_by == ContactBy.EMAIL and not new.email.strip():
        errors["email"] = "Contact by email needs the email address."
    if new.contact_by != ContactBy.NONE and not new.consent_to_contact:
        errors["consent_to_contact"] = (
            "The patient has not consented to be contacted: choose “Not to be contacted” "
            "or record the consent."
        )
    if new.consent_recorded_on is not None and (
        refusal := event_date_refusal(
            new.consent_recorded_on,
            what="the consent date",
            today=today,
            birth_date=new.birth_date,
        )
    ):
        errors["consent_recorded_on"] = refusal
    return errors


@transaction.atomic
def register_patient(*, new: NewPatient, today: date, user: Any = None) -> Patient:
    """Register ``new`` or refuse it (``ValidationError`` by field)."""
    if errors := registration_refusals(new, today=today):
        raise ValidationError(errors)
    consent_day = new.consent_recorded_on
    if new.consent_to_contact and consent_day is None:
        # Consent given at registration is recorded on the day it was given.
        consent_day = today
    patient = Patient(
        mrn=new.mrn.strip(),
        family_name=new.family_name.strip(),
        given_name=new.given_name.strip(),
        birth_date=new.birth_date,
        indication=new.indication,
        treating_physician=new.treating_physician,
        status=new.status,
        phone=normalise_phone(new.phone).e164,
        email=new.email.strip(),
        contact_by=new.contact_by,
        consent_to_contact=new.consent_to_contact,
        consent_recorded_on=consent_day if new.consent_to_contact else None,
        consent_source=(new.consent_source or ConsentSource.REGISTRATION)
        if new.consent_to_contact
        else "",
        preferred_language=new.preferred_language,
        travel_buffer_days=new.travel_buffer_days,
        notes=new.notes.strip(),
    )
    if user is not None:
        patient._history_user = user  # type: ignore[attr-defined]
    try:
        # Two registrations of one record number at once: the unique index
        # decides, and the loser gets the same message as a sequential one.
        with transaction.atomic():
            patient.save()
    except IntegrityError:
        raise ValidationError({"mrn": mrn_refusal(new.mrn) or "Already registered."}) from None
    return patient
