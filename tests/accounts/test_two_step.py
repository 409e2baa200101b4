"""Two-step sign-in: setting up the app, the code step, recovery codes, turning it off."""

from __future__ import annotations

import re
from base64 import b32encode
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import devices, events
from audit.models import AuditEntry
from tests.accounts.conftest import (
    LOGIN,
    SET_UP,
    VERIFY,
    WORKLIST,
    app_code,
    make_staff,
    sign_in,
    wrong_code,
)
from tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.django_db

TWO_STEP = reverse("accounts:two_step")
CODES = reverse("accounts:recovery_codes")
REMOVE = reverse("accounts:two_step_remove")


def audited(what: str) -> list[str]:
    return list(AuditEntry.objects.filter(what=what).values_list("username", flat=True))


def let_throttle_pass(device: Any) -> None:
    """As if the wait after a wrong code had passed (the wait itself is django-otp's)."""
    device.refresh_from_db()
    device.throttling_failure_timestamp = timezone.now() - timedelta(days=1)
    device.save()


# --- Setting up -----------------------------------------------------------------------


def test_setting_up_shows_a_qr_code_and_the_key_and_needs_a_code_from_the_app(
    client: Client, nurse: Any
) -> None:
    client.force_login(nurse)
    page = client.get(SET_UP)
    assert page.status_code == 200
    html = page.content.decode()
    device = TOTPDevice.objects.get(user=nurse)
    assert not device.confirmed  # nothing is on until a code proves the phone has it
    assert '<svg class="qr-code" width="240" height="240" role="img"' in html
    assert "<script" not in html.split("<main", 1)[1].split("</main>")[0]  # CSP: no inline JS
    secret = b32encode(device.bin_key).decode()
    assert re.sub(r"\s", "", page.context["secret"]) == secret
    assert page.context["secret"] in html
    # Reloading keeps the same key: the picture already scanned stays right.
    assert client.get(SET_UP).context["secret"] == page.context["secret"]
    assert TOTPDevice.objects.filter(user=nurse).count() == 1

    wrong = client.post(SET_UP, {"code": wrong_code(device)})
    assert wrong.status_code == 200
    assert "That code did not match" in wrong.content.decode()
    device.refresh_from_db()
    assert not device.confirmed

    let_throttle_pass(device)
    done = client.post(SET_UP, {"code": app_code(device)})
    assert done.status_code == 302
    assert done["Location"].startswith(CODES)
    device.refresh_from_db()
    assert device.confirmed
    assert audited(events.SET_UP) == ["otp-nurse"]

    # The recovery codes: ten, shown once.
    shown = client.get(done["Location"])
    codes = shown.context["codes"]
    assert len(codes) == 10
    assert len(set(codes)) == 10
    assert all(code in shown.content.decode() for code in codes)
    assert StaticToken.objects.filter(device__user=nurse).count() == 10
    assert client.get(CODES).status_code == 302  # gone from the session: not shown again
    # This session proved the app, so it goes on without another code.
    assert client.get(WORKLIST).status_code == 200
    overview = client.get(TWO_STEP).content.decode()
    assert "Two-step sign-in is on" in overview
    assert "10 of 10" in overview


def test_the_setup_page_sends_someone_who_has_an_app_to_their_two_step_page(
    client: Client, with_app: dict[str, Any]
) -> None:
    client.force_login(with_app["user"])
    assert client.post(VERIFY, {"app-code": app_code(with_app["device"])}).status_code == 302
    assert client.get(SET_UP)["Location"] == TWO_STEP


# --- The code step --------------------------------------------------------------------


def test_with_an_app_the_password_alone_reaches_nothing_but_the_code_page(
    client: Client, with_app: dict[str, Any]
) -> None:
    signed_in = sign_in(client, "otp-nurse")
    assert signed_in.status_code == 302
    assert signed_in["Location"] == WORKLIST
    for page in (WORKLIST, reverse("pumps:due_list_json"), reverse("admin:index"), TWO_STEP):
        held = client.get(page)
        assert held.status_code == 302, page
        assert held["Location"].startswith(VERIFY), page
    code_page = client.get(VERIFY + "?next=/board/")
    assert code_page.status_code == 200
    html = code_page.content.decode()
    assert "Enter your code" in html
    assert 'href="/board/"' not in html  # no navigation before the code
    # Signing out and the health checks stay open.
    assert client.get(reverse("healthz")).status_code == 200
    passed = client.post(VERIFY + "?next=/board/", {"app-code": app_code(with_app["device"])})
    assert passed.status_code == 302
    assert passed["Location"] == "/board/"
    assert client.get(WORKLIST).status_code == 200


