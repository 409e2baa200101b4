"""The staff form that registers a patient (issue 14): it converts, the service refuses."""

from __future__ import annotations

from typing import Any

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Div, Field, Fieldset, Layout, Submit
from django import forms
from django.conf import settings
from django.contrib.auth.models import User

from care.registration import MAX_TRAVEL_BUFFER_DAYS, NewPatient
from core.roles import PHYSICIAN
from patients.choices import ConsentSource, ContactBy, Indication, PatientStatus
from web.device_forms import DATE


def _row(*fields: str, width: int = 4) -> Div:
    return Div(*(Div(Field(name), css_class=f"col-md-{width}") for name in fields), css_class="row")


class RegisterPatientForm(forms.Form):
    mrn = forms.CharField(label="Record number (MRN)", max_length=32)
    family_name = forms.CharField(max_length=100)
    given_name = forms.CharField(max_length=100)
    birth_date = forms.DateField(widget=DATE)
    indication = forms.ChoiceField(choices=[("", "—"), *Indication.choices])
    status = forms.ChoiceField(
        choices=[
            (PatientStatus.REFERRED, "Referred for implant (implant recorded next)"),
            (PatientStatus.SCREENING, PatientStatus.SCREENING.label),
        ],
        initial=PatientStatus.REFERRED,
        help_text="Recording the implant makes the patient “implanted”.",
    )
    treating_physician = forms.ModelChoiceField(
        queryset=User.objects.filter(groups__name=PHYSICIAN, is_active=True).order_by(
            "last_name", "username"
        ),
        required=False,
    )
    # Read and refused by the service (patients.phones): a long paste gets its message.
    phone = forms.CharField(
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel"}),
        help_text="With its area code; a number of another country starts with + and "
        "its country code. Stored and shown as +1 312-555-0123.",
    )
    email = forms.EmailField(required=False)
    contact_by = forms.ChoiceField(
        label="Contact by", choices=ContactBy.choices, initial=ContactBy.NONE
    )
    consent_to_contact = forms.BooleanField(
        label="The patient consents to be contacted this way", required=False
    )
    consent_recorded_on = forms.DateField(
        label="Consent given on",
        widget=DATE,
        required=False,
        help_text="Today when left empty and consent is ticked.",
    )
    consent_source = forms.ChoiceField(
        label="Consent given by",
        choices=[
            ("", "---------"),
            (ConsentSource.PAPER_FORM, ConsentSource.PAPER_FORM.label),
            (ConsentSource.VERBAL, ConsentSource.VERBAL.label),
            (ConsentSource.REGISTRATION, ConsentSource.REGISTRATION.label),
        ],
        required=False,
        help_text="“At registration” when left empty and consent is ticked.",
    )
    preferred_language = forms.ChoiceField(
        label="Language of messages", choices=[("", "---------")], required=False
    )
    travel_buffer_days = forms.IntegerField(
        label="Travel buffer (days)",
        initial=0,
        min_value=0,
        max_value=MAX_TRAVEL_BUFFER_DAYS,
        help_text="Extra days before the refill deadline for a patient who lives far away "
        "or depends on transport.",
    )
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["treating_physician"].label_from_instance = (  # type: ignore[attr-defined]
            lambda user: user.get_full_name() or user.username
        )
        # Asked only when the clinic keeps templates in more than one language.
        languages = list(settings.OUTREACH_LANGUAGES)
        if len(languages) > 1:
            self.fields["preferred_language"].choices = [("", "---------"), *languages]  # type: ignore[attr-defined]
        else:
            del self.fields["preferred_language"]
        self.helper = FormHelper()
        self.helper.form_id = "register-form"
        self.helper.attrs = {"data-once": "true"}
        self.helper.layout = Layout(
            Fieldset(
                "Patient",
                _row("mrn", "family_name", "given_name"),
                _row("birth_date", "indication", "status"),
                _row("treating_physician"),
            ),
            Fieldset(
                "Contact",
                _row("phone", "email", "contact_by"),
                _row("consent_to_contact", "consent_recorded_on", "consent_source"),
                _row(
                    *(["preferred_language"] if len(settings.OUTREACH_LANGUAGES) > 1 else []),
                    "travel_buffer_days",
                ),
                "notes",
            ),
            Submit("save", "Register patient"),
        )

    def new_patient(self) -> NewPatient:
        data = self.cleaned_data
        return NewPatient(
            mrn=data["mrn"],
            family_name=data["family_name"],
            given_name=data["given_name"],
            birth_date=data["birth_date"],
            indication=data["indication"],
            status=data["status"],
            treating_physician=data["treating_physician"],
            phone=data["phone"],
            email=data["email"],
            contact_by=data["contact_by"],
            consent_to_contact=data["consent_to_contact"],
            consent_recorded_on=data["consent_recorded_on"],
            consent_source=data["consent_source"],
            preferred_language=data.get("preferred_language", ""),
            travel_buffer_days=data["travel_buffer_days"],
            notes=data["notes"],
        )
