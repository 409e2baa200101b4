"""Form fields for clinical numbers: read exactly what was typed, or refuse it.

A browser's ``type=number`` input drops what it cannot read (``12,5`` reaches
the server as ``125`` or as nothing, depending on the browser), so clinical
decimals are text inputs with ``inputmode="decimal"`` (the phone's number
pad) and are parsed here, once, by ``entry_safety.parse_decimal``
(clinical-rules.md 8): a decimal comma is a decimal point; anything that can
be read more than one way is refused with a message, never guessed.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from pumps.entry_safety import UnreadableNumber, parse_decimal


class DecimalInput(forms.TextInput):
    """A text box that brings up the decimal keypad and keeps every character."""

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__({"inputmode": "decimal", "autocomplete": "off", **(attrs or {})})


class ClinicalDecimalField(forms.DecimalField):
    """A DecimalField that accepts a decimal comma and refuses ambiguous text.

    Bounds (``max_digits``, ``decimal_places``, ``min_value``, ``max_value``)
    are checked as Django's field does, so an oversized number is a field
    error, never an overflow.
    """

    widget = DecimalInput

    def to_python(self, value: Any) -> Decimal | None:  # type: ignore[override]
        if value in self.empty_values:
            return None
        if isinstance(value, Decimal):
            return value
        try:
            parsed = parse_decimal(str(value), decimal_places=self.decimal_places)
        except UnreadableNumber as error:
            raise ValidationError(str(error), code="invalid") from None
        if not parsed.is_finite():  # pragma: no cover - the pattern admits no NaN or Infinity
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        return parsed

    def widget_attrs(self, widget: forms.Widget) -> dict[str, Any]:
        # Django adds step/min/max for number inputs only; a text box takes none.
        attrs = super().widget_attrs(widget)
        for name in ("step", "min", "max"):
            attrs.pop(name, None)
        return attrs
