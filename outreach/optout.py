"""Opt-out (issue 15, item 5): an SMS reply of STOP (or a synonym) or the
unsubscribe link of an email withdraws consent at once."""

from __future__ import annotations

import re

from outreach.consent import withdraw_consent
from patients.choices import ConsentSource, ContactBy
from patients.models import Patient

STOP_WORDS = frozenset({"stop", "stopall", "unsubscribe", "cancel", "end", "quit"})


def is_stop(text: str) -> bool:
    """The whole reply is one stop word (any case, spaces and final punctuation ignored)."""
    word = re.sub(r"[\s.!]+$", "", text.strip()).lower()
    return word in STOP_WORDS


def digits(number: str) -> str:
    return re.sub(r"\D", "", number)


def same_number(a: str, b: str) -> bool:
    """Equal digits, or equal last ten digits when both have ten or more (a
    country code written on one side only)."""
    da, db = digits(a), digits(b)
    if not da or not db:
        return False
    if da == db:
        return True
    return len(da) >= 10 and len(db) >= 10 and da[-10:] == db[-10:]


def patients_with_number(number: str) -> list[Patient]:
    candidates = Patient.objects.exclude(phone="").filter(contact_by=ContactBy.SMS)
    return [patient for patient in candidates if same_number(patient.phone, number)]


def handle_inbound_sms(from_number: str, text: str) -> list[Patient]:
    """Withdraw the consent of every patient reached at that number, if the reply
    is a stop word. Returns the patients whose consent was withdrawn."""
    if not is_stop(text):
        return []
    withdrawn = []
    for patient in patients_with_number(from_number):
        withdrawn.append(
            withdraw_consent(
                patient,
                source=ConsentSource.SMS_REPLY,
                detail=f"SMS reply “{text.strip()[:40]}” from {from_number[:40]}",
            )
        )
    return withdrawn


def unsubscribe(patient: Patient, *, message_id: int) -> Patient:
    return withdraw_consent(
        patient, source=ConsentSource.EMAIL_LINK, detail=f"unsubscribe link of message {message_id}"
    )
