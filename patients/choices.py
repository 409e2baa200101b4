"""Choices for people."""

from django.db import models


class Indication(models.TextChoices):
    CANCER_PAIN = "cancer_pain", "Cancer pain"
    POST_LAMINECTOMY = "post_laminectomy", "Post-laminectomy syndrome"
    FAILED_BACK = "failed_back", "Failed back surgery syndrome"
    OSTEOPOROSIS = "osteoporosis", "Osteoporosis"
    CEREBRAL_PALSY = "cerebral_palsy", "Cerebral palsy"
    STROKE = "stroke", "Stroke"
    MULTIPLE_SCLEROSIS = "multiple_sclerosis", "Multiple sclerosis"
    SPINAL_CORD_INJURY = "spinal_cord_injury", "Spinal cord injury"
    OTHER = "other", "Other"


class PatientStatus(models.TextChoices):
    SCREENING = "screening", "Screening"
    REFERRED = "referred", "Referred for implant"
    IMPLANTED = "implanted", "Implanted"
    DISCHARGED = "discharged", "Discharged"
    DECEASED = "deceased", "Deceased"


class ContactBy(models.TextChoices):
    """How the patient agrees to be reached (another issue sends reminders by it)."""

    NONE = "none", "Not to be contacted"
    PHONE = "phone", "Phone call"
    SMS = "sms", "Text message (SMS)"
    EMAIL = "email", "Email"


class ConsentSource(models.TextChoices):
    """Where the patient's consent to be contacted (or its withdrawal) came from."""

    PAPER_FORM = "paper_form", "Signed form"
    VERBAL = "verbal", "Said so to staff (in person or by phone)"
    REGISTRATION = "registration", "At registration"
    SMS_REPLY = "sms_reply", "SMS reply (STOP)"
    EMAIL_LINK = "email_link", "Unsubscribe link in an email"
    STAFF = "staff", "Recorded by staff"
