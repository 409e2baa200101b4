"""Phone numbers (issue 14): read once, stored in E.164, shown in one international format.

Every door that writes a patient's phone (the registration service, the
admin, the demo seeder) reads it through ``normalise_phone``, so the same
text is accepted or refused with the same message everywhere. A number is
read in the clinic's region (``PHONENUMBER_DEFAULT_REGION``) unless it starts
with ``+`` or the region's international prefix, and must be a valid number
for its country (``phonenumbers``, Google's libphonenumber metadata).

What is stored is E.164 (``+13125550123``): digits only, so two ways of
typing one number are one stored value, and an invisible character pasted
with it cannot survive into the record. What is shown is the international
format (``+1 312-555-0123``), on every page and print-out, with a ``tel:``
link of the E.164 text.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from django.conf import settings

# Longer than any number typed with its spaces, brackets and country code
# (E.164 is at most 15 digits); the model field holds 40 characters.
MAX_INPUT_CHARS = 40


class PhoneRefused(ValueError):
    """The text is not a phone number the clinic can store; ``str()`` says why."""


@dataclass(frozen=True)
class Normalised:
    e164: str  # "" for no number
    international: str  # as shown


def default_region() -> str:
    """The region a number without a country code is read in (settings)."""
    return str(getattr(settings, "PHONENUMBER_DEFAULT_REGION", "US")).upper()


def _visible(text: str) -> str:
    """``text`` without format and control characters (zero-width spaces, direction
    marks, tabs, line breaks): they often come with a pasted number; the digits
    decide what is stored, so dropping them changes nothing that is stored."""
    return "".join(
        " " if unicodedata.category(char) in {"Cc", "Zl", "Zp"} else char
        for char in text
        if unicodedata.category(char) != "Cf"
    ).strip()


def normalise_phone(text: str, *, region: str | None = None) -> Normalised:
    """The number ``text`` names, or ``PhoneRefused`` saying why it cannot be stored.

    Empty text is no number (``Normalised("", "")``).
    """
    region = (region or default_region()).upper()
    cleaned = _visible(text or "")
    if not cleaned:
        return Normalised("", "")
    if len(cleaned) > MAX_INPUT_CHARS:
        raise PhoneRefused(
            f"This is too long to be a phone number ({len(cleaned)} characters; "
            f"at most {MAX_INPUT_CHARS}): type the number alone."
        )
    try:
        number = phonenumbers.parse(cleaned, region)
    except phonenumbers.NumberParseException:
        raise PhoneRefused(_not_a_number(cleaned, region)) from None
    if number.extension:
        raise PhoneRefused(
            "An extension cannot be stored with the number: enter the number without it "
            "and write the extension in the patient's notes."
        )
    if not phonenumbers.is_valid_number(number):
        raise PhoneRefused(_not_a_number(cleaned, region))
    return Normalised(
        phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL),
    )


def _not_a_number(text: str, region: str) -> str:
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    local = (
        phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL)
        if example
        else ""
    )
    hint = f" (for example {local})" if local else ""
    return (
        f"“{text}” is not a valid phone number. Type a {region} number with its area "
        f"code{hint}, or a number of another country starting with + and its country code."
    )


def phone_refusal(text: str, *, region: str | None = None) -> str | None:
    """Why ``text`` cannot be stored as a phone number, or None."""
    try:
        normalise_phone(text, region=region)
    except PhoneRefused as refusal:
        return str(refusal)
    return None


def _stored_number(stored: str, region: str) -> phonenumbers.PhoneNumber | None:
    try:
        number = phonenumbers.parse(stored, None if stored.startswith("+") else region)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None


@lru_cache(maxsize=8192)
def _formats(stored: str, region: str) -> tuple[str, str]:
    """(international, tel: link) of a stored number; (stored, "") for text that is not one."""
    number = _stored_number(stored, region)
    if number is None:
        return stored, ""
    return (
        phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL),
        "tel:" + phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
    )


def display_phone(stored: str) -> str:
    """A stored number in the international format; text that is not a number as it is.

    Every stored number is E.164 once the data migration has run; a value
    written around the service (the shell, a bulk write) is shown unchanged
    rather than hidden. (Cached: a print-out formats up to 2,000 rows.)
    """
    return _formats(stored, default_region())[0] if stored else ""


def tel_uri(stored: str) -> str:
    """The ``tel:`` link of a stored number (E.164), or "" when it is not a number."""
    return _formats(stored, default_region())[1] if stored else ""
