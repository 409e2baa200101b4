"""Explants, replacements and first implants, as the physician records them.

A replacement is one transaction: the old pump is explanted and the new one
implanted (``pumps.services``), so the patient is never without a pump on the
lists and the new pump's battery window starts from its own implant date
(clinical-rules.md section 5).

The drug is not carried over to the new pump as a fill: the fill at surgery
(drug, concentration, volume) is recorded as the new pump's first refill, and
until then the pump shows as "never filled" on the worklist, so nobody can
forget it. The refill form is prefilled from the old pump's last fill.
Visits still booked for the old pump move to the new one.

``pumps.services.explant_pump`` and ``implant_pump`` stay without a role
check: the import (run by the system's administrator from the shell) and the
demo write devices through them; every clinician's door comes through here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from care.models import Appointment
from core.roles import CLINICAL_ROLES, require_role
from patients.choices import PatientStatus
from patients.models import Patient
from pumps import entry_safety, services
from pumps.choices import ExplantReason
from pumps.models import Pump, PumpModel


@dataclass(frozen=True)
class NewPump:
    model: PumpModel
    serial: str
    implant_date: date
    # The low-reservoir alarm for this pump when not the model's (None: the model's).
    alarm_ml_override: Decimal | None = None


def is_replacement(reason: str, replace: bool) -> bool:
    """A battery at end of life is always replaced; any other reason when ticked."""
    return reason == ExplantReason.BATTERY_END_OF_LIFE or replace


@transaction.atomic
def record_explant(
    *,
    pump: Pump,
    explant_date: date,
    reason: str,
    today: date,
    new_pump: NewPump | None,
    user: Any,
) -> tuple[Pump, Pump | None]:
    """Explant ``pump``; when ``new_pump`` is given implant it in the same transaction.

    Every refusal (the explant's and the new pump's) comes back at once, each on
    its field, so staff correct the form in one go. Explant and replacement
    are clinical acts: ``user`` must be a nurse or a physician (issue 14), never
    the administrator alone (separated duties, core/roles.py).
    """
    require_role(user, *CLINICAL_ROLES, to="record an explant or a replacement")
    errors: dict[str, list[str]] = {}
    if reason == ExplantReason.BATTERY_END_OF_LIFE and new_pump is None:
        errors["new_serial"] = ["A battery replacement needs the new pump's details."]
    if new_pump is not None:
        for field, message in new_pump_refusals(
            pump.patient, new_pump, today=today, explant_date=explant_date
        ).items():
            errors.setdefault(field, []).append(message)
    try:
        old = services.explant_pump(
            pump=pump, explant_date=explant_date, reason=reason, today=today
        )
    except ValidationError as error:
        for field, messages in error.message_dict.items():
            errors.setdefault(field, []).extend(messages)
        old = pump
    if errors:
        raise ValidationError(errors)
    if new_pump is None:
        return old, None
    new = _implant(old.patient, new_pump, today)
    _move_booked_visits(old, new)
    return old, new


def new_pump_refusals(
    patient: Patient, new_pump: NewPump, *, today: date, explant_date: date | None = None
) -> dict[str, str]:
    """The new pump's serial and implant date checked as clinical-rules.md 8 asks,
    named after the form's ``new_*`` fields (``pumps.services.implant_pump`` checks
    them again: it is the one write path)."""
    errors: dict[str, str] = {}
    serial = new_pump.serial.strip()
    if refusal := entry_safety.serial_refusal(serial):
        errors["new_serial"] = refusal
    elif holder := (Pump.objects.filter(serial__iexact=serial).select_related("patient").first()):
        errors["new_serial"] = (
            f"Serial {serial} is already recorded, for pump {holder.serial} of "
            f"{holder.patient.full_name} ({holder.patient.mrn}): check the pump's card."
        )
    day = new_pump.implant_date
    if refusal := entry_safety.date_refusal(day, today=today, happened=True):
        errors["new_implant_date"] = f"The implant date {refusal}"
    elif day < patient.birth_date:
        errors["new_implant_date"] = (
            f"The implant date {day} is before the patient's birth ({patient.birth_date})."
        )
    elif explant_date is not None and day < explant_date:
        errors["new_implant_date"] = (
            f"The new pump cannot go in ({day}) before the old one came out ({explant_date})."
        )
    return errors


def _move_booked_visits(old: Pump, new: Pump) -> None:
    """Visits still booked for the old pump are the patient's: they move to the new one.

    Left on the explanted pump, a booked refill would vanish from the worklist
    (which shows active pumps) and the new pump would show as not booked.
    Saved one by one, so each move is in the visit's history.
    """
    for visit in Appointment.objects.booked().filter(pump=old):
        visit.pump = new
        visit.save(update_fields=["pump"])


def _implant(patient: Patient, new_pump: NewPump, today: date) -> Pump:
    """Implant through the service; its refusals are named after the form's new_* fields."""
    try:
        return services.implant_pump(
            patient=patient,
            model=new_pump.model,
            serial=new_pump.serial,
            implant_date=new_pump.implant_date,
            alarm_ml_override=new_pump.alarm_ml_override,
            today=today,
        )
    except ValidationError as error:
        raise ValidationError(
            {f"new_{field}": messages for field, messages in error.message_dict.items()}
        ) from None


@transaction.atomic
def record_implant(*, patient: Patient, new_pump: NewPump, today: date, user: Any) -> Pump:
    """A referred patient's first pump; the patient's status becomes implanted.

    A clinical act: ``user`` must be a nurse or a physician (issue 14).
    """
    require_role(user, *CLINICAL_ROLES, to="record an implant")
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    if errors := new_pump_refusals(patient, new_pump, today=today):
        raise ValidationError(errors)
    pump = _implant(patient, new_pump, today)
    patient.status = PatientStatus.IMPLANTED
    patient.save(update_fields=["status"])
    return pump
