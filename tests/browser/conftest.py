"""Playwright driving Debian's Chromium against pytest-django's live server."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from importlib import import_module
from pathlib import Path

import pytest

from core.roles import NURSE, PHYSICIAN
from tests.factories import TEST_PASSWORD, UserFactory

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
DESKTOP = {"width": 1280, "height": 900}
TABLET = {"width": 768, "height": 1024}


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)
            # The live server reads the database from another thread, so
            # these tests commit; serialized rollback restores the shipped
            # catalogue and roles for the tests that follow.
            item.add_marker(pytest.mark.django_db(transaction=True, serialized_rollback=True))


@pytest.fixture(autouse=True)
def shipped_data(transactional_db) -> None:
    """The catalogue, drugs, policy and roles that migrations ship.

    A transactional test flushes every table; re-ship them (idempotently,
    with the migrations' own functions) so each browser test starts as a
    freshly migrated clinic does.
    """
    from django.apps import apps

    import_module("pumps.migrations.0002_catalogue").ship(apps, None)
    import_module("patients.migrations.0003_roles").create_roles(apps, None)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing: CI must run the browser tests")
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium (make test does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport=DESKTOP, base_url=live_server.url)
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture(scope="session", autouse=True)
def fresh_artifacts() -> None:
    shutil.rmtree(ARTIFACTS / "screenshots", ignore_errors=True)
    (ARTIFACTS / "screenshots").mkdir(parents=True, exist_ok=True)


def screenshot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    """Save the page at desktop and tablet width, for a person to look at."""
    for label, size in (("desktop", DESKTOP), ("tablet", TABLET)):
        page.set_viewport_size(size)
        page.screenshot(path=ARTIFACTS / "screenshots" / f"{name}-{label}.png", full_page=True)
    page.set_viewport_size(DESKTOP)


def sign_in(page, username: str, password: str = TEST_PASSWORD) -> None:  # type: ignore[no-untyped-def]
    page.goto("/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("h1:has-text('Worklist')")


@pytest.fixture
def nurse_page(page):  # type: ignore[no-untyped-def]
    UserFactory(username="nurse", first_name="Nora", last_name="Reed", roles=[NURSE])
    sign_in(page, "nurse")
    return page


@pytest.fixture
def physician_user():  # type: ignore[no-untyped-def]
    return UserFactory(username="physician", roles=[PHYSICIAN])
