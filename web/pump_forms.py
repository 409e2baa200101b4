"""Forms convert staff input into domain values; the services decide (style.md 7)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, cast

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Div, Layout, Submit
from django import forms
from django.http import QueryDict
from django.utils.html import format_html
from django.utils.safestring import SafeString

from core.formatting import plain_decimal
from pumps import entry_safety, services
from pumps.choices import ConcentrationUnit, DoseUnit
from pumps.fields import ClinicalDecimalField
from pumps.models import Drug, Pump
from pumps.refill_entry import warnings_digest
from web.form_layout import Cell, Fragment, Grid, LeanWidgets

__all__ = ["RefillForm", "warnings_digest"]


ASHWORTH_CHOICES = [("", "Not scored")] + [(g, g) for g in ("0", "1", "1+", "2", "3", "4")]

# Bounds of the Refill columns (pumps.models): a number the column cannot hold
# is a field error here, never an overflow in the database.
DOSE_DIGITS: dict[str, Any] = {"max_digits": 12, "decimal_places": 4}
ML_DIGITS: dict[str, Any] = {"max_digits": 6, "decimal_places": 2}


class RefillForm(forms.Form):
    """The refill visit. Units are radio buttons, always visible, never implied."""

    # Its widgets drawn in Python (web/form_layout.py): the same HTML, a
    # fraction of the template engine's CPU on a page of the load test's mix.
    default_renderer = LeanWidgets()

    refill_date = forms.DateField(
        widget=forms.DateInput(
            attrs={
                "type": "date",
                "min": entry_safety.EARLIEST_DATE.isoformat(),
                "max": entry_safety.LATEST_DATE.isoformat(),
            }
        )
    )
    drug = forms.ModelChoiceField(queryset=Drug.objects.all(), to_field_name="code")
    concentration = ClinicalDecimalField(**DOSE_DIGITS)
    concentration_unit = forms.ChoiceField(
        choices=ConcentrationUnit.choices, widget=forms.RadioSelect
    )
    daily_dose = ClinicalDecimalField(**DOSE_DIGITS)
    dose_unit = forms.ChoiceField(choices=DoseUnit.choices, widget=forms.RadioSelect)
    bolus_dose = ClinicalDecimalField(
        label="Bolus dose (in the daily dose's unit)",
        required=False,
        help_text="Patient-activated bolus, if any. Leave empty or 0 for none.",
        **DOSE_DIGITS,
    )
    boluses_per_day = forms.IntegerField(
        label="Boluses allowed per day",
        min_value=0,
        max_value=99,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
        help_text="The refill dates assume every allowed bolus is taken.",
    )
    residual_ml = ClinicalDecimalField(label="Residual withdrawn (mL)", required=False, **ML_DIGITS)
    volume_ml = ClinicalDecimalField(label="Volume in the pump after the fill (mL)", **ML_DIGITS)
    eri = forms.BooleanField(label="ERI showed on the programmer", required=False)
    # A text box, not type=number: a browser's number box sends "7,5" as nothing.
    pain_score = forms.IntegerField(
        label="Pain score (0 to 10)",
        min_value=0,
        max_value=10,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
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

    def __init__(  # type: ignore[no-untyped-def]
        self, *args, pump: Pump | None = None, expected_residual: str | None = None, **kwargs
    ):
        super().__init__(*args, **kwargs)
        if pump is not None:
            self.describe(pump, expected_residual)

    def describe(self, pump: Pump, expected_residual: str | None) -> None:
        """Help texts and layout for ``pump``; call before rendering.

        A submitted form is converted before its pump is read (under the
        lock, by the service), so this comes after ``is_valid``.
        """
        self.pump = pump
        reservoir = plain_decimal(pump.model.reservoir_ml)
        self.fields["volume_ml"].help_text = f"This pump holds at most {reservoir} mL."
        self.fields["residual_ml"].help_text = (
            f"Expected {expected_residual} today."
            if expected_residual is not None
            else "First refill recorded here: no expected volume yet."
        )
        eri_notice = SafeString("")
        if pump.eri_replace_by is not None:
            eri_notice = format_html(
                '<div class="alert alert-danger py-2" id="eri-replace-by" role="status">'
                "ERI: the battery stops about {}: replace the pump by then.</div>",
                f"{pump.eri_replace_by:%-d %B %Y}",
            )
        self.helper = FormHelper()
        self.helper.form_id = "refill-form"
        self.helper.attrs = {"data-once": "true"}
        # Cells and grids draw the fields in Python (web/form_layout.py): crispy's
        # field templates were half this page's CPU (issue 11).
        self.helper.layout = Layout(
            Fragment(eri_notice),
            Grid(Cell("refill_date", "col-sm-4"), Cell("drug", "col-sm-8")),
            Grid(
                Cell("concentration", "col-6 col-md-3"),
                Cell("concentration_unit", "col-6 col-md-3"),
                Cell("daily_dose", "col-6 col-md-3"),
                Cell("dose_unit", "col-6 col-md-3"),
            ),
            Grid(Cell("bolus_dose", "col-sm-6"), Cell("boluses_per_day", "col-sm-6")),
            Grid(Cell("residual_ml", "col-sm-6"), Cell("volume_ml", "col-sm-6")),
            Grid(
                Cell("pain_score", "col-6 col-md-4"),
                Cell("ashworth_score", "col-6 col-md-4"),
                Cell("eri", "col-md-4 pt-md-4"),
            ),
            Cell("notes"),
            Div(Cell("confirm"), css_id="confirm-box"),
            Cell("warnings_digest"),
            Cell("submission_token"),
            Submit("save", "Save refill", css_class="btn-lg"),
        )

    def as_fill(self) -> services.Fill:
        """The fill as typed, for the services; call once the form is valid."""
        return services.Fill.of(self.cleaned_data)

    def confirmed_digest(self) -> str | None:
        """The digest of the warnings the nurse ticked to confirm, or None."""
        if not self.cleaned_data.get("confirm"):
            return None
        return self.cleaned_data.get("warnings_digest") or None

    def ask_for_confirmation(self, warnings: list[str]) -> None:
        """Show the confirm box, unticked: each set of warnings needs its own decision."""
        self.fields["confirm"].widget = forms.CheckboxInput()
        data = cast(QueryDict, self.data).copy()
        data["confirm"] = ""
        data["warnings_digest"] = warnings_digest(warnings)
        self.data = data

    def replace_token(self, token: str) -> None:
        """Give the re-shown form a fresh submission token (the old one is spent)."""
        data = cast(QueryDict, self.data).copy()
        data["submission_token"] = token
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
