"""Two-step sign-in in a real browser: a physician sets it up when production requires
it, saves the recovery codes, and the next sign-in asks for the app's code."""

from __future__ import annotations

import re
from base64 import b32decode

from django_otp.oath import totp

from core.roles import PHYSICIAN
from tests.browser.conftest import screenshot, sign_in
from tests.factories import TEST_PASSWORD, UserFactory


def phone_code(secret: str, steps_ahead: int = 0) -> str:
    """What an authenticator app shows for the key as typed from the set-up page."""
    key = b32decode(re.sub(r"\s", "", secret))
    return f"{totp(key, drift=steps_ahead):06d}"


def test_a_physician_sets_up_two_step_sign_in_and_then_needs_the_code(page, settings):
    settings.OTP_REQUIRED_ROLES = ["physician", "administrator"]  # production's default
    UserFactory(username="physician", first_name="Tom", last_name="Keller", roles=[PHYSICIAN])
    page.goto("/")
    page.get_by_label("Username").fill("physician")
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    # Held at the set-up page: no navigation to anything else yet.
    page.wait_for_selector("h1:has-text('Set up two-step sign-in')")
    assert page.get_by_text("Your role must use two-step sign-in").is_visible()
    assert page.locator("nav.navbar").count() == 0
    assert page.get_by_role("img", name="QR code to scan with your authenticator app").is_visible()
    secret = page.locator("#secret").inner_text()
    assert re.fullmatch(r"([A-Z2-7]{4} ?)+", secret)
    screenshot(page, "two-step-01-set-up")

    page.get_by_label("6-digit code from your app").fill(phone_code(secret))
    page.get_by_role("button", name="Turn on two-step sign-in").click()
    page.wait_for_selector("h1:has-text('Your recovery codes')")
    codes = page.locator("#recovery-codes li").all_inner_texts()
    assert len(codes) == 10
    screenshot(page, "two-step-02-recovery-codes")
    page.get_by_role("link", name="I have saved my codes").click()
    page.wait_for_selector("h1:has-text('Worklist')")

    # The user menu leads to the two-step page, which says it is on.
    page.get_by_role("button", name="Tom Keller · Physician").click()
    page.get_by_role("link", name="Two-step sign-in").click()
    assert page.get_by_text("Two-step sign-in is on for your account").is_visible()
    assert page.locator("#codes-left").inner_text() == "10 of 10"
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/accounts/login/"))

    # The next sign-in asks for the code after the password.
    page.get_by_label("Username").fill("physician")
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("h1:has-text('Enter your code')")
    screenshot(page, "two-step-03-code")
    code_box = page.get_by_label("6-digit code from your app")
    assert code_box.get_attribute("inputmode") == "numeric"
    assert code_box.get_attribute("autocomplete") == "one-time-code"
    accepted = {phone_code(secret, steps) for steps in (-1, 0, 1, 2)}
    code_box.fill(next(code for code in ("000000", "111111", "222222") if code not in accepted))
    page.get_by_role("button", name="Continue", exact=True).click()
    assert page.get_by_text("That code did not match").is_visible()
    page.wait_for_timeout(1200)  # django-otp makes the next try wait a second
    page.get_by_label("6-digit code from your app").fill(phone_code(secret, steps_ahead=1))
    page.get_by_role("button", name="Continue", exact=True).click()
    page.wait_for_selector("h1:has-text('Worklist')")


def test_a_nurse_signs_in_with_the_password_alone_by_default(page):
    UserFactory(username="nurse", roles=["Nurse"])
    sign_in(page, "nurse")  # the worklist, with no code step


def test_the_qr_code_shows_even_when_its_stylesheet_does_not_arrive(page, settings):
    """The QR code carries its own size: a slow or blocked stylesheet must not hide it
    (without a size, Chromium draws the SVG 0 by 0 in its auto-width column)."""
    settings.OTP_REQUIRED_ROLES = ["physician"]
    UserFactory(username="physician", roles=[PHYSICIAN])
    page.route("**/accounts/accounts.css*", lambda route: route.abort())
    page.goto("/")
    page.get_by_label("Username").fill("physician")
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("h1:has-text('Set up two-step sign-in')")
    page.wait_for_load_state("load")
    qr = page.get_by_role("img", name="QR code to scan with your authenticator app")
    box = qr.bounding_box()
    assert box is not None
    assert box["width"] >= 200
    assert box["height"] >= 200
