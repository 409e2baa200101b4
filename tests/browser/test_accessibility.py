"""Accessibility in a real browser (issue 14 item 8): axe-core's WCAG 2.1 A and
AA rules find nothing on any page, for any role.

Every staff page is opened as a nurse, a physician and an administrator (a
superuser, who also uses the admin's patient, pump and refill pages), with a
small clinic behind it: a patient with a pump, fills (one a discrepancy), a
booked visit, a trial, an MRI and a complication. Forms are also submitted
empty (their fields cleared, the browser's own checks off) so the page with
the field errors is checked too; the sign-in pages are checked signed out.

axe-core is vendored (tests/browser/vendor/axe-core/, version and licence
there) and injected into each page; the context bypasses the app's
Content-Security-Policy for that one script (test_content_security_policy.py
checks the policy itself). Each role's figures, per page and rule, go to
test-artifacts/axe/<role>.txt for the issue's note.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import time, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from care import services as patient_services
from care.choices import VisitKind
from care.models import Complication, MriScan, Trial
from core.roles import ADMINISTRATOR, NURSE, PHYSICIAN
from tests.browser.conftest import ARTIFACTS, CHROMIUM, DESKTOP
from tests.factories import PatientFactory, UserFactory, fill, make_pump

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
REPORTS = ARTIFACTS / "axe"
# Where a field error or a refused sign-in shows, so a "form with errors" page
# is known to show them (else the check would be of the blank form again).
ERROR_MARKERS = ".invalid-feedback, .errorlist, .alert-danger, .errornote, [aria-invalid=true]"


@dataclass(frozen=True)
class Page:
    name: str
    path: str
    submit_empty: bool = False  # clear the form's fields and submit it


@pytest.fixture
def clinic() -> dict[str, Any]:
    today = timezone.localdate()
    patient = PatientFactory(
        family_name="Okonkwo", given_name="Ada", phone="+1 555 0100", notes="Prefers mornings."
    )
    pump = make_pump(patient=patient, implant_date=today - timedelta(days=400))
    fill(pump, on=today - timedelta(days=60))
    refill = fill(pump, on=today - timedelta(days=20), residual_ml="5")  # a discrepancy
    visit = patient_services.book_visit(
        patient=patient, pump=pump, kind=VisitKind.REFILL, day=today, at=time(10), today=today
    )
    trial = Trial.objects.create(
        patient=PatientFactory(family_name="Lindgren", status="screening"),
        trial_date=today,
        method="single_bolus",
        drug=refill.drug,
        dose="1",
        dose_unit="mg",
        scale="pain_nrs",
        score_before="8",
        score_after="2",
    )
    scan = MriScan.objects.create(patient=patient, scanned_on=today)
    Complication.objects.create(
        patient=patient,
        pump=pump,
        occurred_on=today - timedelta(days=5),
        kind="other",
        severity="mild",
        notes="Pocket tender.",
    )
    no_pump = PatientFactory(family_name="Novak", given_name="Ivo")
    UserFactory(username="nurse", first_name="Nora", last_name="Reed", roles=[NURSE])
    UserFactory(username="physician", first_name="Thomas", last_name="Keller", roles=[PHYSICIAN])
    UserFactory(username="admin", roles=[ADMINISTRATOR], is_staff=True, is_superuser=True)
    return {
        "patient": patient,
        "no_pump": no_pump,
        "pump": pump,
        "refill": refill,
        "visit": visit,
        "trial": trial,
        "scan": scan,
    }


def staff_pages(clinic: dict[str, Any]) -> list[Page]:
    """Every page of web/patient_urls.py, web/pump_urls.py and accounts/urls.py that
    answers a GET with HTML, some also with their form's errors."""
    patient, pump, refill = clinic["patient"], clinic["pump"], clinic["refill"]
    p, visit = patient.pk, clinic["visit"].pk
    back = reverse("patients:appointments_day")
    return [
        Page("worklist", reverse("pumps:worklist")),
        Page("worklist filtered", reverse("pumps:worklist") + "?status=discrepancy"),
        Page("worklist print", reverse("pumps:worklist_print")),
        Page("pharmacy orders", reverse("pumps:pharmacy_orders")),
        Page("patient page", reverse("patients:detail", args=[p])),
        Page("patient summary", reverse("patients:summary", args=[p])),
        Page("timeline", reverse("patients:timeline", args=[p])),
        Page("book visit", reverse("patients:book_visit", args=[p])),
        Page("book visit, errors", reverse("patients:book_visit", args=[p]), submit_empty=True),
        Page("refill form", reverse("pumps:log_refill", args=[pump.pk])),
        Page("refill form, errors", reverse("pumps:log_refill", args=[pump.pk]), True),
        Page("refill saved", reverse("pumps:refill_saved", args=[refill.pk])),
        Page("day's visits", reverse("patients:appointments_day")),
        Page("week's visits", reverse("patients:appointments_week")),
        Page(
            "confirm missed",
            reverse("patients:set_visit_status", args=[visit]) + f"?status=missed&next={back}",
        ),
        Page(
            "confirm cancel",
            reverse("patients:set_visit_status", args=[visit]) + f"?status=cancelled&next={back}",
        ),
        Page("pump board", reverse("pumps:board")),
        Page("pump board filtered", reverse("pumps:board") + "?sort=-serial&drug=morphine"),
        Page("safe entry help", reverse("pumps:help_entry_safety")),
        Page("review queue", reverse("patients:review_queue")),
        Page("trials", reverse("patients:trials")),
        Page("decide trial", reverse("patients:decide_trial", args=[clinic["trial"].pk])),
        Page(
            "decide trial, errors",
            reverse("patients:decide_trial", args=[clinic["trial"].pk]),
            True,
        ),
        Page("record MRI", reverse("patients:record_mri", args=[p])),
        Page("record MRI, errors", reverse("patients:record_mri", args=[p]), True),
        Page("MRI checked", reverse("patients:mri_checked", args=[clinic["scan"].pk])),
        Page("complication", reverse("patients:record_complication", args=[p])),
        Page("complication, errors", reverse("patients:record_complication", args=[p]), True),
        Page(
            "entered in error",
            reverse("patients:entered_in_error", args=[p]) + f"?record=refill-{refill.pk}",
        ),
        Page(
            "entered in error, errors",
            reverse("patients:entered_in_error", args=[p]) + f"?record=refill-{refill.pk}",
            True,
        ),
        Page("sign off", reverse("pumps:sign_off", args=[refill.pk])),
        Page("sign off, errors", reverse("pumps:sign_off", args=[refill.pk]), True),
        Page("explant", reverse("pumps:explant", args=[pump.pk])),
        Page("explant, errors", reverse("pumps:explant", args=[pump.pk]), True),
        Page("implant", reverse("pumps:implant", args=[clinic["no_pump"].pk])),
        Page("implant, errors", reverse("pumps:implant", args=[clinic["no_pump"].pk]), True),
        Page("register patient", reverse("patients:register")),
        Page("register patient, errors", reverse("patients:register"), True),
        Page("two-step", reverse("accounts:two_step")),
        Page("two-step set up", reverse("accounts:two_step_setup")),
        Page("password change", reverse("accounts:password_change")),
        Page("password change, errors", reverse("accounts:password_change"), True),
        Page("password changed", reverse("accounts:password_change_done")),
        Page("not found", "/patients/999999/"),
    ]


