"""Separated duties: the Administrator runs the system and is no clinician.

Clinical decisions and records need a clinical role, checked by the views and
again by the services (any door: a view, the admin, a shell). A superuser is
an Administrator, no clinician, unless also put in a clinical group.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from care import decisions
from care.devices import NewPump, record_explant, record_implant
from core.roles import ADMINISTRATOR, NURSE, PHYSICIAN, user_roles
from pumps import services
from pumps.models import Drug, PumpModel, Refill, SchedulePolicy
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_superuser_is_an_administrator_and_no_clinician() -> None:
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    assert user_roles(root) == {ADMINISTRATOR}
    # A clinical role is given explicitly, as to anyone.
    lead = UserFactory(username="lead", is_superuser=True, roles=[PHYSICIAN])
    assert user_roles(lead) == {ADMINISTRATOR, PHYSICIAN}


def decisions_by(user: Any, objects: dict[str, Any]) -> dict[str, Callable[[], Any]]:
    """Each clinical decision or record, as its service is called, by ``user``."""
    today, now = timezone.localdate(), timezone.now()
    patient, pump = objects["patient"], objects["active_pump"]
    model = PumpModel.objects.get(code="synchromed_ii_20")
    replacing = NewPump(model=model, serial="NEW-1", implant_date=today)
    first_pump = NewPump(model=model, serial="NEW-2", implant_date=today)
    return {
        "sign-off": lambda: services.sign_off_discrepancy(
            refill=objects["discrepancy_refill"], user=user, comment="seen", now=now
        ),
        "trial decision": lambda: decisions.decide_trial(
            trial=objects["pending_trial"], decision="confirmed", user=user, now=now
        ),
        "replacement": lambda: record_explant(
            pump=pump,
            explant_date=today,
            reason="battery_end_of_life",
            today=today,
            new_pump=replacing,
            user=user,
        ),
        "implant": lambda: record_implant(
            patient=objects["patient_without_pump"], new_pump=first_pump, today=today, user=user
        ),
        "MRI": lambda: decisions.record_mri(
            patient=patient, scanned_on=today, today=today, now=now, user=user
        ),
        "complication": lambda: decisions.record_complication(
            patient=patient,
            occurred_on=today,
            kind="other",
            severity="mild",
            outcome="resolved",
            today=today,
            user=user,
        ),
        "entered in error": lambda: services.mark_refill_entered_in_error(
            refill=objects["refill"], user=user, reason="wrong patient", now=now
        ),
    }


@pytest.mark.parametrize(
    "decision",
    [
        "sign-off",
        "trial decision",
        "replacement",
        "implant",
        "MRI",
        "complication",
        "entered in error",
    ],
)
@pytest.mark.parametrize("who", ["administrator", "superuser", "nobody"])
def test_the_services_refuse_anyone_without_the_clinical_role(
    role_users: dict[str, Any], clinic_objects: dict[str, Any], decision: str, who: str
) -> None:
    user = {
        "administrator": role_users["administrator"],
        "superuser": UserFactory(username="root", is_staff=True, is_superuser=True),
        "nobody": None,
    }[who]
    with pytest.raises(PermissionDenied, match="Only a"):
        decisions_by(user, clinic_objects)[decision]()


@pytest.mark.parametrize("decision", ["sign-off", "trial decision"])
def test_a_nurse_makes_no_physicians_decision(
    role_users: dict[str, Any], clinic_objects: dict[str, Any], decision: str
) -> None:
    with pytest.raises(PermissionDenied, match="Only a physician"):
        decisions_by(role_users["nurse"], clinic_objects)[decision]()


def test_a_nurse_implants_replaces_and_corrects(
    role_users: dict[str, Any], clinic_objects: dict[str, Any]
) -> None:
    """Issue 14: nurses record implants, explants and replacements (the services
    ask for a clinical role, not the physician's)."""
    nurse = role_users["nurse"]
    done = decisions_by(nurse, clinic_objects)
    done["entered in error"]()
    assert Refill.objects.get(pk=clinic_objects["refill"].pk).is_entered_in_error
    old, new = done["replacement"]()
    assert (old.explant_date, new.serial) == (timezone.localdate(), "NEW-1")
    assert done["implant"]().patient == clinic_objects["patient_without_pump"]


def test_the_physician_decides(role_users: dict[str, Any], clinic_objects: dict[str, Any]) -> None:
    physician = role_users["physician"]
    for decide in decisions_by(physician, clinic_objects).values():
        decide()
    assert Refill.objects.get(pk=clinic_objects["discrepancy_refill"].pk).discrepancy_signed_off_by
    clinic_objects["pending_trial"].refresh_from_db()
    assert clinic_objects["pending_trial"].decided_by == physician


def test_an_administrator_given_the_physician_role_decides(
    role_users: dict[str, Any], clinic_objects: dict[str, Any]
) -> None:
    administrator = role_users["administrator"]
    administrator.groups.add(Group.objects.get(name=PHYSICIAN))
    administrator = type(administrator).objects.get(pk=administrator.pk)  # roles read afresh
    decisions_by(administrator, clinic_objects)["sign-off"]()


def test_the_administrators_clinical_form_is_refused_and_changes_nothing(
    client: Client, role_users: dict[str, Any], clinic_objects: dict[str, Any]
) -> None:
    refill = clinic_objects["discrepancy_refill"]
    client.force_login(role_users["administrator"])
    response = client.post(reverse("pumps:sign_off", args=[refill.pk]), {"comment": "fine"})
    assert response.status_code == 403
    refill.refresh_from_db()
    assert refill.discrepancy_signed_off_at is None
    # The pages that only read stay open to the administrator (and are in the view log).
    assert client.get(reverse("patients:review_queue")).status_code == 200
    assert b"Sign off</a>" not in client.get(reverse("patients:review_queue")).content


# --- The Django admin ------------------------------------------------------------------


def admin_url(model: Any, page: str, *args: Any) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{page}", args=args)


def test_the_administrator_reads_clinical_records_in_the_admin_but_changes_none(
    client: Client, role_users: dict[str, Any], clinic_objects: dict[str, Any]
) -> None:
    client.force_login(role_users["administrator"])
    refill, trial = clinic_objects["discrepancy_refill"], clinic_objects["pending_trial"]
    page = client.get(admin_url(Refill, "change", refill.pk))
    assert page.status_code == 200
    assert b'name="_save"' not in page.content  # read-only
    assert client.post(admin_url(Refill, "change", refill.pk), {"sign_off": "on"}).status_code == (
        403
    )
    assert client.post(admin_url(type(trial), "change", trial.pk), {}).status_code == 403
    assert client.get(admin_url(type(trial), "add")).status_code == 403
    pump = clinic_objects["active_pump"]
    assert client.post(admin_url(type(pump), "change", pump.pk), {}).status_code == 403


def test_the_administrator_runs_the_system_in_the_admin(
    client: Client, role_users: dict[str, Any]
) -> None:
    client.force_login(role_users["administrator"])
    index = client.get(reverse("admin:index")).content.decode()
    for model in ("auth/user", "auth/group", "pumps/drug", "pumps/schedulepolicy"):
        assert f"/admin/{model}/" in index, model
    for page in ("admin:auth_user_add", "admin:auth_group_add", "admin:pumps_drug_add"):
        assert client.get(reverse(page)).status_code == 200, page
    policy = client.get(admin_url(SchedulePolicy, "change", 1))
    assert b'name="_save"' in policy.content
    assert client.get(admin_url(Drug, "change", Drug.objects.first().pk)).status_code == 200
    assert client.get(reverse("admin:axes_accessattempt_changelist")).status_code == 200


def test_a_nurse_in_the_admin_corrects_but_signs_nothing_off(
    client: Client, clinic_objects: dict[str, Any]
) -> None:
    nurse = UserFactory(username="staff-nurse", roles=[NURSE], is_staff=True)
    client.force_login(nurse)
    refill = clinic_objects["discrepancy_refill"]
    page = client.get(admin_url(Refill, "change", refill.pk))
    assert b'name="_save"' in page.content
    assert b'name="sign_off"' not in page.content  # the physician's


def test_the_clinicians_have_no_system_pages(client: Client, role_users: dict[str, Any]) -> None:
    physician = UserFactory(username="staff-dr", roles=[PHYSICIAN], is_staff=True)
    client.force_login(physician)
    assert client.get(reverse("admin:auth_user_changelist")).status_code == 403
    assert client.get(reverse("admin:audit_auditentry_changelist")).status_code == 403
    assert client.get(admin_url(SchedulePolicy, "change", 1)).status_code == 200  # reads it
    assert b'name="_save"' not in client.get(admin_url(SchedulePolicy, "change", 1)).content
    assert client.get(reverse("audit:export")).status_code == 403


@pytest.mark.parametrize(
    ("role", "offered"), [("nurse", True), ("physician", True), ("administrator", False)]
)
def test_the_implant_link_is_offered_to_clinicians_only(
    client: Client,
    role_users: dict[str, Any],
    clinic_objects: dict[str, Any],
    role: str,
    offered: bool,
) -> None:
    """Nurses implant too (issue 14); the administrator is offered no clinical act."""
    trial = clinic_objects["pending_trial"]
    type(trial).objects.filter(pk=trial.pk).update(
        referred_for_implant=True, decision="confirmed", decided_at=timezone.now()
    )
    client.force_login(role_users[role])
    page = client.get(reverse("patients:trials")).content.decode()
    implant = reverse("pumps:implant", args=[trial.patient_id])
    assert (f'href="{implant}"' in page) is offered


# --- The roles read with the user (core.roles.StaffBackend) ----------------------------------


def test_the_signed_in_user_comes_with_its_roles_in_the_same_query(
    django_assert_num_queries: Any,
) -> None:
    from django.contrib.auth import get_user_model

    from core.roles import StaffBackend, user_with_roles

    lead = UserFactory(username="lead", is_superuser=True, roles=[PHYSICIAN, NURSE])
    UserFactory(username="other", roles=[ADMINISTRATOR])  # another user's groups count not
    with django_assert_num_queries(1):
        user = StaffBackend().get_user(lead.pk)
        assert user is not None
        assert user_roles(user) == {ADMINISTRATOR, PHYSICIAN, NURSE}
    # The same answer as the query of the groups (a user read any other way).
    for fresh in get_user_model().objects.all():
        read = user_with_roles(fresh.pk)
        assert read is not None
        assert read == fresh
        assert (read.username, read.is_active, read.password) == (
            fresh.username,
            fresh.is_active,
            fresh.password,
        )
        assert user_roles(read) == user_roles(fresh)
    assert user_with_roles(10**9) is None
    assert user_with_roles("not an id") is None
    assert user_with_roles(2**70) is None
    assert user_with_roles(-1) is None


def test_a_role_taken_away_counts_from_the_next_request(nurse_client: Client) -> None:
    worklist = reverse("pumps:worklist")
    assert nurse_client.get(worklist).status_code == 200
    user = nurse_client.session["_auth_user_id"]
    Group.objects.get(name=NURSE).user_set.remove(user)
    assert nurse_client.get(worklist).status_code == 403


def test_an_inactive_user_is_signed_out_as_before(nurse_client: Client) -> None:
    from django.contrib.auth import get_user_model

    user_id = nurse_client.session["_auth_user_id"]
    get_user_model().objects.filter(pk=user_id).update(is_active=False)
    response = nurse_client.get(reverse("pumps:worklist"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
