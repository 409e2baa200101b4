"""How numbers read to staff: 20 not 2E+1, 0.25 not 0.2500."""

from decimal import Decimal


def plain_decimal(value: Decimal) -> str:
    """A decimal without trailing zeros or exponent notation."""
    text = format(value.normalize(), "f")
    return text


# Spreadsheet programs run a cell that starts with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """A CSV cell that a spreadsheet shows as text, never runs (CSV injection)."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text
