"""The one vocabulary of statuses and units (docs/style.md, point 2).

Used by the models, the pure rules in ``pumps.schedule``, the templates'
badge filter and the JSON/CSV due list alike. Values are the public codes of
docs/interfaces.md; do not rename them.
"""

from django.db import models


class RefillStatus(models.TextChoices):
    OVERDUE = "overdue", "Overdue"
    DUE = "due", "Due"
    UPCOMING = "upcoming", "Upcoming"
    OK = "ok", "OK"
    UNKNOWN = "unknown", "Never filled"


class BatteryStatus(models.TextChoices):
    ERI = "eri", "ERI alarm"
    OVERDUE = "overdue", "Replacement overdue"
    WINDOW = "window", "Replacement window"
    OK = "ok", "OK"
    NOT_APPLICABLE = "not_applicable", "No battery"


class LimitedBy(models.TextChoices):
    RESERVOIR = "reservoir", "Low-reservoir alarm"
    STABILITY = "stability", "Drug stability limit"


class ConcentrationUnit(models.TextChoices):
    MG_PER_ML = "mg/mL", "mg/mL"
    MCG_PER_ML = "mcg/mL", "mcg/mL"


class DoseUnit(models.TextChoices):
    MG_PER_DAY = "mg/day", "mg/day"
    MCG_PER_DAY = "mcg/day", "mcg/day"


class ExplantReason(models.TextChoices):
    INFECTION = "infection", "Infection"
    FAILURE_TO_RELIEVE_PAIN = "failure_to_relieve_pain", "Failure to relieve pain"
    PATIENT_MISUSE = "patient_misuse", "Patient misuse"
    BATTERY_END_OF_LIFE = "battery_end_of_life", "Battery end of life (replacement)"
    PATIENT_REQUEST = "patient_request", "Patient request"
    OTHER = "other", "Other"
