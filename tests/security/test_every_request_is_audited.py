"""Every URL pattern x every method x every role: refused, or recorded in the view log.

Walks every URL pattern the project answers (the staff pages, the audit
export and every page of the Django admin, named or not), fills its ids with
real records, and sends each of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS
and TRACE as each role. Each answer must be

- a refusal: a redirect to a sign-in page, 400, 403, 404 or 405; or
- recorded: exactly one new audit entry, for this user, this path, this method
  and this status; or
- a page that shows no patient data, as ``audit.registry`` lists them (the
  sign-in page, the health checks, the admin's pages for users, catalogue,
  policy and sign-in attempts).

And every view declares its methods: PUT, PATCH, DELETE, OPTIONS and TRACE are
405 everywhere, before any role check.

POST bodies are empty: each form comes back with its errors, nothing is
saved, and the walk goes on over the same records.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.apps import apps
from django.contrib.auth.models import Group, User
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import resolve, reverse
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_q.models import OrmQ, Schedule, Task

from audit.models import AuditEntry
from audit.registry import is_recorded
from care.models import Complication, ContactAttempt
from core.roles import PHYSICIAN
from feeds.models import FeedToken
from outreach.models import MessageTemplate
from patients.models import Patient
from pumps.models import DoseAdjustment
from tests.factories import UserFactory
from tests.security.conftest import ROLES
from tests.security.test_access_matrix import MATRIX, url_patterns

pytestmark = pytest.mark.django_db

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")
UNSERVED = {"PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"}  # no page of the app serves these
REFUSED = {400, 403, 404, 405}
# The four roles; a physician who may also enter the Django admin (the only one
# who can send its clinical forms); the superuser an installation is set up with.
WALKERS = (*ROLES, "staff_physician", "superuser")

# Query strings that take a page past its "which record?" refusal to the page itself.
QUERIES = {
    "patients:entered_in_error": "?record=refill-{refill}",
    "patients:restore_record": "?record=refill-{refill}",
    "audit:export": "?start={month_ago}&end={today}&mrn=SEC0001",
    "admin:autocomplete": "?app_label=care&model_name=trial&field_name=patient&term=SEC",
}
NO_PAGE = "/admin/no-such-page/"  # the admin's catch-all (a 404, or 405 by method)
ROUTE_VALUE = re.compile(r"<(?:\w+:)?(\w+)>")


@pytest.fixture
def every_kind(clinic_objects: dict[str, Any], role_users: dict[str, Any]) -> dict[str, Any]:
    """A record of every model an admin page can name, beside the access matrix's clinic."""
    today = timezone.localdate()
    patient, pump = clinic_objects["patient"], clinic_objects["active_pump"]
    Complication.objects.create(
        patient=patient,
        pump=pump,
        occurred_on=today,
        kind="other",
        severity="mild",
        outcome="resolved",
    )
    DoseAdjustment.objects.create(pump=pump, adjusted_on=today, daily_dose=4, dose_unit="mg/day")
    ContactAttempt.objects.create(
        patient=patient,
        pump=pump,
        attempted_at=timezone.now(),
        channel="call",
        outcome="no_answer",
    )
    FeedToken.objects.create(user=role_users["nurse"], scope="mine", token_hash="0" * 64)
    AuditEntry.objects.create(username="someone", view_name="x", what="y", path="/")
    now = timezone.now()
    for success in (True, False):  # the admin's Success and Failure pages
        Task.objects.create(
            id=f"{success:d}" * 32,
            name=f"job{success:d}",
            func="math.floor",
            started=now,
            stopped=now,
            success=success,
        )
    Schedule.objects.create(func="math.floor")
    MessageTemplate.objects.create(
        kind="visit_reminder", channel="sms", body="{clinic_name}: {date} {time}"
    )
    OrmQ.objects.create(key="default", payload="x", lock=now)
    seen = {"user_agent": "test", "ip_address": "10.0.0.9", "http_accept": "*/*", "path_info": "/"}
    AccessAttempt.objects.create(
        username="nobody", get_data="", post_data="", failures_since_start=1, **seen
    )
    AccessLog.objects.create(username="nobody", **seen)
    AccessFailureLog.objects.create(username="nobody", **seen)
    owner = role_users["nurse"]
    TOTPDevice.objects.create(user=owner, name="app", confirmed=False)  # not on: no code asked
    StaticDevice.objects.create(user=owner, name="backup", confirmed=False)
    return clinic_objects


def first(model: Any) -> Any:
    found = model._default_manager.order_by("pk").first()
    assert found is not None, f"the fixture has no {model._meta.label}"
    return found


