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
