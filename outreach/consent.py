"""Consent to be contacted (issue 15, item 1): the one check every message passes,
when it is queued and again when it is sent, and the writes that change consent."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from outreach.choices import Channel, MessageState
from outreach.models import ConsentEvent, Message
from patients.choices import ConsentSource, ContactBy, PatientStatus
from patients.models import Patient


def address_for(patient: Patient, channel: str) -> str:
    """The number or address a message on ``channel`` goes to ("" if none)."""
    return (patient.phone if channel == Channel.SMS else patient.email).strip()


def consent_refusal(patient: Patient, channel: str) -> str | None:
    """Why no message on ``channel`` may go to the patient now, or None if it may:
    consent recorded, this channel chosen, its number or address known."""
    if patient.status in (PatientStatus.DECEASED, PatientStatus.DISCHARGED):
        return f"the patient is {patient.get_status_display().lower()}"
    if not patient.consent_to_contact:
        return "no consent to be contacted"
    if patient.contact_by != channel:
        return f"the patient chose {patient.get_contact_by_display().lower()}, not {channel}"
    if not address_for(patient, channel):
        return f"no {'phone number' if channel == Channel.SMS else 'email address'}"
    return None


def message_channel(patient: Patient) -> str | None:
    """The channel reminders go by, or None when the patient may not get messages."""
    if patient.contact_by in (ContactBy.SMS, ContactBy.EMAIL) and (
        consent_refusal(patient, patient.contact_by) is None
    ):
        return str(patient.contact_by)
    return None


def cancel_queued(patient_ids: list[int], *, reason: str) -> int:
    """Cancel every queued message of these patients (not one being sent)."""
    return Message.objects.filter(patient_id__in=patient_ids, state=MessageState.QUEUED).update(
        state=MessageState.CANCELLED, cancelled_reason=reason[:200], claim_token=""
    )


@transaction.atomic
def withdraw_consent(
    patient: Patient, *, source: str, detail: str = "", user: Any = None
) -> Patient:
    """Withdraw the patient's consent at once: no message is sent from now on, the
    queued ones are cancelled, and the change is kept (who, when, how)."""
    now = timezone.now()
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    channel = patient.contact_by
    patient.consent_to_contact = False
    patient.contact_by = ContactBy.NONE
    patient.consent_withdrawn_at = now
    patient.consent_withdrawn_via = source
    if user is not None:
        patient._history_user = user  # type: ignore[attr-defined]
    patient._change_reason = f"Consent withdrawn ({ConsentSource(source).label})"  # type: ignore[attr-defined]
    patient.save(
        update_fields=[
            "consent_to_contact",
            "contact_by",
            "consent_withdrawn_at",
            "consent_withdrawn_via",
        ]
    )
    ConsentEvent.objects.create(
        patient=patient,
        given=False,
        channel=channel,
        source=source,
        detail=detail[:200],
        recorded_by=user if getattr(user, "pk", None) else None,
        at=now,
    )
    cancel_queued([patient.pk], reason=f"consent withdrawn ({ConsentSource(source).label})")
    return patient


@transaction.atomic
def record_consent(
    patient: Patient,
    *,
    channel: str,
    source: str,
    on: Any,
    detail: str = "",
    user: Any = None,
) -> Patient:
    """Record the patient's consent to be contacted by ``channel`` (its source and day)."""
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    patient.consent_to_contact = True
    patient.contact_by = channel
    patient.consent_recorded_on = on
    patient.consent_source = source
    patient.consent_withdrawn_at = None
    patient.consent_withdrawn_via = ""
    if user is not None:
        patient._history_user = user  # type: ignore[attr-defined]
    patient.save()
    ConsentEvent.objects.create(
        patient=patient,
        given=True,
        channel=channel,
        source=source,
        detail=detail[:200],
        recorded_by=user if getattr(user, "pk", None) else None,
        at=timezone.now(),
    )
    return patient
