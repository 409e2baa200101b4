"""Phone numbers in one format (issue 14).

Every stored phone that reads as a valid number (in the clinic's region,
``PHONENUMBER_DEFAULT_REGION``, unless it carries its country code) becomes
E.164. Text that does not (a number without its area code, a note such as
"ask daughter", a number with an extension) is never lost: it moves to
``phone_as_recorded``, shown on the patient page and the worklist until staff
correct it, and the migration prints how many were kept so.

The rule is copied here, not imported from ``patients.phones``: a migration
must read the same way whatever the code later becomes.
"""

import unicodedata

import phonenumbers
from django.conf import settings
from django.db import migrations, models


def _e164(text, region):
    """E.164 of ``text``, or None when it cannot be stored as a number alone."""
    cleaned = "".join(
        " " if unicodedata.category(char) in {"Cc", "Zl", "Zp"} else char
        for char in text
        if unicodedata.category(char) != "Cf"
    ).strip()
    try:
        number = phonenumbers.parse(cleaned, region)
    except phonenumbers.NumberParseException:
        return None
    if number.extension or not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_phones(apps, schema_editor):
    Patient = apps.get_model("patients", "Patient")
    region = str(getattr(settings, "PHONENUMBER_DEFAULT_REGION", "US")).upper()
    normalised = kept = 0
    for patient in Patient.objects.exclude(phone="").only("pk", "phone").iterator():
        e164 = _e164(patient.phone, region)
        if e164 is None:
            Patient.objects.filter(pk=patient.pk).update(phone="", phone_as_recorded=patient.phone)
            kept += 1
        elif e164 != patient.phone:
            Patient.objects.filter(pk=patient.pk).update(phone=e164)
            normalised += 1
    if normalised or kept:
        print(
            f"\n  patients.0009: {normalised} phone number(s) stored in E.164; {kept} could "
            "not be read as a number and are kept as recorded (admin: Patients, filter "
            "“phone to correct”; the patient page shows them)."
        )


def restore_phones(apps, schema_editor):
    """Back: text kept as recorded returns to the phone (E.164 numbers stay so)."""
    Patient = apps.get_model("patients", "Patient")
    Patient.objects.filter(phone="").exclude(phone_as_recorded="").update(
        phone=models.F("phone_as_recorded")
    )


class Migration(migrations.Migration):

    dependencies = [
        ('patients', '0008_contact_preferences'),
    ]

    operations = [
        migrations.AddField(
            model_name='historicalpatient',
            name='phone_as_recorded',
            field=models.CharField(blank=True, help_text='Kept from before phone numbers were checked. Enter the number in “phone”, then clear this.', max_length=100, verbose_name='phone as recorded (not a valid number)'),
        ),
        migrations.AddField(
            model_name='patient',
            name='phone_as_recorded',
            field=models.CharField(blank=True, help_text='Kept from before phone numbers were checked. Enter the number in “phone”, then clear this.', max_length=100, verbose_name='phone as recorded (not a valid number)'),
        ),
        migrations.RunPython(normalise_phones, restore_phones),
    ]
