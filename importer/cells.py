"""Converting cells: text, codes, serials, dates, numbers and yes/no, checked strictly.

``Cells`` converts the cells of one row and records a problem for each bad
one; ``_field`` reads limits such as max_length from the models, and
``_show`` quotes a value the way problem messages do. Numbers, dates and
serials are read by the rules every entry path shares (pumps.entry_safety,
clinical-rules.md section 8).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import models

from core.formatting import plain_decimal
from importer.problems import Problems, Source
from importer.reading import Row
from pumps import entry_safety

# Strict form: date.fromisoformat also takes 20260101 and 2026-W01-1.
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
WHOLE_NUMBER = re.compile(r"[0-9]{1,9}", re.ASCII)


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
        if column in self.row.refused:
            self.ok = False  # reported while reading: a control or format character
            return None
        value = self.row.cells.get(column, "")
        if not value:
            if required:
                self.problem(column, "missing; this column is required")
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

    def serial(self, column: str, *, required: bool = True) -> str | None:
        """A pump serial as section 8 accepts it (letters, digits, hyphens; 3 to 30)."""
        value = self.text(column, required=required)
        if value is None:
            return None
        refusal = entry_safety.serial_refusal(value)
        if refusal:
            self.problem(column, refusal)
            return None
        return value

    def day(self, column: str, *, today: date, required: bool = True) -> date | None:
        """An ISO date of an event that has happened (section 8: 1900 to 2100, not after today)."""
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
        refusal = entry_safety.date_refusal(day, today=today, happened=True)
        if refusal:
            self.problem(column, refusal)
            return None
        return day

    def number(
        self,
        column: str,
        *,
        model_field: models.DecimalField[Any, Any],
        required: bool = True,
    ) -> Decimal | None:
        """A non-negative decimal read as every entry path reads one (a decimal
        comma is a point; ambiguous text refused), that fits the column it will
        be stored in. Whether a refill's number is in range is the service's to
        say (services.validate_fill).
        """
        value = self.text(column, required=required)
        if value is None:
            return None
        places = model_field.decimal_places
        try:
            number = entry_safety.parse_decimal(value, decimal_places=places)
        except entry_safety.UnreadableNumber as error:
            self.problem(column, str(error))
            return None
        if number < 0:
            self.problem(column, f"{plain_decimal(number)} cannot be negative")
            return None
        # The database would refuse what does not fit; say so instead.
        whole_digits = model_field.max_digits - places
        if number != 0 and number.adjusted() >= whole_digits:
            self.problem(
                column, f"{value} is too large (at most {whole_digits} digits before the point)"
            )
            return None
        return number

    def whole_number(self, column: str, *, most: int, required: bool = False) -> int | None:
        """A count typed as digits only, from 0 to ``most``."""
        value = self.text(column, required=required)
        if value is None:
            return None
        if not WHOLE_NUMBER.fullmatch(value):
            self.problem(column, f"{value!r} is not a whole number (digits only, e.g. 4)")
            return None
        number = int(value)
        if number > most:
            self.problem(column, f"{number} is more than {most}")
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
