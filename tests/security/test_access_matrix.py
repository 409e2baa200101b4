# ruff: noqa: E501  (the access table reads one row per line, however long)
"""Who may open which page: every URL pattern of the project, for every role.

HOW TO ADD A ROW: a new URL name makes ``test_every_url_pattern_has_a_row``
fail. Add one line to ``MATRIX`` below:

    "app:url_name": ({"kwarg": "object"}, anonymous, nurse, physician, administrator),

where each answer is one of OK (200), SIGN_IN (redirect to the sign-in page),
FORBIDDEN (403), NOT_ALLOWED (405: a GET on a POST-only page), REDIRECT
(any other redirect) or NOT_FOUND (404). ``{"pk": "patient"}`` fills the URL's
``pk`` with the id of a record from ``clinic_objects`` in
tests/security/conftest.py (add a record there if the page needs a new kind).
A URL with ids is also requested with ids that do not exist: a role that
would see the page gets 404, never data. The administrator is staff in the
Administrator group, as the demo clinic makes them: no clinician (separated
duties, core/roles.py), so every clinical form and decision is a 403.

Every method of every URL, and whether each answer is recorded in the view
log, is tests/security/test_every_request_is_audited.py.

The admin is one family: its many generated URLs are covered by a few
representative rows in ``ADMIN_MATRIX``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from pumps import services
from tests.security.conftest import ROLES

pytestmark = pytest.mark.django_db

OK = "200 page"
SIGN_IN = "redirect to sign-in"
ADMIN_SIGN_IN = "redirect to the admin's sign-in"
REDIRECT = "other redirect"
FORBIDDEN = "403"
NOT_FOUND = "404"
NOT_ALLOWED = "405"

Row = tuple[dict[str, str], str, str, str, str]

# fmt: off
MATRIX: dict[str, Row] = {
    # url name: (url kwargs -> clinic_objects key, anonymous, nurse, physician, administrator)
    "login": ({}, OK, REDIRECT, REDIRECT, REDIRECT),
    "logout": ({}, NOT_ALLOWED, NOT_ALLOWED, NOT_ALLOWED, NOT_ALLOWED),
    "healthz": ({}, OK, OK, OK, OK),  # the proxy's liveness probe: no sign-in, no data
    "healthz_db": ({}, OK, OK, OK, OK),  # the readiness probe: asks the database, no data
    "pumps:worklist": ({}, SIGN_IN, OK, OK, OK),
    # Clinical forms: nurses and physicians; the administrator is no clinician.
    "pumps:log_refill": ({"pk": "active_pump"}, SIGN_IN, OK, OK, FORBIDDEN),
    "pumps:refill_saved": ({"pk": "refill"}, SIGN_IN, OK, OK, OK),
    "pumps:due_list_json": ({}, SIGN_IN, OK, OK, OK),
    "patients:detail": ({"pk": "patient"}, SIGN_IN, OK, OK, OK),
    "patients:book_visit": ({"pk": "patient"}, SIGN_IN, OK, OK, FORBIDDEN),
    "patients:appointments_day": ({}, SIGN_IN, OK, OK, OK),
    "patients:appointments_week": ({}, SIGN_IN, OK, OK, OK),
    # GET asks before Missed or Cancel (issue 14); a GET without one of them is a 405.
    "patients:set_visit_status": ({"pk": "appointment"}, SIGN_IN, NOT_ALLOWED, NOT_ALLOWED, FORBIDDEN),
    # The physician's review (issue 4): everyone reads, only physicians decide.
    "pumps:board": ({}, SIGN_IN, OK, OK, OK),
    # What was sent (issue 15): staff pages; the SMS provider's webhook (POST only,
    # signed) and the email's unsubscribe link (a signed token: a wrong one is a 400 page).
    "outreach:outbox": ({}, SIGN_IN, OK, OK, OK),
    "outreach:patient_messages": ({"pk": "patient"}, SIGN_IN, OK, OK, OK),
    "outreach:task_done": ({"pk": "patient"}, NOT_ALLOWED, NOT_ALLOWED, NOT_ALLOWED, NOT_ALLOWED),
    "outreach:sms_inbound": ({}, NOT_ALLOWED, NOT_ALLOWED, NOT_ALLOWED, NOT_ALLOWED),
    "outreach:unsubscribe": ({"token": "patient"}, "400", "400", "400", "400"),
    "pumps:help_entry_safety": ({}, SIGN_IN, OK, OK, OK),
    "pumps:board_csv": ({}, SIGN_IN, OK, OK, OK),
    "patients:review_queue": ({}, SIGN_IN, OK, OK, OK),
    "patients:trials": ({}, SIGN_IN, OK, OK, OK),
    "patients:timeline": ({"pk": "patient"}, SIGN_IN, OK, OK, OK),
    # Print-outs and the pharmacy order (issue 14): every staff role reads them.
    "patients:summary": ({"pk": "patient"}, SIGN_IN, OK, OK, OK),
    "pumps:worklist_print": ({}, SIGN_IN, OK, OK, OK),
    "pumps:pharmacy_orders": ({}, SIGN_IN, OK, OK, OK),
    "pumps:pharmacy_orders_csv": ({}, SIGN_IN, OK, OK, OK),
    "patients:decide_trial": ({"pk": "pending_trial"}, SIGN_IN, FORBIDDEN, OK, FORBIDDEN),
    "pumps:sign_off": ({"pk": "discrepancy_refill"}, SIGN_IN, FORBIDDEN, OK, FORBIDDEN),
    # Issue 14: nurses implant, explant and replace too (and register patients);
    # the administrator is no clinician.
    "pumps:explant": ({"pk": "active_pump"}, SIGN_IN, OK, OK, FORBIDDEN),
    "pumps:implant": ({"pk": "patient_without_pump"}, SIGN_IN, OK, OK, FORBIDDEN),
    "patients:register": ({}, SIGN_IN, OK, OK, FORBIDDEN),
    "patients:record_mri": ({"pk": "patient"}, SIGN_IN, FORBIDDEN, OK, FORBIDDEN),
    "patients:mri_checked": ({"pk": "mri_scan"}, SIGN_IN, FORBIDDEN, OK, FORBIDDEN),
    "patients:record_complication": ({"pk": "patient"}, SIGN_IN, FORBIDDEN, OK, FORBIDDEN),
    # Correcting the record (clinical-rules.md 9): nurses and physicians. The
    # record is named by ?record=<kind>-<id>; without one the page is a 404
    # (test_correction_pages_by_role below requests a real record).
    "patients:entered_in_error": ({"pk": "patient"}, SIGN_IN, NOT_FOUND, NOT_FOUND, FORBIDDEN),
    "patients:restore_record": ({"pk": "patient"}, SIGN_IN, NOT_FOUND, NOT_FOUND, FORBIDDEN),
    # The audit log's CSV export: administrators only.
    "audit:export": ({}, SIGN_IN, FORBIDDEN, FORBIDDEN, OK),
    # The patient picker (issue 14): the search page and its JSON, every staff role.
    "patients:find": ({}, SIGN_IN, OK, OK, OK),
    "patients:find_json": ({}, SIGN_IN, OK, OK, OK),
    # Contact attempts (issue 15): nurses and physicians; the administrator is no clinician.
    "patients:contact_attempt": ({"pk": "patient"}, SIGN_IN, OK, OK, FORBIDDEN),
    # Calendar feeds (issue 15): every staff member manages their own; revoking is a POST.
    # The feed needs no sign-in: its secret address is the key, and a wrong one is a 404.
    "feeds:manage": ({}, SIGN_IN, OK, OK, OK),
    "feeds:revoke": ({"pk": "patient"}, NOT_ALLOWED, NOT_ALLOWED, NOT_ALLOWED, NOT_ALLOWED),
    "feeds:calendar": ({"token": "patient"}, NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND),
    # Two-step sign-in and passwords (issue 13): every signed-in user manages their own;
    # these users have no app, so the pages about one send them back (tests/accounts).
    "accounts:two_step": ({}, SIGN_IN, OK, OK, OK),
    "accounts:two_step_setup": ({}, SIGN_IN, OK, OK, OK),
    "accounts:two_step_verify": ({}, SIGN_IN, REDIRECT, REDIRECT, REDIRECT),
    "accounts:recovery_codes": ({}, SIGN_IN, REDIRECT, REDIRECT, REDIRECT),
    "accounts:two_step_remove": ({}, SIGN_IN, REDIRECT, REDIRECT, REDIRECT),
    "accounts:password_change": ({}, SIGN_IN, OK, OK, OK),
    "accounts:password_change_done": ({}, SIGN_IN, OK, OK, OK),
    "accounts:password_reset": ({}, OK, OK, OK, OK),
    "accounts:password_reset_done": ({}, OK, OK, OK, OK),
    # A made-up link: the page says it does not work (SIGNED_LINKS below).
    "accounts:password_reset_confirm": ({"uidb64": "patient", "token": "patient"}, OK, OK, OK, OK),
    "accounts:password_reset_complete": ({}, OK, OK, OK, OK),
}

ADMIN_MATRIX: dict[str, Row] = {
    "admin:index": ({}, ADMIN_SIGN_IN, ADMIN_SIGN_IN, ADMIN_SIGN_IN, OK),
    "admin:login": ({}, OK, OK, OK, REDIRECT),
    "admin:patients_patient_changelist": ({}, ADMIN_SIGN_IN, ADMIN_SIGN_IN, ADMIN_SIGN_IN, OK),
    "admin:patients_patient_change": ({"object_id": "patient"}, ADMIN_SIGN_IN, ADMIN_SIGN_IN, ADMIN_SIGN_IN, OK),
    "admin:pumps_refill_history": ({"object_id": "refill"}, ADMIN_SIGN_IN, ADMIN_SIGN_IN, ADMIN_SIGN_IN, OK),
    "admin:audit_auditentry_changelist": ({}, ADMIN_SIGN_IN, ADMIN_SIGN_IN, ADMIN_SIGN_IN, OK),
    "admin:audit_auditentry_add": ({}, ADMIN_SIGN_IN, ADMIN_SIGN_IN, ADMIN_SIGN_IN, FORBIDDEN),
    "admin:pumps_historicalrefill_changelist": ({}, ADMIN_SIGN_IN, ADMIN_SIGN_IN, ADMIN_SIGN_IN, OK),
    "admin:pumps_historicalrefill_add": ({}, ADMIN_SIGN_IN, ADMIN_SIGN_IN, ADMIN_SIGN_IN, FORBIDDEN),
    "admin:axes_accessattempt_changelist": ({}, ADMIN_SIGN_IN, ADMIN_SIGN_IN, ADMIN_SIGN_IN, OK),
}
# fmt: on

MISSING_ID = 987654321


def url_patterns(
    patterns: list[Any] | None = None, namespace: str = "", prefix: str = ""
) -> Iterator[tuple[str, str, str]]:
    """(name with namespaces, route, namespace) of every pattern the project answers."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from url_patterns(pattern.url_patterns, inner, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            name = f"{namespace}{pattern.name}" if pattern.name else ""
            yield name, prefix + str(pattern.pattern), namespace


