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
from typing import Any, cast
from urllib.parse import urlsplit

import pytest
from django.urls import resolve, reverse
from django.utils import timezone

from care import services as patient_services
from care.choices import VisitKind
from care.models import Complication, MriScan, Trial
from core.roles import ADMINISTRATOR, NURSE, PHYSICIAN
from outreach.outbox import unsubscribe_token
from patients.models import Patient
from tests.browser.conftest import ARTIFACTS, CHROMIUM, DESKTOP
from tests.factories import PatientFactory, UserFactory, fill, make_pump
from tests.security.test_access_matrix import url_patterns

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
REPORTS = ARTIFACTS / "axe"
# Where a field error or a refused sign-in shows, so a "form with errors" page
# is known to show them (else the check would be of the blank form again).
ERROR_MARKERS = ".invalid-feedback, .errorlist, .alert-danger, .errornote, [aria-invalid=true]"


# factory_boy's factories return the model; mypy sees the factory class.
new_patient = cast(Callable[..., Patient], PatientFactory)


@dataclass(frozen=True)
class Page:
    name: str
    path: str
    submit_empty: bool = False  # clear the form's fields and submit it


@pytest.fixture
def clinic() -> dict[str, Any]:
    today = timezone.localdate()
    patient = new_patient(
        family_name="Okonkwo", given_name="Ada", phone="+1 555 0100", notes="Prefers mornings."
    )
    pump = make_pump(patient=patient, implant_date=today - timedelta(days=400))
    fill(pump, on=today - timedelta(days=60))
    refill = fill(pump, on=today - timedelta(days=20), residual_ml="5")  # a discrepancy
    visit = patient_services.book_visit(
        patient=patient, pump=pump, kind=VisitKind.REFILL, day=today, at=time(10), today=today
    )
    trial = Trial.objects.create(
        patient=new_patient(family_name="Lindgren", status="screening"),
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
    # The worklist's other rows: a pump past its refill deadline (an urgent row)
    # and one whose last fill noted the battery's elective replacement indicator.
    overdue = make_pump(
        patient=new_patient(family_name="Brandt", phone="+44 20 7946 0018"),
        implant_date=today - timedelta(days=700),
    )
    fill(overdue, on=today - timedelta(days=160))
    eri = make_pump(
        patient=new_patient(family_name="Sato"), implant_date=today - timedelta(days=2500)
    )
    fill(eri, on=today - timedelta(days=30), eri=True)
    no_pump = new_patient(family_name="Novak", given_name="Ivo")
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
        Page("find patient", reverse("patients:find")),
        Page("find patient, results", reverse("patients:find") + "?q=Ok"),
        Page("contact attempts", reverse("patients:contact_attempt", args=[p])),
        Page("contact attempts, errors", reverse("patients:contact_attempt", args=[p]), True),
        Page("calendar feeds", reverse("feeds:manage")),
        Page("audit export", reverse("audit:export")),
        Page("outbox", reverse("outreach:outbox")),
        Page("outbox, filter errors", reverse("outreach:outbox") + "?day=2026-02-31&state=nope"),
        Page("patient messages", reverse("outreach:patient_messages", args=[p])),
        Page("not found", "/patients/999999/"),
    ]


# Named pages of the staff's URL files that are not HTML pages a person reads:
# exports, the calendar feed, POST-only actions, and steps that only redirect.
NOT_HTML_PAGES = {
    "patients:find_json",  # the picker's JSON
    "pumps:due_list_json",
    "pumps:board_csv",
    "pumps:pharmacy_orders_csv",
    "feeds:calendar",  # iCalendar
    "feeds:revoke",  # POST only
    "patients:restore_record",  # the same page as entered in error, for a marked record
    "accounts:two_step_verify",  # asked only mid sign-in (tests/browser/test_two_step.py)
    "accounts:recovery_codes",  # shown once after set-up (tests/browser/test_two_step.py)
    "accounts:two_step_remove",  # needs a device (tests/browser/test_two_step.py)
    "outreach:task_done",  # POST only
    "outreach:sms_inbound",  # the SMS provider's webhook
}
CHECKED_NAMESPACES = ("patients", "pumps", "accounts", "feeds", "audit", "outreach")


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
        Page("admin add pump", "/admin/pumps/pump/add/"),
        Page("admin add pump, errors", "/admin/pumps/pump/add/", True),
        Page("admin refills", "/admin/pumps/refill/"),
        Page("admin refill", f"/admin/pumps/refill/{refill.pk}/change/"),
        # Refused (403, the app's page): refills are logged on the staff's refill form.
        Page("admin add refill, refused", "/admin/pumps/refill/add/"),
        Page("admin refill history", f"/admin/pumps/refill/{refill.pk}/history/"),
        Page("admin visits", "/admin/care/appointment/"),
        Page("admin trials", "/admin/care/trial/"),
        Page("admin message templates", "/admin/outreach/messagetemplate/"),
        Page("admin add message template", "/admin/outreach/messagetemplate/add/"),
    ]


