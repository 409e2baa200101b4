"""Every navbar link, and every link on the physician's pages, answers for every role.

Signs in as a nurse, a physician and an administrator on the demo clinic,
follows the navbar from the worklist and every link of the pages built for the
physician's review (and of the pages they link to, one step further), and
expects no error: a 403 only where a nurse or an administrator reaches a
physician's decision page.
"""

from __future__ import annotations

import html
import re
from collections import deque

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import resolve

from core.roles import ADMINISTRATOR, NURSE, PHYSICIAN
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

# The pages of issue 4, whose every link is followed.
PHYSICIAN_PAGES = {
    "pumps:board",
    "patients:review_queue",
    "patients:trials",
    "patients:timeline",
    "patients:decide_trial",
    "patients:detail",
    "pumps:sign_off",
    "pumps:explant",
    "pumps:implant",
    "patients:record_mri",
    "patients:mri_checked",
    "patients:record_complication",
}
# Only a physician may open these (a nurse or an administrator gets 403).
DECISION_PAGES = {
    "patients:decide_trial",
    "pumps:sign_off",
    "pumps:explant",
    "pumps:implant",
    "patients:record_mri",
    "patients:mri_checked",
    "patients:record_complication",
}
DEVICE_PAGES = {"pumps:explant", "pumps:implant"}
# Links a person follows (<a>), not the page's own resources (<link rel=icon>...).
HREF = re.compile(r'<a\b[^>]*?\shref="([^"#]*)"')
# Links are read from this many instances of each page (patient pages differ by
# data, not by template); every link found on them is followed.
PAGES_READ_PER_VIEW = 3


def links(page: str) -> list[str]:
    found = (html.unescape(href) for href in HREF.findall(page))
    return [href for href in found if href.startswith("/") and not href.startswith("/static/")]


def navbar_links(page: str) -> list[str]:
    nav = page[page.index('<nav class="navbar') : page.index("</nav>")]
    return links(nav)


def view_name(url: str) -> str:
    return resolve(url.split("?")[0]).view_name


@pytest.fixture
def demo(settings):
    settings.DEBUG = True  # seed_demo refuses to run with DEBUG off
    call_command("seed_demo", verbosity=0)


def crawl(client: Client) -> dict[str, int]:
    """GET the worklist, its navbar and the physician's pages' links; url -> status."""
    start = client.get("/").content.decode()
    queue = deque(navbar_links(start))
    statuses: dict[str, int] = {}
    read: dict[str, int] = {}
    while queue:
        url = queue.popleft()
        if url in statuses or (url.startswith("/admin/") and url != "/admin/"):
            continue
        response = client.get(url)
        statuses[url] = response.status_code
        if response.status_code == 200 and not response.streaming:
            name = view_name(url)
            if name in PHYSICIAN_PAGES and read.get(name, 0) < PAGES_READ_PER_VIEW:
                read[name] = read.get(name, 0) + 1
                queue.extend(links(response.content.decode()))
    return statuses


def check(statuses: dict[str, int], *, may_decide: bool) -> None:
    problems = {
        url: status
        for url, status in statuses.items()
        if status >= 400
        and not (status == 403 and not may_decide and view_name(url) in DECISION_PAGES)
    }
    assert problems == {}


def test_a_physician_reaches_every_page_without_an_error(client, demo):
    client.force_login(UserFactory(username="crawler_physician", roles=[PHYSICIAN]))
    statuses = crawl(client)
    check(statuses, may_decide=True)
    names = {view_name(url) for url in statuses}
    # The navbar leads to the three review pages, and they to every decision page.
    assert {"pumps:board", "patients:review_queue", "patients:trials"} <= names
    assert {
        "patients:decide_trial",
        "pumps:sign_off",
        "pumps:explant",
        "pumps:implant",
        "patients:timeline",
        "patients:record_mri",
        "patients:mri_checked",
        "patients:record_complication",
        "pumps:board_csv",
    } <= names
    assert len(statuses) > 40


def test_a_nurse_sees_no_decision_links_and_meets_no_error(client, demo):
    client.force_login(UserFactory(username="crawler_nurse", roles=[NURSE]))
    statuses = crawl(client)
    check(statuses, may_decide=False)
    names = {view_name(url) for url in statuses}
    assert "pumps:board" in names
    assert "patients:timeline" in names
    # Implant, explant and replacement are open to nurses since staff registration (issue 14).
    assert not names & (DECISION_PAGES - DEVICE_PAGES)  # no button leads there


def test_an_administrator_reads_everything_and_decides_nothing(client, demo):
    client.force_login(UserFactory(username="crawler_admin", roles=[ADMINISTRATOR]))
    statuses = crawl(client)
    check(statuses, may_decide=False)
    names = {view_name(url) for url in statuses}
    assert {"pumps:board", "patients:review_queue", "patients:trials"} <= names
    assert not names & DECISION_PAGES