def test_the_page_asked_for_is_reached_after_the_code(
    client: Client, with_app: dict[str, Any]
) -> None:
    sign_in(client, "otp-nurse")
    held = client.get("/patients/review/?x=1")
    assert held["Location"] == VERIFY + "?next=%2Fpatients%2Freview%2F%3Fx%3D1"
    page = client.get(held["Location"])
    passed = client.post(
        held["Location"], {"app-code": app_code(with_app["device"]), "next": page.context["next"]}
    )
    assert passed["Location"] == "/patients/review/?x=1"


def test_a_next_address_off_the_site_is_ignored(client: Client, with_app: dict[str, Any]) -> None:
    sign_in(client, "otp-nurse")
    passed = client.post(
        VERIFY + "?next=https://elsewhere.example/", {"app-code": app_code(with_app["device"])}
    )
    assert passed["Location"] == WORKLIST


def test_a_wrong_code_is_refused_logged_and_throttled(
    client: Client, with_app: dict[str, Any], settings: Any
) -> None:
    device = with_app["device"]
    assert settings.OTP_TOTP_THROTTLE_FACTOR == 1
    assert device.throttling_enabled
    sign_in(client, "otp-nurse")
    right = app_code(device)
    wrong = client.post(VERIFY, {"app-code": wrong_code(device)})
    assert wrong.status_code == 200
    assert "That code did not match" in wrong.content.decode()
    assert client.get(WORKLIST).status_code == 302
    assert audited(events.WRONG_CODE) == ["otp-nurse"]
    # Straight after a wrong code even the right one waits: guessing is slow.
    throttled = client.post(VERIFY, {"app-code": right})
    assert throttled.status_code == 200
    assert "Too many wrong codes. Wait" in throttled.content.decode()
    assert len(audited(events.WRONG_CODE)) == 1  # a try refused unchecked is not a wrong code
    let_throttle_pass(device)
    assert client.post(VERIFY, {"app-code": right}).status_code == 302
    assert client.get(WORKLIST).status_code == 200


def test_each_wrong_code_doubles_the_wait(client: Client, with_app: dict[str, Any]) -> None:
    device = with_app["device"]
    sign_in(client, "otp-nurse")
    for _ in range(4):
        let_throttle_pass(device)
        client.post(VERIFY, {"app-code": wrong_code(device)})
    device.refresh_from_db()
    assert device.throttling_failure_count == 4
    allowed, details = device.verify_is_allowed()
    assert not allowed
    assert details["locked_until"] - device.throttling_failure_timestamp == timedelta(seconds=8)


def test_an_app_code_works_once(client: Client, with_app: dict[str, Any]) -> None:
    device = with_app["device"]
    code = app_code(device)
    sign_in(client, "otp-nurse")
    assert client.post(VERIFY, {"app-code": code}).status_code == 302
    client.logout()
    sign_in(client, "otp-nurse")
    replay = client.post(VERIFY, {"app-code": code})
    assert replay.status_code == 200
    assert "did not match" in replay.content.decode()


def test_a_recovery_code_works_once(client: Client, with_app: dict[str, Any]) -> None:
    code = with_app["codes"][0]
    assert re.fullmatch(r"[a-z2-7]{4}-[a-z2-7]{4}", code)
    sign_in(client, "otp-nurse")
    # Typed as people type: capitals, a space for the hyphen.
    passed = client.post(VERIFY, {"recovery-code": code.upper().replace("-", " ")})
    assert passed.status_code == 302
    worklist = client.get(WORKLIST)
    assert worklist.status_code == 200
    assert "You used a recovery code; 9 left." in worklist.content.decode()
    assert audited(events.RECOVERY_USED) == ["otp-nurse"]
    client.logout()

    sign_in(client, "otp-nurse")
    again = client.post(VERIFY, {"recovery-code": code})
    assert again.status_code == 200
    assert "used before" in again.content.decode()
    assert again.context["recovery_open"]  # the recovery box stays open to try another
    assert client.get(WORKLIST).status_code == 302


def test_signing_out_works_while_the_code_is_pending(
    client: Client, with_app: dict[str, Any]
) -> None:
    sign_in(client, "otp-nurse")
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert response["Location"] == LOGIN
    assert "_auth_user_id" not in client.session


def test_the_admin_sign_in_also_asks_for_the_code(client: Client, db: None) -> None:
    admin = make_staff("otp-admin", "administrator")
    device = TOTPDevice.objects.create(user=admin, name="app", confirmed=True)
    response = client.post(
        reverse("admin:login"), {"username": "otp-admin", "password": TEST_PASSWORD}
    )
    assert response.status_code == 302
    assert client.get(reverse("admin:index"))["Location"].startswith(VERIFY)
    client.post(VERIFY, {"app-code": app_code(device)})
    assert client.get(reverse("admin:index")).status_code == 200


