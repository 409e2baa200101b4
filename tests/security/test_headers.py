"""Every page and export: a Content-Security-Policy and Cache-Control: no-store (issue 13).

The walk reuses the access matrix's rows (tests/security/test_access_matrix.py),
so a new URL is covered here as soon as it has its row there. Each URL is
asked by every role, whatever the answer (page, redirect, 403, 404, 405): a
shared ward computer must keep none of them.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from typing import Any

import pytest
import simple_history
from django.conf import settings
from django.test import Client
from django.urls import reverse

from tests.security.conftest import ROLES
from tests.security.test_access_matrix import (
    ALL_ROWS,
    MATRIX,
    OK,
    login_as,
    resolve_kwargs,
)

pytestmark = pytest.mark.django_db

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"

# What the policy refuses in a page. A <script> with src= is a static file, and
# one of type="application/json" (json_script) is data that no browser runs.
REFUSED_INLINE = {
    "inline <script>": r'<script(?![^>]*\b(?:src=|type="application/json"))[^>]*>',
    "<style> block": r"<style\b",
    "style attribute": r"\sstyle\s*=",
    "event handler attribute": r"\son[a-z]+\s*=",
    "javascript: URL": r"javascript:",
}


def directives(response: Any) -> dict[str, list[str]]:
    """The Content-Security-Policy header as {directive: [sources]}."""
    policy = response["Content-Security-Policy"]
    parsed: dict[str, list[str]] = {}
    for part in policy.split(";"):
        name, *sources = part.split()
        parsed[name] = sources
    return parsed


def cache_directives(response: Any) -> set[str]:
    return {part.strip() for part in response.get("Cache-Control", "").split(",")}


def assert_not_stored(response: Any, what: str) -> None:
    assert {"no-store", "private"} <= cache_directives(response), (
        f"{what}: Cache-Control is {response.get('Cache-Control')!r}"
    )
    assert "public" not in cache_directives(response), what
    assert response.get("Pragma") == "no-cache", what


def assert_policy(response: Any, what: str) -> None:
    assert "Content-Security-Policy" in response, f"{what}: no Content-Security-Policy"
    policy = directives(response)
    assert policy["default-src"] == ["'self'"], what
    assert policy["script-src"] == ["'self'"], what  # no 'unsafe-inline', no 'unsafe-eval'
    assert policy["style-src"] == ["'self'"], what
    # The one inline style attribute of django-simple-history's admin page, by its hash.
    assert policy["style-src-attr"] == [
        "'unsafe-hashes'",
        "'sha256-XMXSevYjgSjXgRafBFDvtjwX+yyWLrxfso9DcNZ9UXM='",  # "border-top: 0"
    ], what
    assert policy["img-src"] == ["'self'", "data:"], what
    assert policy["object-src"] == ["'none'"], what
    assert policy["base-uri"] == ["'self'"], what
    assert policy["form-action"] == ["'self'"], what
    assert policy["frame-ancestors"] == ["'none'"], what
    assert "unsafe-inline" not in response["Content-Security-Policy"], what


CASES = [(name, role) for name in ALL_ROWS for role in ROLES]


@pytest.mark.parametrize(("name", "role"), CASES, ids=[f"{n}-{r}" for n, r in CASES])
def test_every_url_answers_with_the_policy_and_no_store(
    client: Client, role_users: dict[str, Any], clinic_objects: dict[str, Any], name: str, role: str
) -> None:
    spec, *_ = ALL_ROWS[name]
    url = reverse(name, kwargs=resolve_kwargs(spec, clinic_objects))
    response = login_as(client, role_users[role]).get(url)
    what = f"GET {url} as {role} ({response.status_code})"
    assert_not_stored(response, what)
    assert_policy(response, what)


# The app's own pages (not the admin's, nor the JSON/CSV exports) that a role opens.
PAGES = [
    (name, role)
    for name, (spec, *answers) in MATRIX.items()
    for role, expected in zip(ROLES, answers, strict=True)
    if expected == OK
    and role != "anonymous"
    and name not in {"healthz", "healthz_db"}
    and not name.endswith(("_json", "_csv"))
]


@pytest.mark.parametrize(("name", "role"), PAGES, ids=[f"{n}-{r}" for n, r in PAGES])
def test_pages_hold_no_inline_script_or_style(
    client: Client, role_users: dict[str, Any], clinic_objects: dict[str, Any], name: str, role: str
) -> None:
    """What the policy would refuse (and a browser would then not run or show)
    is not sent at all: scripts and styles come from static/ files."""
    spec, *_ = MATRIX[name]
    url = reverse(name, kwargs=resolve_kwargs(spec, clinic_objects))
    html = login_as(client, role_users[role]).get(url).content.decode()
    found = [
        f"{what}: {match.group()}"
        for what, pattern in REFUSED_INLINE.items()
        for match in re.finditer(pattern, html)
    ]
    assert not found, f"{url}: {found}"


def test_templates_hold_no_inline_script_style_or_handler() -> None:
    """The same for every template, including those no test renders (500.html)."""
    found = [
        f"{template.relative_to(TEMPLATES)}: {what}: {match.group()}"
        for template in sorted(TEMPLATES.rglob("*.html"))
        for what, pattern in REFUSED_INLINE.items()
        for match in re.finditer(pattern, template.read_text())
    ]
    assert not found, found


def test_the_one_style_attribute_allowed_is_still_the_admin_history_pages() -> None:
    """When django-simple-history drops or changes it, drop or change the hash
    in clinic/settings.py (the browser test would report the page refused)."""
    history_list = Path(simple_history.__file__).parent.joinpath(
        "templates", "simple_history", "object_history_list.html"
    )
    attributes = re.findall(r'\sstyle="([^"]*)"', history_list.read_text())
    assert attributes == [settings.SIMPLE_HISTORY_STYLE_ATTRIBUTE]
    digest = hashlib.sha256(attributes[0].encode()).digest()
    assert base64.b64encode(digest).decode() == "XMXSevYjgSjXgRafBFDvtjwX+yyWLrxfso9DcNZ9UXM="


def test_the_board_csv_is_not_stored_and_named_without_patient_data(
    client: Client, role_users: dict[str, Any], clinic_objects: dict[str, Any]
) -> None:
    response = login_as(client, role_users["nurse"]).get(reverse("pumps:board_csv"))
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert_not_stored(response, "board CSV")
    disposition = response["Content-Disposition"]
    assert re.fullmatch(r'attachment; filename="pump-board-\d{4}-\d{2}-\d{2}\.csv"', disposition)
    body = b"".join(response.streaming_content).decode()
    patient = clinic_objects["patient"]
    assert patient.mrn in body  # the data is in the file, not in its name
    for text in (patient.mrn, patient.family_name, patient.given_name):
        assert text not in disposition


def test_the_due_list_json_is_not_stored(
    client: Client, role_users: dict[str, Any], clinic_objects: dict[str, Any]
) -> None:
    response = login_as(client, role_users["nurse"]).get(reverse("pumps:due_list_json"))
    assert response["Content-Type"] == "application/json"
    assert clinic_objects["patient"].mrn in response.content.decode()
    assert_not_stored(response, "due list JSON")


def test_a_form_post_and_its_redirect_are_not_stored(
    client: Client, role_users: dict[str, Any], clinic_objects: dict[str, Any]
) -> None:
    login_as(client, role_users["nurse"])
    appointment = clinic_objects["appointment"]
    url = reverse("patients:set_visit_status", args=[appointment.pk])
    response = client.post(url, {"status": "missed"})
    assert response.status_code in (200, 302)
    assert_not_stored(response, f"POST {url}")
    assert_policy(response, f"POST {url}")


def test_error_pages_are_not_stored(client: Client, role_users: dict[str, Any]) -> None:
    response = login_as(client, role_users["nurse"]).get("/patients/987654321/")
    assert response.status_code == 404
    assert_not_stored(response, "404 page")
    assert_policy(response, "404 page")


def test_the_sign_in_page_is_not_stored_either(client: Client) -> None:
    """Every answer Django makes, signed in or not: no page has to remember to ask."""
    response = client.get(reverse("login"))
    assert_not_stored(response, "sign-in page")
    assert_policy(response, "sign-in page")


def test_static_files_keep_their_caching(client: Client, role_users: dict[str, Any]) -> None:
    """Static files hold no patient data: WhiteNoise answers them above the
    middleware, with caching, even to a signed-in user."""
    response = login_as(client, role_users["nurse"]).get("/static/css/clinic.css")
    assert response.status_code == 200
    assert "no-store" not in cache_directives(response)
    assert "max-age" in response.get("Cache-Control", "")
