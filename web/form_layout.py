"""Crispy layout objects and a form renderer that draw fields in Python.

The refill form (20 % of the load test's mix, issue 11) spent half its page's
CPU in templates: crispy-bootstrap5 draws each field with
``bootstrap5/field.html`` and its includes (label, errors, help text, an
attributes include per radio button), each from a copy of the whole page
context, and Django draws each widget with two or three more templates (a
select: two more per option). The template engine's cost per variable, not
the HTML, was the price.

``Cell`` draws one field as bootstrap5/field.html does in a vertical form with
labels and errors shown (no horizontal form, label or field classes, file
or multi-widget fields); ``Grid`` draws a Bootstrap row of cells;
``LeanWidgets`` draws the plain widgets as Django's templates do. The HTML is
the same; the form stays a crispy form (FormHelper, Layout, ``{% crispy %}``).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from crispy_forms.layout import LayoutObject
from crispy_forms.templatetags.crispy_forms_filters import optgroups
from crispy_forms.utils import TEMPLATE_PACK
from django import forms
from django.forms import BoundField
from django.forms.renderers import DjangoTemplates
from django.templatetags.l10n import unlocalize
from django.utils.formats import localize
from django.utils.safestring import SafeString, mark_safe
from django.utils.timezone import template_localtime  # type: ignore[attr-defined]  # not in the stubs


def _escape(value: Any) -> str:
    """conditional_escape without its wrapper for lazy text (a page escapes 500 values)."""
    if hasattr(value, "__html__"):
        return value.__html__()
    return html.escape(str(value))


def _html(template: str, *args: Any) -> SafeString:
    """format_html, with ``_escape``."""
    return SafeString(template.format(*map(_escape, args)))


def _kind(widget: forms.Widget) -> str:
    """How ``Cell`` draws ``widget`` (bootstrap5/field.html's branches)."""
    if isinstance(widget, (forms.FileInput, forms.MultiWidget)):
        raise TypeError(f"Cell does not draw a {type(widget).__name__}: use crispy's Field")
    if widget.is_hidden:
        return "hidden"
    if isinstance(widget, forms.RadioSelect):
        return "radio"
    if isinstance(widget, forms.CheckboxInput):
        return "checkbox"
    if isinstance(widget, forms.Select):
        return "select"
    return "input"


# The Bootstrap class of each kind, after the widget's class name (as crispy's
# {% crispy_field %} adds them); radio buttons get theirs in _radio_buttons.
BOOTSTRAP_CLASS = {"checkbox": "form-check-input", "select": "form-select", "input": "form-control"}


def _add_classes(bound: BoundField, kind: str) -> None:
    """The widget's classes as crispy-bootstrap5 sets them, "is-invalid" on an error."""
    if kind not in BOOTSTRAP_CLASS:
        return
    widget = bound.field.widget
    classes = widget.attrs.get("class", "").split()
    wanted = [widget.__class__.__name__.lower(), BOOTSTRAP_CLASS[kind]]
    if bound.errors:
        wanted.append("is-invalid")
    widget.attrs["class"] = " ".join(classes + [name for name in wanted if name not in classes])


class Cell(LayoutObject):
    """One field, optionally in a grid column (``column``: its CSS classes).

    The HTML is bootstrap5/field.html's for a vertical form with labels and
    errors shown: the label (a legend in a fieldset for radio buttons), the
    widget, its errors next to it, then its help text.
    """

    def __init__(self, name: str, column: str = "") -> None:
        self.fields = [name]
        self.column = column

    def render(
        self, form: forms.BaseForm, context: Any, template_pack: Any = TEMPLATE_PACK, **kwargs: Any
    ) -> SafeString:
        bound = form[self.fields[0]]
        # As crispy's render_field: a helper that draws the fields left out
        # (render_hidden_fields and the like) does not draw this one again.
        rendered: set[str] | None = getattr(form, "rendered_fields", None)
        if rendered is not None:
            rendered.add(bound.name)
        widget = bound.field.widget
        kind = _kind(widget)
        _add_classes(bound, kind)
        if kind == "hidden":
            html = bound.as_widget()
        elif kind == "checkbox":
            html = _html(
                '<div class="mb-3"><div id="div_{}" class="form-check">{} {}{}{}</div></div>',
                bound.auto_id,
                bound.as_widget(),
                _label(bound, "label", "form-check-label"),
                _errors(bound, "span"),
                _help_text(bound),
            )
        elif kind == "radio":
            describedby = bound.aria_describedby
            html = _html(
                '<div id="div_{}" class="mb-3"><fieldset{}>{}<div>{}</div>{}</fieldset></div>',
                bound.auto_id,
                _html(' aria-describedby="{}"', describedby) if describedby else "",
                _label(bound, "legend", "form-label", " fs-6"),
                _radio_buttons(bound),
                _help_text(bound),
            )
        else:
            html = _html(
                '<div id="div_{}" class="mb-3">{} {}{}{}</div>',
                bound.auto_id,
                _label(bound, "label", "form-label"),
                bound.as_widget(),
                _errors(bound, "span"),
                _help_text(bound),
            )
        if self.column:
            return _html('<div class="{}">{}</div>', self.column, html)
        return html


def _label(bound: BoundField, tag: str, css_class: str, after: str = "") -> SafeString:
    """The label (a legend has no ``for``), with crispy's asterisk when required."""
    required = bound.field.required
    return _html(
        '<{}{} class="{}{}{}">{}{}</{}>',
        tag,
        _html(' for="{}"', bound.id_for_label) if tag == "label" else "",
        css_class,
        " requiredField" if required else "",
        after,
        bound.label,
        mark_safe('<span class="asteriskField">*</span>') if required else "",
        tag,
    )


def _errors(bound: BoundField, tag: str) -> SafeString | str:
    """The field's errors, next to it (``tag``: span, or p under radio buttons)."""
    errors = bound.errors
    if not errors:
        return ""
    return _html(
        '<div id="{}_error" class="invalid-feedback">{}</div>',
        errors.field_id,  # type: ignore[attr-defined]  # Django 5.2's, not in the stubs
        SafeString(
            "".join(
                _html(
                    '<{0} id="error_{1}_{2}"><strong>{3}</strong></{0}>', tag, n, bound.auto_id, e
                )
                for n, e in enumerate(errors, 1)
            )
        ),
    )


def _help_text(bound: BoundField) -> SafeString | str:
    # Help texts are HTML the form wrote, never escaped (as in Django and crispy).
    if not bound.help_text:
        return ""
    return _html(
        '<div id="{}_helptext" class="form-text">{}</div>',
        bound.auto_id,
        mark_safe(bound.help_text),
    )


def _radio_buttons(bound: BoundField) -> SafeString:
    """The buttons as crispy-bootstrap5's radio template draws them, errors after the last."""
    invalid = " is-invalid" if bound.errors else ""
    buttons = [
        _html(
            '<div class="form-check"><input type="{}" class="form-check-input{}" name="{}" '
            'value="{}"{}> <label for="{}" class="form-check-label">{}</label>',
            option["type"],
            invalid,
            bound.html_name,
            unlocalize(option["value"]),
            _attrs(option["attrs"]),
            option["attrs"].get("id", ""),
            unlocalize(option["label"]),
        )
        for _, options, _ in optgroups(bound)
        for option in options
    ]
    if not buttons:
        return mark_safe("")
    return mark_safe("</div>".join(buttons) + _errors(bound, "p") + "</div>")


class Grid(LayoutObject):
    """A Bootstrap row of cells: ``Grid(Cell("a", "col-6"), Cell("b", "col-6"))``."""

    def __init__(self, *cells: Cell) -> None:
        self.fields = list(cells)

    def render(
        self, form: forms.BaseForm, context: Any, template_pack: Any = TEMPLATE_PACK, **kwargs: Any
    ) -> SafeString:
        return _html('<div class="row">{}</div>', self.get_rendered_fields(form, context))


class Fragment(LayoutObject):
    """HTML made in Python (with ``format_html``), drawn as is.

    crispy's ``HTML`` compiles its text as a template at every render; text
    built per request needs no template.
    """

    def __init__(self, html: SafeString) -> None:
        self.html = html
        self.fields: list[Any] = []

    def render(
        self, form: forms.BaseForm, context: Any, template_pack: Any = TEMPLATE_PACK, **kwargs: Any
    ) -> SafeString:
        return self.html


class LeanWidgets(DjangoTemplates):
    """Django's form renderer, drawing the plain widgets in Python.

    Django draws a text box with three templates (text.html, input.html,
    attrs.html) and a select with two more per option; the template engine's
    cost per variable made these most of what a form's fields cost. The HTML
    is the same as those templates write; other templates render as usual.
    A form opts in with ``default_renderer = LeanWidgets()``.
    """

    def render(self, template_name: str, context: dict[str, Any], request: Any = None) -> str:
        draw = WIDGETS.get(template_name)
        html = draw(context["widget"]) if draw is not None and "widget" in context else None
        return super().render(template_name, context, request) if html is None else html


def _text(value: Any) -> Any:
    """``{{ value|stringformat:'s' }}``: the value as text (a safe string stays safe)."""
    return f"{value}"


def _shown(value: Any) -> Any:
    """``{{ value }}``: localized as the template engine shows a value."""
    return localize(template_localtime(value))


def _attrs(attrs: dict[str, Any]) -> SafeString:
    """HTML attributes as django/forms/widgets/attrs.html writes them, in their order."""
    return mark_safe(
        "".join(
            f" {_escape(name)}" if value is True else f' {_escape(name)}="{_escape(_text(value))}"'
            for name, value in attrs.items()
            if value is not False
        )
    )


def _input(widget: dict[str, Any]) -> SafeString:
    value = widget["value"]
    return _html(
        '<input type="{}" name="{}"{}{}>',
        widget["type"],
        widget["name"],
        _html(' value="{}"', _text(value)) if value is not None else "",
        _attrs(widget["attrs"]),
    )


def _textarea(widget: dict[str, Any]) -> SafeString:
    value = widget["value"]
    return _html(
        '<textarea name="{}"{}>\n{}</textarea>',
        widget["name"],
        _attrs(widget["attrs"]),
        _shown(value) if value else "",
    )


def _select(widget: dict[str, Any]) -> SafeString | None:
    if any(
        option["template_name"] != "django/forms/widgets/select_option.html"
        for _, options, _ in widget["optgroups"]
        for option in options
    ):
        return None  # options with a template of their own: left to the templates
    groups = []
    for group_name, options, _ in widget["optgroups"]:
        drawn = SafeString(
            "".join(
                _html(
                    '\n  <option value="{}"{}>{}</option>',
                    _text(option["value"]),
                    _attrs(option["attrs"]),
                    _shown(option["label"]),
                )
                for option in options
            )
        )
        if group_name:
            drawn = _html('\n  <optgroup label="{}">{}\n  </optgroup>', _shown(group_name), drawn)
        groups.append(drawn)
    return _html(
        '<select name="{}"{}>{}\n</select>',
        widget["name"],
        _attrs(widget["attrs"]),
        mark_safe("".join(groups)),
    )


# Each draws the HTML of a Django widget template, or None to leave it to the template.
WIDGETS: dict[str, Callable[[dict[str, Any]], SafeString | None]] = {
    **{
        f"django/forms/widgets/{name}.html": _input
        for name in ("input", "text", "date", "hidden", "checkbox")
    },
    "django/forms/widgets/textarea.html": _textarea,
    "django/forms/widgets/select.html": _select,
}
