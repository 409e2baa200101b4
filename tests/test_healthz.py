"""GET /healthz: "ok" for anyone, without the database (monitors, the load test's floor)."""

import pytest


@pytest.mark.django_db
def test_healthz_answers_ok_signed_out_and_reads_no_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.content == b"ok"
    assert "no-cache" in response["Cache-Control"]


def test_healthz_takes_no_post(client):
    assert client.post("/healthz").status_code == 405
