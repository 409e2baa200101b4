"""GET /healthz: "ok" for anyone, without the database (monitors, the load test's floor).
GET /healthz/db: "ok" only after a real round trip to the database."""

from unittest import mock

import pytest
from django.db import OperationalError


@pytest.mark.django_db
def test_healthz_answers_ok_signed_out_and_reads_no_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.content == b"ok"
    assert "no-cache" in response["Cache-Control"]


def test_healthz_takes_no_post(client):
    assert client.post("/healthz").status_code == 405


@pytest.mark.django_db
def test_healthz_db_asks_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(1):  # SELECT 1, no session, no user
        response = client.get("/healthz/db")
    assert response.status_code == 200
    assert response.content == b"ok"
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_healthz_db_says_so_when_the_database_does_not_answer(client):
    with mock.patch(
        "clinic.health.connection.cursor", side_effect=OperationalError("server closed")
    ):
        response = client.get("/healthz/db")
    assert response.status_code == 503
    assert response.content == b"database unavailable"


def test_healthz_db_takes_no_post(client):
    assert client.post("/healthz/db").status_code == 405
