"""How numbers read to staff: 20 not 2E+1, 0.25 not 0.2500."""

from decimal import Decimal


def plain_decimal(value: Decimal) -> str:
    """A decimal without trailing zeros or exponent notation."""
    text = format(value.normalize(), "f")
    return text