def is_admin(namespace: str) -> bool:
    """The admin site's namespace: its generated URLs are one family."""
    return namespace.startswith("admin:")


def test_every_url_pattern_has_a_row() -> None:
    missing = [
        f"{name or '(unnamed)'} at /{route}"
        for name, route, namespace in url_patterns()
        if not is_admin(namespace) and name not in MATRIX
    ]
    assert not missing, (
        "These URL patterns have no row in tests/security/test_access_matrix.py MATRIX; "
        "add one line for each (see the comment at the top of that file): " + ", ".join(missing)
    )


def test_every_row_names_a_url_pattern() -> None:
    names = {name for name, _, _ in url_patterns()}
    stale = sorted((set(MATRIX) | set(ADMIN_MATRIX)) - names)
    assert not stale, f"Rows for URL names that no longer exist; remove them: {stale}"


def login_as(client: Client, user: Any) -> Client:
    if user is not None:
        client.force_login(user)
    return client


def answer(response: Any) -> str:
    """What the user got, in the matrix's words."""
    if response.status_code in (301, 302):
        location = response["Location"]
        if location.startswith(reverse("login")):
            return SIGN_IN
        if location.startswith(reverse("admin:login")):
            return ADMIN_SIGN_IN
        return REDIRECT
    return {200: OK, 403: FORBIDDEN, 404: NOT_FOUND, 405: NOT_ALLOWED}.get(
        response.status_code, str(response.status_code)
    )


