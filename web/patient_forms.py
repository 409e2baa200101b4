"""Forms about people and visits: they convert input; the services decide (style.md 7)."""

from __future__ import annotations

from datetime import time
from typing import Any

from crispy_forms.helper import FormHelper
from crispy_forms.layout import HTML, Div, Field, Layout, Submit
from django import forms

from care.choices import VisitKind


class BookVisitForm(forms.Form):
    kind = forms.ChoiceField(choices=VisitKind.choices)
    day = forms.DateField(label="Date", widget=forms.DateInput(attrs={"type": "date"}))
    at = forms.TimeField(
        label="Time", initial=time(9, 0), widget=forms.TimeInput(attrs={"type": "time"})
    )
    notes = forms.CharField(max_length=300, required=False)
    # Shown in the staff calendar feed (issue 15), with the visit number and time.
    room = forms.CharField(max_length=40, required=False)
    # Shown only once the chosen day falls after the pump's battery stops.
    confirm_battery = forms.BooleanField(
        label="Book it anyway: the battery stops before this date",
        required=False,
        widget=forms.HiddenInput,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_id = "book-visit-form"
        self.helper.attrs = {"data-once": "true"}
        self.helper.layout = Layout(
            Div(
                Div(Field("kind"), css_class="col-md-4"),
                Div(Field("day"), css_class="col-6 col-md-4"),
                Div(Field("at"), css_class="col-6 col-md-4"),
                css_class="row",
            ),
            Div(
                Div(Field("room"), css_class="col-md-4"),
                Div(Field("notes"), css_class="col-md-8"),
                css_class="row",
            ),
            "confirm_battery",
            Submit("book", "Book visit"),
        )

    def ask_to_confirm_battery(self, warning: str) -> None:
        """Show ``warning`` on the date and the box that confirms it; nothing is booked."""
        self.fields["confirm_battery"].widget = forms.CheckboxInput()
        self.add_error("day", warning)
        self.helper.layout[2] = Div(
            HTML('<p class="small mb-1">Tick to book this date all the same.</p>'),
            Field("confirm_battery"),
            css_class="alert alert-warning",
        )
