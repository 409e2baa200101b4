"""Signed-in clients for the three roles of the physician's review pages."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from core.roles import ADMINISTRATOR, PHYSICIAN
from tests.factories import UserFactory


@pytest.fixture
def today() -> date:
    # Pages judge statuses on the clinic's real today; tests build data from it.
    return timezone.localdate()


@pytest.fixture
def physician(db):
    return UserFactory(username="dr_who", first_name="Ada", last_name="Okafor", roles=[PHYSICIAN])


@pytest.fixture
def physician_client(physician) -> Client:
    client = Client()
    client.force_login(physician)
    return client


@pytest.fixture
def admin_client_role(db) -> Client:
    """An administrator: runs the system, reads the records, decides nothing."""
    client = Client()
    client.force_login(UserFactory(username="administrator", roles=[ADMINISTRATOR]))
    return client


def page_queries(user: Any, url: str, params: dict | None = None) -> list[str]:
    """The SQL a page (or a streamed download) runs for ``user``, answered with 200.

    Counted without the audit app's middleware (its view log and idle timeout
    have their own tests in tests/security): what remains is the page's own work.
    """
    from django.conf import settings
    from django.db import connection
    from django.test.utils import CaptureQueriesContext, override_settings

    middleware = [name for name in settings.MIDDLEWARE if not name.startswith("audit.")]
    with override_settings(MIDDLEWARE=middleware):
        client = Client()  # a new client loads the middleware of these settings
        client.force_login(user)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url, params or {})
            assert response.status_code == 200, url
            if response.streaming:
                b"".join(response.streaming_content)
    return [query["sql"] for query in queries.captured_queries]
