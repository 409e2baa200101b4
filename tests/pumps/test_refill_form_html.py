"""The refill form drawn by web/form_layout.py is the HTML crispy-bootstrap5 draws.

The lean layout (Cell, Grid) and widget renderer (LeanWidgets) exist for
speed only (issue 11): staff must see the same form, so each state of the
form is drawn both ways and compared, whitespace between tags aside.
"""

import re
import uuid

import pytest
from crispy_forms.helper import FormHelper
from crispy_forms.layout import HTML, Div, Field, Layout, Submit
from crispy_forms.utils import render_crispy_form
from django.forms.renderers import DjangoTemplates
from django.utils import timezone

from tests.factories import baclofen_pump
from web.pump_forms import RefillForm

pytestmark = pytest.mark.django_db


def crispy_layout(form: RefillForm) -> Layout:
    """The refill form's layout in crispy's own objects (as it was before Cell and Grid)."""

    def row(*cells: tuple[str, str]) -> Div:
        return Div(*(Div(Field(name), css_class=css) for name, css in cells), css_class="row")

    notice = form.helper.layout.fields[0].html
    return Layout(
        HTML(notice),
        row(("refill_date", "col-sm-4"), ("drug", "col-sm-8")),
        row(
            ("concentration", "col-6 col-md-3"),
            ("concentration_unit", "col-6 col-md-3"),
            ("daily_dose", "col-6 col-md-3"),
            ("dose_unit", "col-6 col-md-3"),
        ),
        row(("bolus_dose", "col-sm-6"), ("boluses_per_day", "col-sm-6")),
        row(("residual_ml", "col-sm-6"), ("volume_ml", "col-sm-6")),
        row(
            ("pain_score", "col-6 col-md-4"),
            ("ashworth_score", "col-6 col-md-4"),
            ("eri", "col-md-4 pt-md-4"),
        ),
        "notes",
        Div(Field("confirm"), css_id="confirm-box"),
        "warnings_digest",
        "submission_token",
        Submit("save", "Save refill", css_class="btn-lg"),
    )


def normalized(html: str) -> str:
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", html)
    html = re.sub(r"\s+", " ", html)
    html = re.sub(r"\s*(<[^>]*>)\s*", r"\1", html)
    return re.sub(r"\s+>", ">", html)


def both_ways(make_form) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    lean = make_form()
    stock = make_form(renderer=DjangoTemplates())
    helper = FormHelper()
    helper.form_id, helper.attrs = lean.helper.form_id, lean.helper.attrs
    helper.layout = crispy_layout(lean)
    return normalized(render_crispy_form(lean)), normalized(render_crispy_form(stock, helper))


def described(pump, *args, **kwargs) -> RefillForm:  # type: ignore[no-untyped-def]
    form = RefillForm(*args, **kwargs)
    if form.is_bound:
        form.is_valid()
    form.describe(pump, "about 18 mL")
    return form


@pytest.fixture
def pump():  # type: ignore[no-untyped-def]
    return baclofen_pump(today=timezone.localdate())


def test_the_empty_form_is_the_same(pump):
    initial = {"refill_date": timezone.localdate(), "drug": "baclofen", "dose_unit": "mg/day"}
    lean, stock = both_ways(lambda **kw: described(pump, initial=initial, **kw))
    assert 'inputmode="decimal"' in lean
    assert lean == stock


def test_every_kind_of_field_error_is_the_same(pump):
    data = {
        "refill_date": "31/12/2026",
        "drug": "nope",
        "concentration": "lots",
        "concentration_unit": "",
        "daily_dose": "-1",
        "dose_unit": "mg",
        "bolus_dose": "1,234.5",
        "boluses_per_day": "2,5",
        "residual_ml": "x",
        "pain_score": "11",
        "ashworth_score": "9",
        "notes": "<b>n</b> & m",
        "eri": "on",
        "submission_token": "spent",
    }
    lean, stock = both_ways(lambda **kw: described(pump, data, **kw))
    assert 'class="invalid-feedback"' in lean
    assert lean == stock


def test_a_form_asking_for_confirmation_is_the_same(pump):
    today = timezone.localdate()
    data = {
        "refill_date": today.isoformat(),
        "drug": "baclofen",
        "concentration": "2000",
        "concentration_unit": "mcg/mL",
        "daily_dose": "400",
        "dose_unit": "mcg/day",
        "volume_ml": "20",
        "submission_token": str(uuid.uuid4()),
    }

    def make(**kw):  # type: ignore[no-untyped-def]
        form = RefillForm(data, **kw)
        assert form.is_valid()
        form.add_error("volume_ml", "Too much.")
        form.add_error("eri", "Checked <twice>.")
        form.add_error("dose_unit", "Which unit?")
        form.ask_for_confirmation(["A warning"])
        pump.eri_replace_by = today
        form.describe(pump, None)
        return form

    lean, stock = both_ways(make)
    assert 'id="eri-replace-by"' in lean
    assert 'type="checkbox" name="confirm"' in lean
    assert lean == stock
