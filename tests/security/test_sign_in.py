"""Sign-in hardening: lockout after repeated failures, idle sign-out, password rules."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.forms import AdminPasswordChangeForm, UserCreationForm
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

import audit.idle
from tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.django_db

LOGIN = reverse("login")


def sign_in(client: Client, username: str, password: str, address: str = "10.0.0.1") -> Any:
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address)


def fail(client: Client, username: str, times: int, address: str = "10.0.0.1") -> None:
    for _ in range(times):
        assert sign_in(client, username, "wrong password", address).status_code == 200


def test_the_right_password_signs_in(client: Client, role_users: dict[str, Any]) -> None:
    response = sign_in(client, "sec-nurse", TEST_PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == reverse("pumps:worklist")


def test_five_failures_lock_the_username_from_that_address_with_a_clear_page(
    client: Client, role_users: dict[str, Any], settings: Any
) -> None:
    assert settings.AXES_FAILURE_LIMIT == 5
    fail(client, "sec-nurse", 4)
    response = sign_in(client, "sec-nurse", "wrong password")
    assert response.status_code == 429
    page = response.content.decode()
    assert "Too many failed sign-ins" in page
    assert "sec-nurse" in page
    assert "0:15:00" in page  # the cool-off, 15 minutes
    # Locked out: even the right password is refused now.
    assert sign_in(client, "sec-nurse", TEST_PASSWORD).status_code == 429
    assert "_auth_user_id" not in client.session


def test_the_lockout_is_per_username_and_address(
    client: Client, role_users: dict[str, Any]
) -> None:
    fail(client, "sec-nurse", 4)
    assert sign_in(client, "sec-nurse", "wrong password").status_code == 429
    # The same nurse from another workstation, and a colleague from this one, still sign in.
    assert sign_in(Client(), "sec-nurse", TEST_PASSWORD, address="10.0.0.2").status_code == 302
    assert sign_in(Client(), "sec-physician", TEST_PASSWORD).status_code == 302


def test_a_success_before_the_limit_starts_the_count_again(
    client: Client, role_users: dict[str, Any]
) -> None:
    fail(client, "sec-nurse", 4)
    assert sign_in(client, "sec-nurse", TEST_PASSWORD).status_code == 302
    client.logout()
    fail(client, "sec-nurse", 4)
    assert sign_in(client, "sec-nurse", TEST_PASSWORD).status_code == 302


def test_the_admin_sign_in_is_locked_out_too(client: Client, role_users: dict[str, Any]) -> None:
    url = reverse("admin:login")
    for _ in range(5):
        response = client.post(url, {"username": "sec-admin", "password": "nope"})
    assert response.status_code == 429


def test_unknown_usernames_are_locked_out_like_real_ones(client: Client) -> None:
    fail(client, "nobody", 4)
    assert sign_in(client, "nobody", "x").status_code == 429


# --- Idle sign-out -------------------------------------------------------------------


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """A settable clock for the idle check: clock[0] is now, in seconds."""
    now = [1_800_000_000.0]
    monkeypatch.setattr(audit.idle, "clock", lambda: now[0])
    return now


def test_fifteen_idle_minutes_sign_staff_out(
    client: Client, role_users: dict[str, Any], clock: list[float], settings: Any
) -> None:
    assert settings.SESSION_IDLE_TIMEOUT_MINUTES == 15
    client.force_login(role_users["nurse"])
    worklist = reverse("pumps:worklist")
    clock[0] += 15 * 60 - 1
    assert client.get(worklist).status_code == 200  # a second to spare; the clock restarts
    clock[0] += 15 * 60 - 1
    assert client.get(worklist).status_code == 200
    clock[0] += 15 * 60
    response = client.get(worklist)
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN)
    assert "_auth_user_id" not in client.session
    page = client.get(response["Location"]).content.decode()
    assert "signed out after 15 minutes without activity" in page


def test_the_idle_limit_is_a_setting(
    client: Client, role_users: dict[str, Any], clock: list[float], settings: Any
) -> None:
    settings.SESSION_IDLE_TIMEOUT_MINUTES = 5
    client.force_login(role_users["nurse"])
    clock[0] += 5 * 60
    assert client.get(reverse("pumps:due_list_json")).status_code == 302


def test_activity_within_a_minute_writes_no_session(
    client: Client, role_users: dict[str, Any], clock: list[float]
) -> None:
    """Pages cost no session write; the idle clock moves at most once a minute."""
    client.force_login(role_users["nurse"])
    started = client.session[audit.idle.LAST_SEEN]
    clock[0] += 59
    client.get(reverse("pumps:worklist"))
    assert client.session[audit.idle.LAST_SEEN] == started
    clock[0] += 1
    client.get(reverse("pumps:worklist"))
    assert client.session[audit.idle.LAST_SEEN] == started + 60


def test_the_browser_forgets_the_session_when_closed(settings: Any) -> None:
    assert settings.SESSION_EXPIRE_AT_BROWSER_CLOSE
    assert settings.SESSION_COOKIE_HTTPONLY


# --- Passwords -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "weak", ["short1", "password123", "12345678901234", "sec-nurse-1", "qwertyuiop"]
)
def test_weak_passwords_are_refused(role_users: dict[str, Any], weak: str) -> None:
    with pytest.raises(ValidationError):
        validate_password(weak, user=role_users["nurse"])


def test_a_strong_password_is_accepted(role_users: dict[str, Any]) -> None:
    validate_password("intrathecal baclofen refill 2026", user=role_users["nurse"])


def test_the_admin_user_forms_refuse_a_weak_password(role_users: dict[str, Any]) -> None:
    create = UserCreationForm(
        {"username": "newnurse", "password1": "password", "password2": "password"}
    )
    assert not create.is_valid()
    assert "password2" in create.errors
    change = AdminPasswordChangeForm(
        role_users["nurse"], {"password1": "12345678", "password2": "12345678"}
    )
    assert not change.is_valid()