def signed_out_pages(clinic: dict[str, Any]) -> list[Page]:
    return [
        Page("sign in", reverse("login")),
        Page("sign in, refused", reverse("login"), True),
        Page("password reset", reverse("accounts:password_reset")),
        Page("password reset sent", reverse("accounts:password_reset_done")),
        Page("password reset, bad link", "/accounts/password/reset/MQ/bad-token/"),
        Page("password reset done", reverse("accounts:password_reset_complete")),
        Page("admin sign in", "/admin/login/"),
        # The patient's page from an email's unsubscribe link (signed; a bad link: 400).
        Page(
            "unsubscribe",
            reverse("outreach:unsubscribe", args=[unsubscribe_token(clinic["patient"].pk, 1)]),
        ),
        Page("unsubscribe, bad link", reverse("outreach:unsubscribe", args=["bad"])),
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
            if (['hidden', 'submit', 'button'].includes(field.type)) continue;
            if (['checkbox', 'radio'].includes(field.type)) field.checked = false;
            else if (field.tagName === 'SELECT') field.selectedIndex = field.multiple ? -1 : 0;
            else field.value = '';
          }
        }"""
    )
    with page.expect_navigation():
        # The form's first submit button (in the admin, Save; not "Save and add another").
        form.evaluate(
            """form => form.requestSubmit(form.querySelector(
                 '[type=submit]:not([name=_addanother]):not([name=_continue])'))"""
        )


# Each field the browser is told is invalid (aria-invalid, as Django and the
# crispy templates mark it) is described by its error: aria-describedby on the
# field, or on the fieldset of a radio group, names elements that exist and one
# of them holds the error's text.
UNDESCRIBED_ERRORS = """() => [...document.querySelectorAll(
  '[aria-invalid=true], input.is-invalid, select.is-invalid, textarea.is-invalid')
].filter(field => {
  const holder = field.closest('[aria-describedby]');
  const ids = holder ? holder.getAttribute('aria-describedby').split(/\\s+/) : [];
  const described = ids.map(id => document.getElementById(id)).filter(Boolean);
  return described.length !== ids.length || !described.some(
    el => el.matches('.invalid-feedback, .errorlist') && el.textContent.trim());
}).map(field => field.name || field.id)"""


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
            undescribed = page.evaluate(UNDESCRIBED_ERRORS)
            assert undescribed == [], f"{entry.name}: errors not tied to {undescribed}"
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
    "signed-out": signed_out_pages,
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


SHOTS = Path("/tmp/shots-i14a11y")
FOCUSED = """() => { const el = document.activeElement; const style = getComputedStyle(el);
  const box = el.getBoundingClientRect();
  return {tag: el.tagName, id: el.id, text: el.textContent.trim(), cls: el.className,
          outlineStyle: style.outlineStyle, outlineWidth: parseFloat(style.outlineWidth),
          outlineColor: style.outlineColor, width: box.width, height: box.height, top: box.top,
          inMain: !!el.closest('main'), inNav: !!el.closest('nav.navbar')}; }"""


def shoot(page: Any, name: str) -> None:
    """The page as it is now (focus kept), at 1366 and 768 px, for a person to look at."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(300)  # Bootstrap's .15s colour transitions on focus
    for width in (1366, 768):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=SHOTS / f"{name}-{width}.png")
    page.set_viewport_size(DESKTOP)


def test_the_skip_link_is_the_first_tab_stop_and_leads_into_the_page(axe_page, clinic) -> None:  # type: ignore[no-untyped-def]
    page = axe_page
    # Signed out too: the sign-in page has no navbar and starts in Username
    # (Django's autofocus); the one stop before it is the skip link.
    page.goto(reverse("login"))
    assert page.evaluate(FOCUSED)["id"] == "id_username"
    page.keyboard.press("Shift+Tab")
    focused = page.evaluate(FOCUSED)
    assert focused["text"] == "Skip to main content", focused
    sign_in(page, "nurse")
    for path in ("/", reverse("patients:detail", args=[clinic["patient"].pk])):
        page.goto(path)
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        assert (focused["tag"], focused["text"]) == ("A", "Skip to main content"), path
        # Shown while focused (it is visually hidden until then), at the top.
        assert focused["width"] > 50
        assert focused["height"] > 20
        assert 0 <= focused["top"] < 50
        assert focused["outlineStyle"] == "solid"
        assert focused["outlineWidth"] >= 2
        if path == "/":
            shoot(page, "skip-link-focused")
        page.keyboard.press("Enter")
        assert page.url.endswith("#main")
        assert page.evaluate("() => document.activeElement.id") == "main"
        # The next Tab is inside the page's content, past the whole navbar.
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        assert focused["inMain"], (path, focused)
        assert not focused["inNav"], (path, focused)


