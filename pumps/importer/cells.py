"""Converting cells: text, codes, dates, numbers and yes/no, checked strictly.

``Cells`` converts the cells of one row and records a problem for each bad
one; ``_field`` reads limits such as max_length from the models, and
``_show`` quotes a value the way problem messages do.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import models

from pumps.formatting import plain_decimal
from pumps.importer.problems import Problems, Source
from pumps.importer.reading import Row

# Strict forms: date.fromisoformat also takes 20260101 and 2026-W01-1, and
# Decimal also takes 1e3, 1_000, NaN and non-ASCII digits.
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


def _field(model: type[models.Model], name: str) -> Any:
    """A model field, so limits such as max_length come from the model, not a copy."""
    return model._meta.get_field(name)


class Cells:
    """Converts the cells of one row, recording a problem for each bad one."""

    def __init__(self, source: Source, row: Row, problems: Problems) -> None:
        self.source = source
        self.row = row
        self.problems = problems
        self.ok = True

    def problem(self, column: str, message: str) -> None:
        self.ok = False
        self.problems.add(self.source, self.row.line, column, message)

    def given(self, column: str) -> bool:
        return bool(self.row.cells.get(column))

    def text(
        self, column: str, *, required: bool = True, max_length: int | None = None
    ) -> str | None:
        value = self.row.cells.get(column, "")
        if not value:
            if required:
                self.problem(column, "missing; this column is required")
            return None
        if "\x00" in value:
            self.problem(column, "contains a NUL character")
            return None
        if max_length is not None and len(value) > max_length:
            self.problem(column, f"is longer than {max_length} characters")
            return None
        return value

    def code(
        self, column: str, codes: Collection[str], *, what: str, required: bool = True
    ) -> str | None:
        value = self.text(column, required=required)
        if value is None:
            return None
        if value not in codes:
            self.problem(
                column, f"{value!r} is not a known {what} (one of {', '.join(sorted(codes))})"
            )
            return None
        return value

    def day(self, column: str, *, today: date, required: bool = True) -> date | None:
        value = self.text(column, required=required)
        if value is None:
            return None
        try:
            if not ISO_DATE.fullmatch(value):
                raise ValueError(value)
            day = date.fromisoformat(value)
        except ValueError:
            self.problem(column, f"{value!r} is not a date in the form YYYY-MM-DD")
            return None
        if day > today:
            self.problem(column, f"{day} is in the future (today is {today})")
            return None
        return day

    def number(
        self,
        column: str,
        *,
        model_field: models.DecimalField[Any, Any],
        required: bool = True,
        above_zero: bool = False,
    ) -> Decimal | None:
        """A non-negative decimal that fits the column it will be stored in."""
        value = self.text(column, required=required)
        if value is None:
            return None
        try:
            if not PLAIN_NUMBER.fullmatch(value):
                raise InvalidOperation(value)
            number = Decimal(value)
        except InvalidOperation:
            self.problem(column, f"{value!r} is not a number")
            return None
        if above_zero and number <= 0:
            self.problem(column, f"{value} must be above zero")
            return None
        if number < 0:
            self.problem(column, f"{value} cannot be negative")
            return None
        return self._fits(column, value, number, model_field)

    def _fits(
        self, column: str, text: str, number: Decimal, model_field: models.DecimalField[Any, Any]
    ) -> Decimal | None:
        # The database would round or refuse what does not fit; say so instead.
        places = model_field.decimal_places
        whole_digits = model_field.max_digits - places
        if number != 0 and number.adjusted() >= whole_digits:
            self.problem(column, f"{text} is too large")
            return None
        if number != number.quantize(Decimal(1).scaleb(-places)):
            self.problem(column, f"{text} has more than {places} decimal places")
            return None
        return number

    def yes_no(self, column: str) -> bool | None:
        value = self.text(column, required=False)
        if value is None:
            return None
        if value not in ("yes", "no"):
            self.problem(column, f"{value!r} is not yes, no or blank")
            return None
        return value == "yes"


def _show(value: object) -> str:
    """A value as a message quotes it: 'text', 20 (not 20.00), yes or no, blank."""
    if value is None:
        return "blank"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        return plain_decimal(value)
    if isinstance(value, str):
        return repr(value)
    return str(value)
