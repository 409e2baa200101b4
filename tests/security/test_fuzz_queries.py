"""Arbitrary query strings at the JSON endpoint and the pages that read them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from tests.security.fuzz import assert_no_500, choices, counts, form_data, fuzz

pytestmark = pytest.mark.django_db


@pytest.fixture
def physician(client: Client, role_users: dict[str, Any]) -> Client:
    client.force_login(role_users["physician"])
    return client


@fuzz(700)
@given(params=form_data({"as_of": "date", "flagged": choices("1", "true", "yes", "0", "")}))
def test_the_due_list_answers_json_or_a_400_never_a_500(
    physician: Client, clinic_objects: dict[str, Any], params: dict[str, str]
) -> None:
    before = counts()
    response = physician.get(reverse("pumps:due_list_json"), params)
    assert response.status_code in (200, 400), f"{response.status_code} for {params!r}"
    if response.status_code == 200:
        body = json.loads(response.content)
        assert isinstance(body, list)
        assert {entry["serial"] for entry in body} <= {clinic_objects["active_pump"].serial}
    elif response["Content-Type"] == "application/json":
        assert json.loads(response.content)["error"].startswith("as_of:")
    else:  # audit.hygiene refuses a NUL byte before the view
        assert any("\x00" in key + value for key, value in params.items())
    assert counts() == before


BOARD_QUERY: dict[str, Any] = {
    "sort": choices("serial", "-implant", "-x", "--serial", ""),
    "refill_status": choices("overdue", "due", "x"),
    "battery_status": choices("eri", "window", "x"),
    "drug": choices("morphine", "x"),
    "model": choices("synchromed_ii_20", "x"),
    "indication": choices("cancer_pain", "x"),
    "physician": "int",
    "discrepancy": choices("yes", "no", "x"),
    "page": "int",
}

# To fuzz another page's query string, add (url name, object for its pk or None, fields).
PAGES: list[tuple[str, str | None, dict[str, Any]]] = [
    (
        "pumps:worklist",
        None,
        {
            "status": choices("overdue", "due", "eri", "all", "x"),
            "drug": choices("morphine", "baclofen", "x"),
            "model": choices("synchromed_ii_20", "x"),
            "booked": choices("yes", "no", "x"),
            "q": "text",
            "page": "int",
            "after": choices("0~2026-01-01~SN1", "6~-~SN1", "9~x~y", "3~2026-13-01~S", "x"),
            "before": choices("0~2026-01-01~SN1", "6~2026-01-01~SN1", "1~-~A", "~~", "x"),
        },
    ),
    ("patients:appointments_day", None, {"day": "date"}),
    ("patients:appointments_week", None, {"day": "date"}),
    ("patients:book_visit", "patient", {"day": "date", "kind": "text"}),
    ("pumps:board", None, BOARD_QUERY),
    ("pumps:board_csv", None, BOARD_QUERY),
    ("patients:trials", None, {"patient": "int"}),
]


@fuzz(200)
@given(page=st.sampled_from(PAGES), data=st.data())
def test_pages_read_any_query_string_without_a_500(
    physician: Client, clinic_objects: dict[str, Any], page: Any, data: st.DataObject
) -> None:
    name, obj, fields = page
    params = data.draw(form_data(fields))
    args = [clinic_objects[obj].pk] if obj else []
    before = counts()
    response = physician.get(reverse(name, args=args), params)
    assert_no_500(response, params)
    assert counts() == before
