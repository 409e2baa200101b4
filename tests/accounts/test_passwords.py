"""Changing a password in the app, and resetting a forgotten one by email."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.accounts.conftest import LOGIN, VERIFY, WORKLIST, sign_in
from tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.django_db

CHANGE = reverse("accounts:password_change")
RESET = reverse("accounts:password_reset")
NEW_PASSWORD = "intrathecal baclofen refill 2026"


def test_the_user_menu_and_the_sign_in_page_link_to_the_password_pages(
    client: Client, nurse: Any
) -> None:
    assert f'href="{RESET}">Forgot password?</a>' in client.get(LOGIN).content.decode()
    client.force_login(nurse)
    page = client.get(WORKLIST).content.decode()
    assert f'href="{CHANGE}"' in page
    assert f'href="{reverse("accounts:two_step")}"' in page


def test_changing_the_password(client: Client, nurse: Any) -> None:
    client.force_login(nurse)
    assert client.get(CHANGE).status_code == 200
    wrong_old = client.post(
        CHANGE,
        {"old_password": "not it", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert wrong_old.status_code == 200
    assert "old password was entered incorrectly" in wrong_old.content.decode()
    weak = client.post(
        CHANGE,
        {"old_password": TEST_PASSWORD, "new_password1": "password", "new_password2": "password"},
    )
    assert weak.status_code == 200
    assert "too common" in weak.content.decode()
    done = client.post(
        CHANGE,
        {
            "old_password": TEST_PASSWORD,
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
    )
    assert done["Location"] == reverse("accounts:password_change_done")
    assert "Your password is changed" in client.get(done["Location"]).content.decode()
    assert client.get(WORKLIST).status_code == 200  # this session goes on
    nurse.refresh_from_db()
    assert nurse.check_password(NEW_PASSWORD)


def reset_link(email: Any) -> str:
    match = re.search(r"https?://[^/\s]+(/accounts/password/reset/\S+/)", email.body)
    assert match, email.body
    return match.group(1)


def test_a_forgotten_password_is_reset_by_an_emailed_link_that_works_once(
    client: Client, nurse: Any, settings: Any
) -> None:
    settings.DEFAULT_FROM_EMAIL = "clinic@example.org"
    nurse.email = "nurse@example.org"
    nurse.save()
    assert "Forgot your password?" in client.get(RESET).content.decode()
    sent = client.post(RESET, {"email": "NURSE@example.org"})
    assert sent["Location"] == reverse("accounts:password_reset_done")
    assert "Check your email" in client.get(sent["Location"]).content.decode()
    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == ["nurse@example.org"]
    assert email.from_email == "clinic@example.org"
    assert email.subject == "Pump clinic: choose a new password"
    assert "otp-nurse" in email.body

    link = reset_link(email)
    form_page = client.get(link, follow=True)  # Django swaps the token for a session key
    assert "Choose a new password" in form_page.content.decode()
    saved = client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert saved["Location"] == reverse("accounts:password_reset_complete")
    assert "Your new password is saved" in client.get(saved["Location"]).content.decode()
    nurse.refresh_from_db()
    assert nurse.check_password(NEW_PASSWORD)
    assert sign_in(client, "otp-nurse", NEW_PASSWORD)["Location"] == WORKLIST
    client.logout()
    # The link was for once.
    assert "does not work any more" in client.get(link, follow=True).content.decode()


def test_an_unknown_address_gets_the_same_answer_and_no_email(client: Client, nurse: Any) -> None:
    sent = client.post(RESET, {"email": "nobody@example.org"})
    assert sent["Location"] == reverse("accounts:password_reset_done")
    assert mail.outbox == []


def test_a_reset_password_still_needs_the_second_step(client: Client, nurse: Any) -> None:
    nurse.email = "nurse@example.org"
    nurse.save()
    TOTPDevice.objects.create(user=nurse, name="app", confirmed=True)
    client.post(RESET, {"email": "nurse@example.org"})
    form_page = client.get(reset_link(mail.outbox[0]), follow=True)
    client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert "_auth_user_id" not in client.session  # a reset does not sign in
    sign_in(client, "otp-nurse", NEW_PASSWORD)
    assert client.get(WORKLIST)["Location"].startswith(VERIFY)