def test_an_app_removed_by_an_administrator_no_longer_asks_for_a_code(
    client: Client, with_app: dict[str, Any]
) -> None:
    """The answer for a lost phone and lost codes: the admin deletes the device."""
    sign_in(client, "otp-nurse")
    TOTPDevice.objects.filter(user=with_app["user"]).delete()
    held = client.get(WORKLIST)
    assert held["Location"].startswith(VERIFY)
    assert client.get(held["Location"])["Location"] == WORKLIST
    assert client.get(WORKLIST).status_code == 200


def test_the_password_lockout_still_works_and_wrong_codes_do_not_feed_it(
    client: Client, with_app: dict[str, Any]
) -> None:
    for _ in range(3):
        sign_in(client, "otp-nurse")
        client.post(VERIFY, {"app-code": wrong_code(with_app["device"])})
        let_throttle_pass(with_app["device"])
        client.logout()
    # Code failures are the device's own throttle, not the password lockout.
    assert sign_in(client, "otp-nurse").status_code == 302
    client.logout()
    for _ in range(4):
        assert sign_in(client, "otp-nurse", "wrong password").status_code == 200
    assert sign_in(client, "otp-nurse", "wrong password").status_code == 429
    assert sign_in(client, "otp-nurse").status_code == 429


# --- New recovery codes, turning off ----------------------------------------------------


def verified_client(client: Client, with_app: dict[str, Any]) -> Client:
    client.force_login(with_app["user"])
    client.post(VERIFY, {"app-code": app_code(with_app["device"])})
    assert client.get(WORKLIST).status_code == 200
    return client


def test_new_recovery_codes_need_a_code_and_cancel_the_old_ones(
    client: Client, with_app: dict[str, Any]
) -> None:
    verified_client(client, with_app)
    refused = client.post(CODES, {"code": "nope-nope"})
    assert refused.status_code == 200
    assert "not right" in refused.content.decode()
    assert audited(events.NEW_CODES) == []
    let_throttle_pass(devices.recovery_device(with_app["user"]))  # recovery codes throttle too
    made = client.post(CODES, {"code": with_app["codes"][0]})  # a recovery code confirms too
    assert made["Location"] == CODES
    new = client.get(CODES).context["codes"]
    assert len(new) == 10
    assert not set(new) & set(with_app["codes"])
    assert audited(events.NEW_CODES) == ["otp-nurse"]
    # The session that used a recovery code to confirm stays signed in.
    assert client.get(WORKLIST).status_code == 200
    client.logout()
    sign_in(client, "otp-nurse")
    assert client.post(VERIFY, {"recovery-code": with_app["codes"][1]}).status_code == 200
    let_throttle_pass(devices.recovery_device(with_app["user"]))
    assert client.post(VERIFY, {"recovery-code": new[0]}).status_code == 302


def test_turning_off_needs_a_current_code(client: Client, with_app: dict[str, Any]) -> None:
    verified_client(client, with_app)
    assert client.get(REMOVE).status_code == 200
    refused = client.post(REMOVE, {"code": wrong_code(with_app["device"])})
    assert refused.status_code == 200
    assert TOTPDevice.objects.filter(user=with_app["user"]).exists()
    let_throttle_pass(with_app["device"])
    turned_off = client.post(REMOVE, {"code": app_code(with_app["device"], steps_ahead=1)})
    assert turned_off["Location"] == TWO_STEP
    assert not TOTPDevice.objects.filter(user=with_app["user"]).exists()
    assert not StaticToken.objects.filter(device__user=with_app["user"]).exists()
    assert audited(events.REMOVED) == ["otp-nurse"]
    assert audited(events.WRONG_CODE) == ["otp-nurse"]
    assert client.get(WORKLIST).status_code == 200
    client.logout()
    assert sign_in(client, "otp-nurse").status_code == 302
    assert client.get(WORKLIST).status_code == 200  # the password alone again


def test_codes_are_checked_against_the_users_own_devices_only(
    client: Client, with_app: dict[str, Any]
) -> None:
    other = get_user_model().objects.create_user("otp-other", password=TEST_PASSWORD)
    other_device = TOTPDevice.objects.create(user=other, name="app", confirmed=True)
    sign_in(client, "otp-nurse")
    code = app_code(other_device)
    if code != app_code(with_app["device"]):
        assert client.post(VERIFY, {"app-code": code}).status_code == 200
