"""Forms about people and visits."""

from __future__ import annotations

from datetime import time

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Div, Field, Layout, Submit
from django import forms

from patients.choices import VisitKind


class BookVisitForm(forms.Form):
    kind = forms.ChoiceField(choices=VisitKind.choices)
    day = forms.DateField(label="Date", widget=forms.DateInput(attrs={"type": "date"}))
    at = forms.TimeField(
        label="Time", initial=time(9, 0), widget=forms.TimeInput(attrs={"type": "time"})
    )
    notes = forms.CharField(max_length=300, required=False)

    def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
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
            "notes",
            Submit("book", "Book visit"),
        )
