"""The user's authenticator app (a django-otp TOTP device) and recovery codes (static tokens)."""

from __future__ import annotations

import math
import re
from base64 import b32encode
from dataclasses import dataclass
from typing import Any

import django_otp
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

RECOVERY_CODE_COUNT = 10
APP_NAME = "Authenticator app"
RECOVERY_NAME = "Recovery codes"


def authenticator(user: Any, *, confirmed: bool = True) -> Any:
    """The user's authenticator app, or None."""
    return TOTPDevice.objects.filter(user=user, confirmed=confirmed).order_by("pk").first()


def recovery_device(user: Any) -> Any:
    return StaticDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()


def recovery_codes_left(user: Any) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def pending_authenticator(user: Any) -> Any:
    """The app being set up: kept until confirmed, so reloading the set-up page
    shows the same picture the user may already have scanned."""
    device = authenticator(user, confirmed=False)
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=APP_NAME, confirmed=False)
    return device


def secret_for_typing(device: Any) -> str:
    """The key as authenticator apps take it typed: base32, in groups of four."""
    secret = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def normalise(code: str) -> str:
    """What staff type, as stored: spaces and hyphens dropped, lower case."""
    return re.sub(r"[\s-]+", "", code).lower()


def format_recovery_code(token: str) -> str:
    return f"{token[:4]}-{token[4:]}"


@dataclass(frozen=True)
class CodeCheck:
    """The answer to a typed code."""

    accepted: bool
    device: Any = None
    recovery_code: bool = False
    wait_seconds: int = 0  # > 0: too many wrong codes; nothing was checked


def check_code(user: Any, typed: str, *, device: Any = None) -> CodeCheck:
    """Check a 6-digit code against the user's app, anything else against their
    recovery codes (or only against ``device`` when given: a set-up's pending app).

    Each device throttles itself (django-otp): after n wrong codes the next try must
    wait 2**(n-1) seconds, and a try within that wait is refused unchecked.
    """
    code = normalise(typed)
    recovery = device is None and not (len(code) == 6 and code.isdigit())
    if device is None:
        device = recovery_device(user) if recovery else authenticator(user)
    if device is None or not code:
        return CodeCheck(accepted=False, recovery_code=recovery)
    allowed, details = device.verify_is_allowed()
    if not allowed:
        locked_until = (details or {}).get("locked_until")
        wait = (locked_until - timezone.now()).total_seconds() if locked_until else 1
        return CodeCheck(accepted=False, recovery_code=recovery, wait_seconds=math.ceil(wait))
    # verify_token locks the device row, so two tries at once cannot both pass or
    # slip past the throttle; a used code (app or recovery) never works twice.
    verified = django_otp.verify_token(user, device.persistent_id, code)
    return CodeCheck(accepted=verified is not None, device=verified, recovery_code=recovery)


@transaction.atomic
def confirm_authenticator(device: Any) -> list[str]:
    """Turn the pending app on (the user typed a code from it), replacing any other,
    and make fresh recovery codes; returns them, to be shown once."""
    TOTPDevice.objects.filter(user=device.user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    return new_recovery_codes(device.user)


@transaction.atomic
def new_recovery_codes(user: Any) -> list[str]:
    """Replace the user's recovery codes with RECOVERY_CODE_COUNT new ones."""
    # The same device keeps its id: a session that passed with a recovery code stays
    # signed in (django-otp's middleware checks the session's device on each request).
    holder = recovery_device(user)
    if holder is None:
        holder = StaticDevice.objects.create(user=user, name=RECOVERY_NAME, confirmed=True)
    holder.token_set.all().delete()
    holder.throttle_reset()
    tokens: set[str] = set()
    while len(tokens) < RECOVERY_CODE_COUNT:
        tokens.add(StaticToken.random_token())
    StaticToken.objects.bulk_create(StaticToken(device=holder, token=t) for t in sorted(tokens))
    return [format_recovery_code(t) for t in sorted(tokens)]


@transaction.atomic
def remove_second_factor(user: Any) -> None:
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()
