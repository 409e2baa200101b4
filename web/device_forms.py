"""Forms of the physician's device decisions: explant, replacement, first implant."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

from crispy_forms.helper import FormHelper
from crispy_forms.layout import HTML, Div, Field, Fieldset, Layout, Submit
from django import forms

from care.devices import NewPump, is_replacement
from pumps import entry_safety
from pumps.choices import ExplantReason
from pumps.fields import ClinicalDecimalField
from pumps.models import PumpModel

# The browser's date picker offers only the dates section 8 accepts; the
# services refuse any other whatever the browser sends.
DATE = forms.DateInput(
    attrs={
        "type": "date",
        "min": entry_safety.EARLIEST_DATE.isoformat(),
        "max": entry_safety.LATEST_DATE.isoformat(),
    }
)


class NewPumpFields(forms.Form):
    """The new pump's model, serial and implant date, with a prefix of ``new_``."""

    new_model = forms.ModelChoiceField(
        label="New pump model",
        queryset=PumpModel.objects.all(),
        to_field_name="code",
        required=False,
    )
    new_serial = forms.CharField(label="New pump serial", max_length=40, required=False)
    new_implant_date = forms.DateField(label="New pump implanted on", widget=DATE, required=False)

    def new_pump(self) -> NewPump:
        data = self.cleaned_data
        return NewPump(
            model=data["new_model"],
            serial=data["new_serial"],
            implant_date=data["new_implant_date"],
        )

    def require_new_pump(self) -> None:
        for field in ("new_model", "new_serial", "new_implant_date"):
            if not self.cleaned_data.get(field):
                self.add_error(field, "Needed for the new pump.")


class ExplantForm(NewPumpFields):
    explant_date = forms.DateField(widget=DATE)
    reason = forms.ChoiceField(choices=[("", "—"), *ExplantReason.choices])
    replace = forms.BooleanField(
        label="Replace with a new pump (always for a battery at end of life)", required=False
    )

    field_order = [
        "explant_date",
        "reason",
        "replace",
        "new_model",
        "new_serial",
        "new_implant_date",
    ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_id = "explant-form"
        self.helper.attrs = {"data-once": "true"}
        self.helper.layout = Layout(
            Div(
                Div(Field("explant_date"), css_class="col-md-4"),
                Div(Field("reason"), css_class="col-md-8"),
                css_class="row",
            ),
            "replace",
            Fieldset(
                "The new pump (for a replacement)",
                HTML(
                    '<p class="small text-muted">Its battery window starts from its own '
                    "implant date. Log the fill given at surgery as its first refill.</p>"
                ),
                Div(
                    Div(Field("new_model"), css_class="col-md-4"),
                    Div(Field("new_serial"), css_class="col-md-4"),
                    Div(Field("new_implant_date"), css_class="col-md-4"),
                    css_class="row",
                ),
                css_id="new-pump",
            ),
            Submit("save", "Record explant"),
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        reason = cleaned.get("reason")
        if reason and is_replacement(reason, bool(cleaned.get("replace"))):
            self.require_new_pump()
        return cleaned

    @property
    def replacing(self) -> bool:
        return is_replacement(self.cleaned_data["reason"], self.cleaned_data["replace"])


class ImplantForm(NewPumpFields):
    """A patient's first pump (a referred patient's, or one just registered)."""

    new_alarm_ml_override = ClinicalDecimalField(
        label="Alarm override (mL)",
        max_digits=6,
        decimal_places=2,
        min_value=Decimal(0),
        required=False,
        help_text="Only when this pump's low-reservoir alarm is not the model's.",
    )

    def new_pump(self) -> NewPump:
        return replace(
            super().new_pump(), alarm_ml_override=self.cleaned_data.get("new_alarm_ml_override")
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            field.required = name != "new_alarm_ml_override"
        self.fields["new_model"].label = "Pump model"
        self.fields["new_serial"].label = "Serial"
        self.fields["new_implant_date"].label = "Implanted on"
        self.helper = FormHelper()
        self.helper.form_id = "implant-form"
        self.helper.attrs = {"data-once": "true"}
        self.helper.layout = Layout(
            Div(
                Div(Field("new_model"), css_class="col-md-4"),
                Div(Field("new_serial"), css_class="col-md-4"),
                Div(Field("new_implant_date"), css_class="col-md-4"),
                css_class="row",
            ),
            Div(Div(Field("new_alarm_ml_override"), css_class="col-md-4"), css_class="row"),
            Submit("save", "Record implant"),
        )
