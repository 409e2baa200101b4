"""Forms of the physician's decisions: convert input, the services decide (style.md 7)."""

from __future__ import annotations

from typing import Any

from crispy_forms.bootstrap import InlineRadios
from crispy_forms.helper import FormHelper
from crispy_forms.layout import Div, Field, Layout, Submit
from django import forms
from django.urls import reverse_lazy

from care import contact, decisions
from care.choices import (
    ComplicationKind,
    ComplicationOutcome,
    ContactChannel,
    ContactOutcome,
    Severity,
    TrialDecision,
    TrialDoseUnit,
    TrialMethod,
    TrialOutcome,
    TrialScale,
)
from pumps.fields import ClinicalDecimalField
from pumps.models import Drug
from web.patient_picker import PatientPickerField

DATE = forms.DateInput(attrs={"type": "date"})


def _helper(form_id: str, *layout: Any, submit: str) -> FormHelper:
    helper = FormHelper()
    helper.form_id = form_id
    helper.attrs = {"data-once": "true"}
    helper.layout = Layout(*layout, Submit("save", submit))
    return helper


class TrialForm(forms.Form):
    # Searched for, not scrolled through (issue 14): web/patient_picker.py.
    patient = PatientPickerField(next_url=reverse_lazy("patients:trials"))
    trial_date = forms.DateField(widget=DATE)
    method = forms.ChoiceField(choices=TrialMethod.choices)
    drug = forms.ModelChoiceField(queryset=Drug.objects.all(), to_field_name="code")
    # Read as typed (decimal comma allowed); zero or less is refused by the service.
    dose = ClinicalDecimalField(max_digits=10, decimal_places=3)
    dose_unit = forms.ChoiceField(choices=TrialDoseUnit.choices, widget=forms.RadioSelect)
    scale = forms.ChoiceField(choices=TrialScale.choices)
    score_before = forms.CharField(
        max_length=3, help_text="NRS: a whole number 0 to 10. Ashworth: 0, 1, 1+, 2, 3 or 4."
    )
    score_after = forms.CharField(max_length=3)
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = _helper(
            "trial-form",
            Div(
                Div(Field("patient"), css_class="col-md-6"),
                Div(Field("trial_date"), css_class="col-6 col-md-3"),
                Div(Field("method"), css_class="col-6 col-md-3"),
                css_class="row",
            ),
            Div(
                Div(Field("drug"), css_class="col-md-4"),
                Div(Field("dose"), css_class="col-md-3"),
                Div(InlineRadios("dose_unit"), css_class="col-md-5"),
                css_class="row",
            ),
            Div(
                Div(Field("scale"), css_class="col-md-6"),
                Div(Field("score_before"), css_class="col-6 col-md-3"),
                Div(Field("score_after"), css_class="col-6 col-md-3"),
                css_class="row",
            ),
            "notes",
            submit="Record trial",
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        scale, before, after = (
            cleaned.get("scale"),
            cleaned.get("score_before"),
            cleaned.get("score_after"),
        )
        if scale and before is not None and after is not None:
            for field, message in decisions.validate_scores(
                scale=scale, before=before, after=after
            ).items():
                self.add_error(field, message)
        return cleaned


class TrialDecisionForm(forms.Form):
    decision = forms.ChoiceField(
        choices=[
            (TrialDecision.CONFIRMED, "Confirm the computed outcome"),
            (TrialDecision.OVERRIDDEN, "Override it"),
        ],
        widget=forms.RadioSelect,
    )
    final_outcome = forms.ChoiceField(
        label="Outcome instead (when overriding)",
        choices=[("", "—"), *TrialOutcome.choices],
        required=False,
    )
    reason = forms.CharField(
        label="Reason (required when overriding)",
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = _helper(
            "decide-form", "decision", "final_outcome", "reason", submit="Record decision"
        )


class SignOffForm(forms.Form):
    comment = forms.CharField(
        label="What was found or decided",
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = _helper("sign-off-form", "comment", submit="Sign off")


class MriForm(forms.Form):
    scanned_on = forms.DateField(label="Scanned on", widget=DATE)
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = _helper("mri-form", "scanned_on", "notes", submit="Record MRI")


class MriCheckedForm(forms.Form):
    checked_on = forms.DateField(label="Pump interrogated on", widget=DATE)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = _helper("mri-checked-form", "checked_on", submit="Mark the check done")


class ComplicationForm(forms.Form):
    occurred_on = forms.DateField(widget=DATE)
    kind = forms.ChoiceField(label="Complication", choices=ComplicationKind.choices)
    severity = forms.ChoiceField(choices=Severity.choices)
    outcome = forms.ChoiceField(choices=ComplicationOutcome.choices)
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = _helper(
            "complication-form",
            Div(
                Div(Field("occurred_on"), css_class="col-md-3"),
                Div(Field("kind"), css_class="col-md-3"),
                Div(Field("severity"), css_class="col-md-3"),
                Div(Field("outcome"), css_class="col-md-3"),
                css_class="row",
            ),
            "notes",
            submit="Record complication",
        )


class ContactAttemptForm(forms.Form):
    """A call or message to reach a patient (issue 15, item 6); the service decides."""

    day = forms.DateField(label="Date", widget=DATE)
    at = forms.TimeField(label="Time", widget=forms.TimeInput(attrs={"type": "time"}))
    channel = forms.ChoiceField(
        label="How", choices=ContactChannel.choices, initial=ContactChannel.CALL
    )
    outcome = forms.ChoiceField(
        label="Outcome",
        choices=[("", "Choose…"), *ContactOutcome.choices],
        error_messages={"required": "Choose what came of the attempt."},
    )
    note = forms.CharField(
        label="Note",
        required=False,
        max_length=contact.NOTE_MAX,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    pump = forms.IntegerField(required=False, widget=forms.HiddenInput)
    next = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, action: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = _helper(
            "contact-attempt-form",
            Div(
                Div(Field("day"), css_class="col-6 col-md-3"),
                Div(Field("at"), css_class="col-6 col-md-2"),
                Div(Field("channel"), css_class="col-6 col-md-3"),
                Div(Field("outcome"), css_class="col-6 col-md-4"),
                css_class="row",
            ),
            "note",
            "pump",
            "next",
            submit="Log attempt",
        )
        if action:
            self.helper.form_action = action