def admin_model(route: str) -> Any:
    """The model of an admin route: admin/<app_label>/<model_name>/..."""
    app_label, model_name = route.split("/")[1:3]
    return apps.get_model(app_label, model_name)


def url_of(name: str, route: str, objects: dict[str, Any]) -> str:
    """A URL for the pattern, with real ids, and the query its page needs."""
    today = timezone.localdate()
    query = QUERIES.get(name, "").format(
        refill=objects["refill"].pk, today=today, month_ago=today - timedelta(days=30)
    )
    if name in MATRIX:
        spec = MATRIX[name][0]
        return reverse(name, kwargs={key: objects[value].pk for key, value in spec.items()}) + query
    if "(?P<app_label>" in route:
        return reverse("admin:app_list", kwargs={"app_label": "patients"})
    if "(?P<url>" in route:
        return "/admin/no-such-page/"
    if name.endswith("_simple_history"):
        record = first(admin_model(route))
        # Shipped catalogue rows have no history yet: that page is a 404 then.
        version = record.history.order_by("pk").first()
        return reverse(name, args=[record.pk, version.history_id if version else 1])
    if name == "admin:view_on_site":  # the admin's link to a patient's page
        content_type = ContentType.objects.get_for_model(Patient)
        return reverse(name, args=[content_type.pk, objects["patient"].pk])
    values: dict[str, Any] = {}
    for key in ROUTE_VALUE.findall(route):
        if key in ("object_id", "pk"):  # "pk": django-otp's device pages
            values[key] = first(admin_model(route)).pk
        elif key == "id":  # a user's password page
            values[key] = first(User).pk
    if name:
        return reverse(name, kwargs=values) + query
    path = ROUTE_VALUE.sub(lambda found: str(values[found.group(1)]), route)
    return f"/{path}{query}"


def all_urls(objects: dict[str, Any]) -> list[tuple[str, str]]:
    return [(name, url_of(name, route, objects)) for name, route, _ in url_patterns()]


def is_refusal(response: Any) -> bool:
    if response.status_code in REFUSED:
        return True
    if response.status_code in (301, 302):
        return response["Location"].startswith((reverse("login"), reverse("admin:login")))
    return False


def walker(role: str, role_users: dict[str, Any]) -> Any:
    if role == "superuser":
        # As `createsuperuser` makes one: no group, so no clinical role.
        return UserFactory(username="sec-root", is_staff=True, is_superuser=True)
    if role == "staff_physician":
        return UserFactory(username="sec-staff-dr", roles=[PHYSICIAN], is_staff=True)
    return role_users[role]


def test_every_url_is_walked(every_kind: dict[str, Any]) -> None:
    """The walk covers the whole URL table (a failure here names a URL it cannot build)."""
    urls = all_urls(every_kind)
    assert len(urls) == len(list(url_patterns()))
    assert any(url.startswith("/admin/pumps/historicalrefill/") for _, url in urls)
    assert Group.objects.exists()


@pytest.mark.parametrize("role", WALKERS)
def test_every_request_is_refused_or_recorded(
    role: str, role_users: dict[str, Any], every_kind: dict[str, Any]
) -> None:
    user = walker(role, role_users)
    client = Client()
    gaps: list[str] = []
    recorded = 0
    if user is not None:
        client.force_login(user)
    for name, url in all_urls(every_kind):
        view_name = resolve(urlsplit(url).path).view_name
        for method in METHODS:
            before = AuditEntry.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
            response = client.generic(method, url)
            new = list(AuditEntry.objects.filter(pk__gt=before))
            if user is not None and not response.wsgi_request.user.is_authenticated:
                client.force_login(user)  # signed out (the sign-out page): back in
            label = f"{method} {url} as {role} ({name or 'unnamed'}): {response.status_code}"
            if method in UNSERVED:
                if response.status_code != 405:
                    gaps.append(f"{label}, expected 405: the view must declare its methods")
                continue
            if is_refusal(response) or not is_recorded(view_name):
                continue
            if len(new) != 1:
                gaps.append(f"{label}, but {len(new)} audit entries")
                continue
            entry = new[0]
            recorded += 1
            if (entry.user_id, entry.method, entry.status) != (
                user.pk,
                method,
                response.status_code,
            ):
                gaps.append(f"{label}: recorded as {entry.user_id} {entry.method} {entry.status}")
            if entry.path != url:
                gaps.append(f"{label}: recorded the path {entry.path}")
    assert not gaps, f"{len(gaps)} gaps:\n" + "\n".join(gaps)
    if role == "anonymous":
        assert recorded == 0
    else:
        assert recorded > 0  # the role reaches some page of patient data
