"""Choices of visits, trials and clinical events (clinical-rules.md 6 and 7)."""

from django.db import models


class TrialMethod(models.TextChoices):
    SINGLE_BOLUS = "single_bolus", "Single bolus"
    REPEATED_BOLUS = "repeated_bolus", "Repeated bolus"
    CONTINUOUS = "continuous", "Continuous catheter"


class TrialScale(models.TextChoices):
    PAIN_NRS = "pain_nrs", "Pain (NRS 0 to 10)"
    ASHWORTH = "ashworth", "Spasticity (Modified Ashworth)"


class TrialDoseUnit(models.TextChoices):
    MCG = "mcg", "mcg (bolus)"
    MG = "mg", "mg (bolus)"
    MCG_PER_DAY = "mcg/day", "mcg/day"
    MG_PER_DAY = "mg/day", "mg/day"


class TrialOutcome(models.TextChoices):
    SUCCESS = "success", "Success"
    FAILURE = "failure", "Failure"


class TrialDecision(models.TextChoices):
    PENDING = "pending", "Awaiting physician"
    CONFIRMED = "confirmed", "Computed outcome confirmed"
    OVERRIDDEN = "overridden", "Computed outcome overridden"


class ComplicationKind(models.TextChoices):
    INFECTION = "infection", "Infection"
    BLEEDING = "bleeding", "Bleeding"
    CSF_LEAK = "csf_leak", "CSF leak"
    SEROMA = "seroma", "Seroma"
    CATHETER_MIGRATION = "catheter_migration", "Catheter migration"
    CATHETER_KINK = "catheter_kink_or_occlusion", "Catheter kink or occlusion"
    CATHETER_FRACTURE = "catheter_fracture", "Catheter fracture"
    PUMP_FAILURE = "pump_failure_or_motor_stall", "Pump failure or motor stall"
    POCKET_FILL = "pocket_fill", "Pocket fill"
    RESPIRATORY_DEPRESSION = "respiratory_depression", "Respiratory depression"
    OVER_OR_UNDERDOSE = "over_or_underdose", "Over- or underdose"
    WITHDRAWAL = "withdrawal", "Withdrawal"
    GRANULOMA = "granuloma", "Granuloma (inflammatory mass)"
    URINARY_RETENTION = "urinary_retention", "Urinary retention"
    CONSTIPATION = "constipation", "Constipation"
    NAUSEA_OR_VOMITING = "nausea_or_vomiting", "Nausea or vomiting"
    DIZZINESS = "dizziness", "Dizziness"
    ANXIETY = "anxiety", "Anxiety"
    DEPRESSION = "depression", "Depression"
    EDEMA = "edema", "Edema"
    PRURITUS = "pruritus", "Pruritus"
    OTHER = "other", "Other"


class Severity(models.TextChoices):
    MILD = "mild", "Mild"
    MODERATE = "moderate", "Moderate"
    SEVERE = "severe", "Severe"
    LIFE_THREATENING = "life_threatening", "Life-threatening"


class ComplicationOutcome(models.TextChoices):
    ONGOING = "ongoing", "Ongoing"
    RESOLVED = "resolved", "Resolved"
    RESOLVED_WITH_SEQUELAE = "resolved_with_sequelae", "Resolved with sequelae"
    FATAL = "fatal", "Fatal"


class VisitKind(models.TextChoices):
    REFILL = "refill", "Refill"
    POST_MRI_CHECK = "post_mri_check", "Post-MRI pump check"
    BATTERY_CONSULT = "battery_consult", "Battery replacement consult"
    PHYSICIAN_REVIEW = "physician_review", "Physician review"
    FIRST_REVIEW = "first_review", "First post-implant review"


class VisitStatus(models.TextChoices):
    BOOKED = "booked", "Booked"
    DONE = "done", "Done"
    MISSED = "missed", "Missed"
    CANCELLED = "cancelled", "Cancelled"


class ReviewStatus(models.TextChoices):
    """Where a pump stands with its physician reviews (clinical-rules.md section 7)."""

    NOT_DUE = "not_due", "Not due"
    DUE = "due", "Due"
    OVERDUE = "overdue", "Overdue"


class ContactChannel(models.TextChoices):
    """How staff tried to reach a patient (issue 15, item 6)."""

    CALL = "call", "Phone call"
    SMS = "sms", "SMS"
    EMAIL = "email", "Email"
    LETTER = "letter", "Letter"


class ContactOutcome(models.TextChoices):
    REACHED = "reached", "Reached"
    VOICEMAIL = "voicemail", "Voicemail left"
    NO_ANSWER = "no_answer", "No answer"
    WRONG_NUMBER = "wrong_number", "Wrong number"
    DECLINED = "declined", "Reached, declined"


# Attempts that did not reach the patient: three in a row, with an overdue
# refill, raise the patient on the physician's review queue. "Declined" is not
# among them: the patient was reached and answered; what follows is a clinical
# conversation, not another call.
FAILED_CONTACT = (ContactOutcome.VOICEMAIL, ContactOutcome.NO_ANSWER, ContactOutcome.WRONG_NUMBER)
# Attempts that reached the patient: the count of failed attempts starts again after one.
MADE_CONTACT = (ContactOutcome.REACHED, ContactOutcome.DECLINED)
