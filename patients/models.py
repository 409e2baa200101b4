"""People: the patient and what every clinical record shares (entered in error, date bounds)."""

from __future__ import annotations

from datetime import UTC, datetime

from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models.functions import Lower
from django.urls import reverse
from simple_history.models import HistoricalRecords

from core.bounds import EARLIEST_DATE, LATEST_DATE
from patients.choices import ConsentSource, ContactBy, Indication, PatientStatus


class EnteredInError(models.Model):
    """A clinical record that can be marked entered in error (clinical-rules.md 9).

    Nothing clinical is deleted from the staff pages: a record made by mistake
    stays, struck through with who, when and why, and leaves every calculation.
    """

    entered_in_error_at = models.DateTimeField(null=True, blank=True, editable=False)
    entered_in_error_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
    )
    entered_in_error_reason = models.TextField(blank=True, editable=False)

    class Meta:
        abstract = True

    @property
    def is_entered_in_error(self) -> bool:
        return self.entered_in_error_at is not None


# The records still in force: what every calculation and list reads.
IN_FORCE = models.Q(entered_in_error_at__isnull=True)

# The date bounds of clinical-rules.md 8 (core.bounds), held by the
# database too: no door (a script, the shell, a bulk write) can store a date
# that psycopg cannot read back and that would take every page down.
EARLIEST_DAY = EARLIEST_DATE
LATEST_DAY = LATEST_DATE
# A visit's moment is stored in UTC: a day of slack at each end keeps every
# local time of those days storable whatever the clinic's time zone (-12 to +14 h).
EARLIEST_MOMENT = datetime(1899, 12, 31, tzinfo=UTC)
AFTER_LATEST_MOMENT = datetime(2101, 1, 2, tzinfo=UTC)


def date_bounds(
    field: str, *, label: str, name: str, nullable: bool = False
) -> models.CheckConstraint:
    """A check that ``field`` lies within 1900-01-01..2100-12-31 (or is empty)."""
    within = models.Q(**{f"{field}__gte": EARLIEST_DAY, f"{field}__lte": LATEST_DAY})
    return models.CheckConstraint(
        condition=models.Q(**{f"{field}__isnull": True}) | within if nullable else within,
        name=name,
        violation_error_message=f"The {label} must lie between "
        f"{EARLIEST_DAY.isoformat()} and {LATEST_DAY.isoformat()}.",
    )


class Patient(models.Model):
    mrn = models.CharField("record number", max_length=32, unique=True)
    family_name = models.CharField(max_length=100)
    given_name = models.CharField(max_length=100)
    birth_date = models.DateField()
    indication = models.CharField(max_length=32, choices=Indication.choices)
    treating_physician = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="patients",
    )
    status = models.CharField(
        max_length=16, choices=PatientStatus.choices, default=PatientStatus.IMPLANTED
    )
    travel_buffer_days = models.PositiveSmallIntegerField(
        default=0,
        validators=[MaxValueValidator(60)],
        help_text="Extra days before the refill deadline for a patient who lives far away "
        "or depends on transport; added to the clinic's margin.",
    )
    # E.164 ("+13125550123"), written through patients.phones; shown in the
    # international format.
    phone = models.CharField(max_length=40, blank=True)
    # Text recorded as a phone before numbers were checked (issue 14) that could
    # not be read as one: kept, shown beside the phone, until staff correct it.
    phone_as_recorded = models.CharField(
        "phone as recorded (not a valid number)",
        max_length=100,
        blank=True,
        help_text="Kept from before phone numbers were checked. Enter the number in "
        "“phone”, then clear this.",
    )
    email = models.EmailField(blank=True)
    contact_by = models.CharField(
        "contact by", max_length=8, choices=ContactBy.choices, default=ContactBy.NONE
    )
    # Consent is recorded with its day: a reminder may only go to a patient who
    # said yes, and the day says which consent form was in force.
    consent_to_contact = models.BooleanField("consents to be contacted", default=False)
    consent_recorded_on = models.DateField(null=True, blank=True)
    # Where the consent came from (issue 15), and the language of the messages
    # when the clinic keeps templates in more than one (OUTREACH_LANGUAGES).
    consent_source = models.CharField(
        "consent source", max_length=20, choices=ConsentSource.choices, blank=True
    )
    preferred_language = models.CharField("preferred language", max_length=10, blank=True)
    # The last withdrawal of consent (an SMS STOP, an unsubscribe link, staff):
    # shown on the patient page; outreach.ConsentEvent keeps every change.
    consent_withdrawn_at = models.DateTimeField("consent withdrawn at", null=True, blank=True)
    consent_withdrawn_via = models.CharField(
        "consent withdrawn via", max_length=20, choices=ConsentSource.choices, blank=True
    )
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["family_name", "given_name", "mrn"]
        indexes = [
            models.Index(fields=["family_name", "given_name"]),
            # The patient picker (care/patient_search.py): prefixes of the lower-cased
            # name and record number, and the birth date, each an index range.
            models.Index(Lower("family_name"), Lower("given_name"), name="patient_name_lower"),
            models.Index(Lower("given_name"), name="patient_given_name_lower"),
            models.Index(Lower("mrn"), name="patient_mrn_lower"),
            models.Index(fields=["birth_date"], name="patient_birth_date"),
        ]
        constraints = [
            date_bounds("birth_date", label="birth date", name="patient_birth_date_in_bounds"),
            date_bounds(
                "consent_recorded_on",
                label="consent date",
                name="patient_consent_date_in_bounds",
                nullable=True,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.family_name}, {self.given_name} ({self.mrn})"

    def get_absolute_url(self) -> str:
        return reverse("patients:detail", args=[self.pk])

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}"
