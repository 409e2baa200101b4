"""Who must use two-step sign-in: physicians and administrators in production, nurses by
a setting, nobody in the demo (whose logins sign in with the README's password alone)."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import global_settings
from django.test import Client
from django.test.utils import override_settings
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from demo.data import SIGN_IN_AS, ensure_demo_staff
from demo.management.commands.seed_demo import DEMO_PASSWORD
from tests.accounts.conftest import (
    PRODUCTION_ROLES,
    SET_UP,
    VERIFY,
    WORKLIST,
    app_code,
    make_staff,
    sign_in,
)
from tests.factories import UserFactory
from tests.security.test_deploy_settings import PRODUCTION, run_manage

ROLES = ("nurse", "physician", "administrator")


def setting(name: str, **env: str) -> str:
    result = run_manage(
        "shell",
        "--no-imports",
        "-c",
        f"from django.conf import settings; print(settings.{name})",
        **env,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


# --- The settings, as a host would set them ---------------------------------------------


def test_production_requires_it_of_physicians_and_administrators_by_default() -> None:
    assert setting("OTP_REQUIRED_ROLES", **PRODUCTION) == str(PRODUCTION_ROLES)


def test_production_adds_nurses_by_a_setting() -> None:
    roles = setting(
        "OTP_REQUIRED_ROLES", **PRODUCTION, OTP_REQUIRED_ROLES="nurse,physician,administrator"
    )
    assert roles == "['nurse', 'physician', 'administrator']"


def test_the_demo_requires_it_of_nobody() -> None:
    assert setting("OTP_REQUIRED_ROLES", DEBUG="true") == "[]"  # DEBUG on, as make run has it


def test_an_unknown_role_name_stops_the_app() -> None:
    result = run_manage("check", **PRODUCTION, OTP_REQUIRED_ROLES="nurses")
    assert result.returncode != 0
    assert "OTP_REQUIRED_ROLES" in result.stderr


def test_check_deploy_warns_when_production_requires_it_of_nobody() -> None:
    result = run_manage(
        "check", "--deploy", "--fail-level", "WARNING", **PRODUCTION, OTP_REQUIRED_ROLES="none"
    )
    assert result.returncode != 0
    assert "accounts.W001" in result.stderr + result.stdout


def test_reset_emails_go_to_the_console_unless_set() -> None:
    assert (
        setting("EMAIL_BACKEND", **PRODUCTION) == "django.core.mail.backends.console.EmailBackend"
    )
    smtp = "django.core.mail.backends.smtp.EmailBackend"
    assert setting("EMAIL_BACKEND", **PRODUCTION, EMAIL_BACKEND=smtp) == smtp


# --- What each role meets after the password -----------------------------------------------


def role_user(role: str) -> Any:
    return make_staff(f"enf-{role}", role)


@pytest.mark.django_db
@override_settings(OTP_REQUIRED_ROLES=PRODUCTION_ROLES)
@pytest.mark.parametrize(
    ("role", "held"), [("nurse", False), ("physician", True), ("administrator", True)]
)
def test_production_holds_physicians_and_administrators_at_set_up(
    client: Client, role: str, held: bool
) -> None:
    role_user(role)
    assert sign_in(client, f"enf-{role}").status_code == 302
    response = client.get(WORKLIST)
    if not held:
        assert response.status_code == 200
        return
    assert response["Location"] == SET_UP + "?next=%2F"
    for page in (
        reverse("patients:review_queue"),
        reverse("accounts:two_step"),
        reverse("admin:index"),
    ):
        assert client.get(page)["Location"].startswith(SET_UP), page
    page = client.get(SET_UP)
    assert page.status_code == 200
    assert "Your role must use two-step sign-in" in page.content.decode()
    assert page.context["hide_navigation"]
    assert client.get(reverse("healthz")).status_code == 200
    # Set up, and the clinic opens.
    device = TOTPDevice.objects.get(user__username=f"enf-{role}")
    done = client.post(SET_UP + "?next=/", {"code": app_code(device), "next": "/"})
    assert done["Location"] == reverse("accounts:recovery_codes") + "?next=%2F"
    assert client.get(done["Location"]).context["continue_to"] == "/"
    assert client.get(WORKLIST).status_code == 200
    # The next sign-in asks for the code.
    client.logout()
    sign_in(client, f"enf-{role}")
    assert client.get(WORKLIST)["Location"].startswith(VERIFY)


@pytest.mark.django_db
@override_settings(OTP_REQUIRED_ROLES=PRODUCTION_ROLES)
def test_a_plain_admin_site_staff_account_counts_as_an_administrator(client: Client) -> None:
    UserFactory(username="enf-staff", is_staff=True)
    sign_in(client, "enf-staff")
    assert client.get(reverse("admin:index"))["Location"].startswith(SET_UP)


@pytest.mark.django_db
@override_settings(OTP_REQUIRED_ROLES=["nurse", *PRODUCTION_ROLES])
@pytest.mark.parametrize("role", ROLES)
def test_the_setting_can_hold_nurses_too(client: Client, role: str) -> None:
    role_user(role)
    sign_in(client, f"enf-{role}")
    assert client.get(WORKLIST)["Location"].startswith(SET_UP)


@pytest.mark.django_db
@override_settings(OTP_REQUIRED_ROLES=["nurse"])
def test_nurses_only_does_not_catch_a_superuser_who_is_not_a_nurse(client: Client) -> None:
    role_user("administrator")
    sign_in(client, "enf-administrator")
    assert client.get(WORKLIST).status_code == 200


@pytest.mark.django_db
@override_settings(OTP_REQUIRED_ROLES=PRODUCTION_ROLES)
def test_a_held_user_may_sign_out(client: Client) -> None:
    role_user("physician")
    sign_in(client, "enf-physician")
    assert client.post(reverse("logout"))["Location"] == reverse("login")
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
@override_settings(OTP_REQUIRED_ROLES=PRODUCTION_ROLES)
def test_turning_it_off_in_a_required_role_leads_straight_back_to_set_up(client: Client) -> None:
    role_user("physician")
    sign_in(client, "enf-physician")
    client.get(SET_UP)
    device = TOTPDevice.objects.get(user__username="enf-physician")
    client.post(SET_UP, {"code": app_code(device)})
    removed = client.post(
        reverse("accounts:two_step_remove"), {"code": app_code(device, steps_ahead=1)}
    )
    assert removed["Location"] == SET_UP
    assert client.get(WORKLIST)["Location"].startswith(SET_UP)


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_the_demo_default_holds_no_role(client: Client, settings: Any, role: str) -> None:
    assert settings.OTP_REQUIRED_ROLES == []
    role_user(role)
    sign_in(client, f"enf-{role}")
    assert client.get(WORKLIST).status_code == 200


@pytest.mark.django_db
def test_the_demo_logins_sign_in_with_the_readme_password_alone(
    client: Client, settings: Any
) -> None:
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS  # as seed_demo hashes it
    ensure_demo_staff()
    for username in SIGN_IN_AS:
        assert sign_in(client, username, DEMO_PASSWORD)["Location"] == WORKLIST
        assert client.get(WORKLIST).status_code == 200, username
        client.logout()