def test_keyboard_focus_is_visible_on_the_navbar_and_the_page(axe_page, clinic) -> None:  # type: ignore[no-untyped-def]
    page = axe_page
    sign_in(page, "physician")
    page.goto("/")
    navbar_links = page.locator("nav .nav-link, nav .navbar-brand").count()
    assert navbar_links >= 8
    seen: list[str] = []
    page.keyboard.press("Tab")  # the skip link
    for _ in range(navbar_links + 3):  # the brand, each link, the user menu, Sign out
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        if not focused["inNav"]:
            break
        seen.append(focused["text"])
        # A solid ring at least 2 px wide, white on the blue navbar.
        assert focused["outlineStyle"] == "solid", focused
        assert focused["outlineWidth"] >= 2, focused
        assert focused["outlineColor"] == "rgb(255, 255, 255)", focused
        if focused["text"] == "Pump board":
            shoot(page, "worklist-navbar-link-focused")
    assert "Pump board" in seen, seen
    assert "Sign out" in seen, seen
    # Past the navbar, in the page (the worklist's first control): a dark ring.
    focused = page.evaluate(FOCUSED)
    assert focused["inMain"], focused
    assert focused["outlineStyle"] == "solid", focused
    assert focused["outlineWidth"] >= 2, focused
    assert focused["outlineColor"] == "rgb(5, 44, 101)", focused
    # Form fields and buttons on the refill form show the same ring.
    page.goto(reverse("pumps:log_refill", args=[clinic["pump"].pk]))
    page.locator("main input:visible, main select:visible").first.focus()
    page.keyboard.press("Tab")
    focused = page.evaluate(FOCUSED)
    assert focused["inMain"], focused
    assert focused["outlineStyle"] == "solid", focused
    assert focused["outlineColor"] == "rgb(5, 44, 101)", focused
    shoot(page, "refill-form-field-focused")
    page.goto(reverse("patients:detail", args=[clinic["patient"].pk]))
    page.locator("main a:visible").first.focus()
    page.keyboard.press("Tab")
    shoot(page, "patient-page-link-focused")
    page.goto(reverse("pumps:worklist"))
    shoot(page, "worklist")


def test_the_menu_at_tablet_width_passes_axe_and_shows_focus(axe_page, clinic) -> None:  # type: ignore[no-untyped-def]
    page = axe_page
    sign_in(page, "nurse")
    page.set_viewport_size({"width": 768, "height": 1024})
    page.goto("/")
    page.keyboard.press("Tab")  # the skip link
    page.keyboard.press("Tab")  # the brand
    page.keyboard.press("Tab")  # the menu button
    focused = page.evaluate(FOCUSED)
    assert "navbar-toggler" in focused["cls"], focused
    assert focused["outlineStyle"] == "solid", focused
    page.keyboard.press("Enter")
    page.get_by_role("link", name="Pump board").wait_for(state="visible")
    page.wait_for_timeout(400)  # Bootstrap's collapse transition
    assert axe_violations(page) == []
    page.keyboard.press("Tab")
    assert page.evaluate(FOCUSED)["outlineColor"] == "rgb(255, 255, 255)"
    shoot(page, "worklist-tablet-menu-open")


def test_the_favicon_answers(axe_page, clinic) -> None:  # type: ignore[no-untyped-def]
    page = axe_page
    response = page.request.get("/favicon.ico")
    assert response.status == 200
    assert response.headers["content-type"] in ("image/x-icon", "image/vnd.microsoft.icon")
    assert response.body()[:4] == b"\x00\x00\x01\x00"  # an ICO file's header
    page.goto(reverse("login"))
    icons = page.locator("link[rel=icon]")
    assert icons.count() == 2
    for href in icons.evaluate_all("links => links.map(l => l.href)"):
        assert page.request.get(href).status == 200, href
    shoot(page, "login")


@pytest.mark.django_db
def test_every_staff_page_is_checked(clinic) -> None:  # type: ignore[no-untyped-def]
    """A new page in the staff's URL files joins staff_pages (or says why not)."""
    pages = [*staff_pages(clinic), *signed_out_pages(clinic)]
    checked = {resolve(urlsplit(entry.path).path).view_name for entry in pages}
    unchecked = [
        name
        for name, _, namespace in url_patterns()
        if namespace.rstrip(":") in CHECKED_NAMESPACES
        and name not in checked
        and name not in NOT_HTML_PAGES
    ]
    assert unchecked == [], f"add {unchecked} to staff_pages or NOT_HTML_PAGES"
