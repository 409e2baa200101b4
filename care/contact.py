"""Logging attempts to reach a patient (issue 15, item 6), and correcting them.

Every door (the worklist's form, the patient page, the admin) logs through
``record_contact_attempt``, which refuses what the form might let through: a
moment in the future or out of the date bounds, an unknown channel or
outcome, a pump of another patient.
"""

from __future__ import annotations

from datetime import date, datetime, time

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from care.choices import ContactChannel, ContactOutcome
from care.models import ContactAttempt
from care.services import event_date_refusal, local_datetime
from patients.corrections import mark_entered_in_error, unmark_entered_in_error
from patients.models import Patient
from pumps.models import Pump

NOTE_MAX = 2000


@transaction.atomic
def record_contact_attempt(
    *,
    patient: Patient,
    day: date,
    at: time,
    channel: str,
    outcome: str,
    today: date,
    now: datetime,
    user: User | None,
    pump: Pump | None = None,
    note: str = "",
) -> ContactAttempt:
    """Log one attempt to reach ``patient``, made on ``day`` at ``at`` (clinic time).

    The attempt happened: not in the future (not later than ``now``), within
    the date bounds (clinical-rules.md 8) and not before the patient's birth.
    """
    errors: dict[str, str] = {}
    if refusal := event_date_refusal(
        day, what="the attempt's date", today=today, birth_date=patient.birth_date
    ):
        errors["day"] = refusal
    else:
        attempted_at = local_datetime(day, at)
        if attempted_at > now:
            local_now = timezone.localtime(now)
            errors["at"] = (
                f"The attempt's time {at:%H:%M} is later than now ({local_now:%H:%M}): "
                "log an attempt once it is made."
            )
    if channel not in ContactChannel.values:
        errors["channel"] = "Choose how the patient was contacted."
    if outcome not in ContactOutcome.values:
        errors["outcome"] = "Choose what came of the attempt."
    if pump is not None and pump.patient_id != patient.pk:
        errors["pump"] = "Choose a pump of this patient."
    text = note.strip()
    if len(text) > NOTE_MAX:
        errors["note"] = f"Keep the note within {NOTE_MAX} characters (it has {len(text)})."
    if errors:
        raise ValidationError(errors)
    # Queue two submissions of the same form: the second finds the first's row.
    Patient.objects.select_for_update().filter(pk=patient.pk).first()
    attempt, _ = ContactAttempt.objects.get_or_create(
        entered_in_error_at__isnull=True,
        patient=patient,
        attempted_at=attempted_at,
        channel=channel,
        outcome=outcome,
        note=text,
        defaults={"pump": pump, "recorded_by": user},
    )
    return attempt


@transaction.atomic
def mark_attempt_entered_in_error(
    *, attempt: ContactAttempt, user: User, reason: str, now: datetime
) -> ContactAttempt:
    """The attempt leaves the worklist's "last attempt" and the failed-attempt count."""
    attempt = ContactAttempt.objects.select_for_update().get(pk=attempt.pk)
    mark_entered_in_error(attempt, user=user, reason=reason, now=now)
    return attempt


@transaction.atomic
def restore_attempt(*, attempt: ContactAttempt, user: User, reason: str) -> ContactAttempt:
    attempt = ContactAttempt.objects.select_for_update().get(pk=attempt.pk)
    unmark_entered_in_error(attempt, user=user, reason=reason)
    return attempt