def resolve_kwargs(spec: dict[str, str], objects: dict[str, Any]) -> dict[str, Any]:
    return {kwarg: objects[key].pk for kwarg, key in spec.items()}


ALL_ROWS = {**MATRIX, **ADMIN_MATRIX}
CASES = [(name, role) for name in ALL_ROWS for role in ROLES]


@pytest.mark.parametrize(("name", "role"), CASES, ids=[f"{n}-{r}" for n, r in CASES])
def test_role_gets_the_expected_answer(
    client: Client, role_users: dict[str, Any], clinic_objects: dict[str, Any], name: str, role: str
) -> None:
    spec, *expected = ALL_ROWS[name]
    url = reverse(name, kwargs=resolve_kwargs(spec, clinic_objects))
    response = login_as(client, role_users[role]).get(url)
    assert answer(response) == expected[ROLES.index(role)], f"GET {url} as {role}"


# URLs whose arguments are a signed link, not record ids: a wrong one is answered
# with a page saying the link does not work (tests/accounts/test_passwords.py).
SIGNED_LINKS = {"accounts:password_reset_confirm", "outreach:unsubscribe"}
ID_CASES = [
    (name, role)
    for name, (spec, *_) in MATRIX.items()
    if spec and name not in SIGNED_LINKS
    for role in ROLES
]