def admin_pages(clinic: dict[str, Any]) -> list[Page]:
    """The admin pages staff use: the patient, pump and refill lists and forms."""
    patient, pump, refill = clinic["patient"], clinic["pump"], clinic["refill"]
    return [
        Page("admin index", "/admin/"),
        Page("admin patients", "/admin/patients/patient/"),
        Page("admin patients searched", "/admin/patients/patient/?q=Okonkwo"),
        Page("admin patient", f"/admin/patients/patient/{patient.pk}/change/"),
        Page("admin patient history", f"/admin/patients/patient/{patient.pk}/history/"),
        Page("admin add patient", "/admin/patients/patient/add/"),
        Page("admin add patient, errors", "/admin/patients/patient/add/", True),
        Page("admin pumps", "/admin/pumps/pump/"),
        Page("admin pump", f"/admin/pumps/pump/{pump.pk}/change/"),
        Page("admin refills", "/admin/pumps/refill/"),
        Page("admin refill", f"/admin/pumps/refill/{refill.pk}/change/"),
        Page("admin refill history", f"/admin/pumps/refill/{refill.pk}/history/"),
        Page("admin visits", "/admin/care/appointment/"),
        Page("admin trials", "/admin/care/trial/"),
    ]


def signed_out_pages() -> list[Page]:
    return [
        Page("sign in", reverse("login")),
        Page("sign in, refused", reverse("login"), True),
        Page("password reset", reverse("accounts:password_reset")),
        Page("password reset sent", reverse("accounts:password_reset_done")),
        Page("password reset, bad link", "/accounts/password/reset/MQ/bad-token/"),
        Page("admin sign in", "/admin/login/"),
    ]


