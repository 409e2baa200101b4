import os

# Playwright's sync API runs an event loop in the test thread; Django refuses
# ORM calls from such a thread unless told it is safe (docs/DEVELOPERS.md).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from datetime import date

import pytest
from django.test import Client

from core.roles import NURSE
from pumps.models import SchedulePolicy
from tests.factories import UserFactory


@pytest.fixture
def policy(db) -> SchedulePolicy:
    return SchedulePolicy.current()


@pytest.fixture
def today() -> date:
    """A fixed clinic day, so no test depends on the clock."""
    return date(2026, 4, 6)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Tests create many users; the real hasher is slow on purpose."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def nurse_client(db) -> Client:
    """A client signed in as a nurse (username "nurse")."""
    client = Client()
    client.force_login(UserFactory(username="nurse", roles=[NURSE]))
    return client


@pytest.fixture
def idle_clock_still(nurse_client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """The idle clock (audit.idle) stands at the nurse's sign-in, for tests that count
    queries: on a slow machine a minute may pass between two requests, and the
    session's refresh would be counted in the page's queries."""
    import audit.idle

    # The clock is set at sign-in by a signal receiver that is connected once
    # audit.idle is imported (by the first request's middleware): a test run
    # alone signs in before that, so the sign-in time is stored here if missing.
    session = nurse_client.session
    signed_in_at = session.setdefault(audit.idle.LAST_SEEN, audit.idle.clock())
    session.save()
    monkeypatch.setattr(audit.idle, "clock", lambda: signed_in_at)
