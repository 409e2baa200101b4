"""Forms convert staff input into domain values; the services decide (style.md 7)."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import cast

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Div, Field, Layout, Submit
from django import forms
from django.http import QueryDict

from pumps.choices import ConcentrationUnit, DoseUnit
from pumps.formatting import plain_decimal
from pumps.models import Drug, Pump


def warnings_digest(warnings: list[str]) -> str:
    return hashlib.sha256("\n".join(warnings).encode()).hexdigest()[:16]


ASHWORTH_CHOICES = [("", "Not scored")] + [(g, g) for g in ("0", "1", "1+", "2", "3", "4")]


class RefillForm(forms.Form):
    """The refill visit. Units are radio buttons, always visible, never implied."""

    refill_date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    drug = forms.ModelChoiceField(queryset=Drug.objects.all(), to_field_name="code")
    concentration = forms.DecimalField(max_digits=12, decimal_places=4)
    concentration_unit = forms.ChoiceField(
        choices=ConcentrationUnit.choices, widget=forms.RadioSelect
    )
    daily_dose = forms.DecimalField(max_digits=12, decimal_places=4)
    dose_unit = forms.ChoiceField(choices=DoseUnit.choices, widget=forms.RadioSelect)
    residual_ml = forms.DecimalField(
        label="Residual withdrawn (mL)", max_digits=6, decimal_places=2, required=False
    )
    volume_ml = forms.DecimalField(
        label="Volume in the pump after the fill (mL)", max_digits=6, decimal_places=2
    )
    eri = forms.BooleanField(label="ERI showed on the programmer", required=False)
    pain_score = forms.IntegerField(
        label="Pain score (0 to 10)", min_value=0, max_value=10, required=False
    )
    ashworth_score = forms.ChoiceField(
        label="Modified Ashworth", choices=ASHWORTH_CHOICES, required=False
    )
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    confirm = forms.BooleanField(
        label="I have checked the warnings above and want to save this refill",
        required=False,
        widget=forms.HiddenInput,
    )
    warnings_digest = forms.CharField(widget=forms.HiddenInput, required=False)
    submission_token = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, *args, pump: Pump, expected_residual: str | None, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.pump = pump
        reservoir = plain_decimal(pump.model.reservoir_ml)
        self.fields["volume_ml"].help_text = f"This pump holds at most {reservoir} mL."
        self.fields["residual_ml"].help_text = (
            f"Expected about {expected_residual} mL today."
            if expected_residual is not None
            else "First refill recorded here: no expected volume yet."
        )
        self.fields["concentration"].widget.attrs.update(inputmode="decimal")
        self.fields["daily_dose"].widget.attrs.update(inputmode="decimal")
        self.helper = FormHelper()
        self.helper.form_id = "refill-form"
        self.helper.attrs = {"data-once": "true"}
        self.helper.layout = Layout(
            Div(
                Div(Field("refill_date"), css_class="col-sm-4"),
                Div(Field("drug"), css_class="col-sm-8"),
                css_class="row",
            ),
            Div(
                Div(Field("concentration"), css_class="col-6 col-md-3"),
                Div(Field("concentration_unit"), css_class="col-6 col-md-3"),
                Div(Field("daily_dose"), css_class="col-6 col-md-3"),
                Div(Field("dose_unit"), css_class="col-6 col-md-3"),
                css_class="row",
            ),
            Div(
                Div(Field("residual_ml"), css_class="col-sm-6"),
                Div(Field("volume_ml"), css_class="col-sm-6"),
                css_class="row",
            ),
            Div(
                Div(Field("pain_score"), css_class="col-6 col-md-4"),
                Div(Field("ashworth_score"), css_class="col-6 col-md-4"),
                Div(Field("eri"), css_class="col-md-4 pt-md-4"),
                css_class="row",
            ),
            "notes",
            Div(Field("confirm"), css_id="confirm-box"),
            "warnings_digest",
            "submission_token",
            Submit("save", "Save refill", css_class="btn-lg"),
        )

    def confirmed(self, warnings: list[str]) -> bool:
        """True when the nurse ticked confirm for exactly these warnings."""
        return bool(self.cleaned_data.get("confirm")) and self.cleaned_data.get(
            "warnings_digest"
        ) == warnings_digest(warnings)

    def ask_for_confirmation(self, warnings: list[str]) -> None:
        """Show the confirm box, unticked: each set of warnings needs its own decision."""
        self.fields["confirm"].widget = forms.CheckboxInput()
        data = cast(QueryDict, self.data).copy()
        data["confirm"] = ""
        data["warnings_digest"] = warnings_digest(warnings)
        self.data = data

    def clean_concentration(self) -> Decimal:
        value = self.cleaned_data["concentration"]
        if value <= 0:
            raise forms.ValidationError("The concentration must be above zero.")
        return value

    def clean_daily_dose(self) -> Decimal:
        value = self.cleaned_data["daily_dose"]
        if value < 0:
            raise forms.ValidationError("The daily dose cannot be negative.")
        return value
