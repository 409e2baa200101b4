"""Staff with and without an authenticator app, and the code their phone would show."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import devices
from core.roles import ADMINISTRATOR, NURSE, PHYSICIAN
from tests.factories import TEST_PASSWORD, UserFactory

LOGIN = reverse("login")
WORKLIST = reverse("pumps:worklist")
VERIFY = reverse("accounts:two_step_verify")
SET_UP = reverse("accounts:two_step_setup")
PRODUCTION_ROLES = ["physician", "administrator"]


def app_code(device: Any, steps_ahead: int = 0) -> str:
    """The code the phone shows now, or ``steps_ahead`` 30-second steps later.

    A device never takes a code of a step it has already accepted (no replay), so a
    test that signs in twice uses the next step's code the second time, as a person
    who waits for the app's next code does.
    """
    device.refresh_from_db()
    code = totp(device.bin_key, device.step, device.t0, device.digits, device.drift + steps_ahead)
    return f"{code:0{device.digits}d}"


def wrong_code(device: Any) -> str:
    """A 6-digit code the device refuses (not the previous, current or next step's)."""
    accepted = {app_code(device, steps) for steps in (-1, 0, 1, 2)}
    return next(code for code in ("000000", "111111", "222222", "333333") if code not in accepted)


def sign_in(client: Client, username: str, password: str = TEST_PASSWORD) -> Any:
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR="10.0.0.9")


def make_staff(username: str, role: str) -> Any:
    if role == "administrator":
        return UserFactory(
            username=username, roles=[ADMINISTRATOR], is_staff=True, is_superuser=True
        )
    return UserFactory(username=username, roles=[{"nurse": NURSE, "physician": PHYSICIAN}[role]])


@pytest.fixture
def nurse(db: None) -> Any:
    return make_staff("otp-nurse", "nurse")


@pytest.fixture
def with_app(nurse: Any) -> dict[str, Any]:
    """A nurse whose authenticator app and recovery codes are set up."""
    device = TOTPDevice.objects.create(user=nurse, name=devices.APP_NAME, confirmed=True)
    codes = devices.new_recovery_codes(nurse)
    return {"user": nurse, "device": device, "codes": codes}