@pytest.mark.parametrize(("name", "role"), ID_CASES, ids=[f"{n}-{r}" for n, r in ID_CASES])
def test_ids_that_do_not_exist_give_404_never_data(
    client: Client, role_users: dict[str, Any], clinic_objects: dict[str, Any], name: str, role: str
) -> None:
    """A role that would see the page gets 404; one that would not keeps its answer."""
    spec, *expected_by_role = MATRIX[name]
    expected = expected_by_role[ROLES.index(role)]
    url = reverse(name, kwargs=dict.fromkeys(spec, MISSING_ID))
    response = login_as(client, role_users[role]).get(url)
    assert answer(response) == (NOT_FOUND if expected == OK else expected), f"GET {url} as {role}"
    assert clinic_objects["patient"].mrn.encode() not in response.content


def test_an_explanted_pump_takes_no_refill(
    client: Client, role_users: dict[str, Any], clinic_objects: dict[str, Any]
) -> None:
    url = reverse("pumps:log_refill", args=[clinic_objects["explanted_pump"].pk])
    response = login_as(client, role_users["nurse"]).get(url)
    # Not a bare 404: the page says what happened (a stale link or form, issue 12).
    assert response.status_code == 200
    assert "was explanted on" in response.content.decode()
    assert b'name="volume_ml"' not in response.content  # and offers no form to fill


@pytest.mark.parametrize("role", ["nurse", "physician"])
def test_post_only_pages_refuse_a_missing_id_with_404(
    client: Client, role_users: dict[str, Any], clinic_objects: dict[str, Any], role: str
) -> None:
    url = reverse("patients:set_visit_status", args=[MISSING_ID])
    response = login_as(client, role_users[role]).post(url, {"status": "done"})
    assert response.status_code == 404


@pytest.mark.parametrize(("name", "key"), [("pumps:sign_off", "refill")])
def test_a_record_not_eligible_for_the_page_is_a_404(
    client: Client, role_users: dict[str, Any], clinic_objects: dict[str, Any], name: str, key: str
) -> None:
    """A refill without a residual discrepancy has nothing to sign off."""
    client.force_login(role_users["physician"])
    assert client.get(reverse(name, args=[clinic_objects[key].pk])).status_code == 404


# The administrator reads the record but corrects nothing.
CORRECTION_ROLES = [
    ("anonymous", SIGN_IN),
    ("nurse", OK),
    ("physician", OK),
    ("administrator", FORBIDDEN),
]


@pytest.mark.parametrize(
    ("name", "marked"), [("patients:entered_in_error", False), ("patients:restore_record", True)]
)
@pytest.mark.parametrize(("role", "expected"), CORRECTION_ROLES)
def test_correction_pages_by_role(
    client: Client,
    role_users: dict[str, Any],
    clinic_objects: dict[str, Any],
    name: str,
    marked: bool,
    role: str,
    expected: str,
) -> None:
    refill, patient = clinic_objects["refill"], clinic_objects["patient"]
    if marked:
        services.mark_refill_entered_in_error(
            refill=refill, user=role_users["nurse"], reason="x", now=timezone.now()
        )
    url = reverse(name, args=[patient.pk]) + f"?record=refill-{refill.pk}"
    assert answer(login_as(client, role_users[role]).get(url)) == expected, f"GET {url} as {role}"
    # The POST answers the same, and only the allowed roles change anything.
    response = client.post(url, {"record": f"refill-{refill.pk}", "reason": "check"})
    refill.refresh_from_db()
    if expected == OK:
        assert answer(response) == REDIRECT
        assert refill.is_entered_in_error is not marked
    else:
        assert answer(response) == expected
        assert refill.is_entered_in_error is marked