@pytest.fixture
def axe_page(browser, live_server) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    # bypass_csp: the policy allows no injected script, and axe is one.
    context = browser.new_context(viewport=DESKTOP, base_url=live_server.url, bypass_csp=True)
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


def sign_in(page: Any, username: str) -> None:
    from tests.factories import TEST_PASSWORD

    page.goto(reverse("login"))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def submit_empty(page: Any) -> None:
    """Clear the page's main form and send it, past the browser's own checks."""
    form = page.locator("main form[method=post], #content form[method=post]").last
    form.evaluate(
        """form => {
          form.noValidate = true;
          for (const field of form.elements) {
            if (field.type === 'hidden' || field.type === 'submit' || field.type === 'button') continue;
            if (field.type === 'checkbox' || field.type === 'radio') { field.checked = false; continue; }
            if (field.tagName === 'SELECT') { field.selectedIndex = field.multiple ? -1 : 0; continue; }
            field.value = '';
          }
        }"""
    )
    with page.expect_navigation():
        form.evaluate(
            "form => { const b = form.querySelector('[type=submit]:not([name=_addanother]):not([name=_continue])'); form.requestSubmit(b); }"
        )


def axe_violations(page: Any) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(AXE))
    violations: list[dict[str, Any]] = page.evaluate(
        """async tags => {
          const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
          return result.violations.map(v => ({
            id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map(n => ({target: n.target.join(' '), summary: n.failureSummary})),
          }));
        }""",
        WCAG_TAGS,
    )
    return violations


def check(page: Any, pages: list[Page]) -> dict[str, list[dict[str, Any]]]:
    """axe's violations per page, each page opened (and its form sent) in turn."""
    found: dict[str, list[dict[str, Any]]] = {}
    for entry in pages:
        response = page.goto(entry.path)
        assert response is not None, entry.path
        assert response.status < 500, f"{entry.name}: {response.status}"
        if entry.submit_empty and response.status == 200:  # not a role's 403
            submit_empty(page)
            assert page.locator(ERROR_MARKERS).count() > 0, f"{entry.name}: no error shown"
        page.wait_for_load_state("load")
        found[entry.name] = axe_violations(page)
    return found


def report(role: str, found: dict[str, list[dict[str, Any]]], paths: dict[str, str]) -> str:
    REPORTS.mkdir(parents=True, exist_ok=True)
    per_rule: Counter[str] = Counter()
    lines = [f"axe-core {AXE_VERSION}, tags {' '.join(WCAG_TAGS)}, role {role}", ""]
    for name, violations in found.items():
        nodes = sum(len(v["nodes"]) for v in violations)
        lines.append(f"{name} ({paths[name]}): {len(violations)} rules, {nodes} nodes")
        for v in violations:
            per_rule[v["id"]] += len(v["nodes"])
            lines.append(f"  {v['id']} ({v['impact']}): {len(v['nodes'])} nodes")
            lines.extend(f"    {n['target']}" for n in v["nodes"][:5])
    pages_failing = sum(1 for v in found.values() if v)
    lines[1:1] = [
        f"pages {len(found)}, pages with violations {pages_failing}, "
        f"nodes {sum(per_rule.values())}",
        "per rule (nodes, summed over pages): "
        + (", ".join(f"{rule} {n}" for rule, n in per_rule.most_common()) or "none"),
    ]
    text = "\n".join(lines) + "\n"
    (REPORTS / f"{role}.txt").write_text(text)
    (REPORTS / f"{role}.json").write_text(json.dumps(found, indent=1))
    return text


AXE_VERSION = AXE.read_text()[:40].split("axe v", 1)[-1].split()[0] if AXE.exists() else "?"

ROLES: dict[str, Callable[[dict[str, Any]], list[Page]]] = {
    "nurse": staff_pages,
    "physician": staff_pages,
    "admin": lambda clinic: staff_pages(clinic) + admin_pages(clinic),
    "signed-out": lambda clinic: signed_out_pages(),
}


@pytest.mark.parametrize("role", list(ROLES))
def test_no_wcag_21_aa_violations(axe_page, clinic, role) -> None:  # type: ignore[no-untyped-def]
    assert Path(CHROMIUM).exists()
    pages = ROLES[role](clinic)
    if role != "signed-out":
        sign_in(axe_page, role)
    found = check(axe_page, pages)
    text = report(role, found, {entry.name: entry.path for entry in pages})
    assert not any(found.values()), text
