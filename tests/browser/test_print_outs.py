"""Print-outs in a real browser (issue 14): Chromium prints them to PDF and the
pages are counted: the handover summary is exactly one page, the worklist
takes as many pages as its rows need, each with its header repeated."""

from __future__ import annotations

import os
import re
from datetime import date, time, timedelta
from pathlib import Path

from django.utils import timezone

from care import services as patient_services
from care.choices import VisitKind
from pumps.models import Pump
from tests.browser.conftest import ARTIFACTS, screenshot
from tests.factories import PatientFactory, fill, make_pump

# The page as print.css sets it: A4, margins 12 mm top, 14 mm bottom, 10 mm sides.
MM = 96 / 25.4  # CSS pixels per millimetre
PAGE_WIDTH = (210 - 20) * MM
PAGE_HEIGHT = (297 - 12 - 14) * MM
# Where the print-outs go for a person to look at (the test artifacts, or SHOTS_DIR).
SHOTS = Path(os.environ.get("SHOTS_DIR", ARTIFACTS / "print"))


def pdf_pages(pdf: bytes) -> int:
    """Pages of a PDF from Chromium: each page is one object of /Type /Page."""
    return len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf))


def print_to_pdf(page, name: str) -> bytes:  # type: ignore[no-untyped-def]
    # The page's own @page rules (size, margins, the page numbers in the
    # margin boxes) decide, as the browser's Print does.
    pdf: bytes = page.pdf(prefer_css_page_size=True, print_background=True)
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / f"{name}.pdf").write_bytes(pdf)
    return pdf


def pump_due_in(days: int, today: date, n: int) -> Pump:
    pump = make_pump(
        model="synchromed_ii_40",
        implant_date=today - timedelta(days=400),
        patient=PatientFactory(
            phone=f"+1 555 01{n:02d}", family_name=f"Family{n:03d}", given_name="Given"
        ),
    )
    fill(pump, on=today + timedelta(days=days - 90), volume_ml="40")
    return pump


def expected_pages(page) -> int:  # type: ignore[no-untyped-def]
    """The pages the print-out needs, from the heights the rows have at the printed width.

    The header (clinic, day, column names) repeats on every page and rows are
    not split, so each page holds the rows that fit under its header.
    """
    page.emulate_media(media="print")
    page.set_viewport_size({"width": round(PAGE_WIDTH), "height": 1000})
    heights = page.evaluate(
        """() => {
          const table = document.querySelector('#worklist-print');
          const above = table.getBoundingClientRect().top + window.scrollY;
          return {above, head: table.tHead.getBoundingClientRect().height,
                  rows: [...table.tBodies[0].rows].map(r => r.getBoundingClientRect().height)};
        }"""
    )
    page.emulate_media(media="null")  # no emulation: screen, and print for page.pdf
    page.set_viewport_size({"width": 1280, "height": 900})
    pages, used = 1, heights["above"] + heights["head"]
    for row in heights["rows"]:
        if used + row > PAGE_HEIGHT:
            pages, used = pages + 1, heights["head"]
        used += row
    return pages


def test_the_whole_worklist_prints_with_its_header_on_every_page(nurse_page):
    page = nurse_page
    today = timezone.localdate()
    for n in range(70):
        pump_due_in(n % 10 - 3, today, n)
    page.goto("/worklist/print/")
    assert page.locator("#worklist-print tbody tr").count() == 70
    assert page.get_by_role("button", name="Print").is_visible()
    pdf = print_to_pdf(page, "worklist-70-rows")
    pages = pdf_pages(pdf)
    # 70 rows of two lines: several pages, as many as the rows need.
    assert pages == expected_pages(page)
    assert 2 <= pages <= 70 // 10  # more than one page, at least ten rows a page

    page.goto("/worklist/print/?status=overdue")
    overdue = page.locator("#worklist-print tbody tr").count()
    assert 0 < overdue < 70
    assert pdf_pages(print_to_pdf(page, "worklist-overdue")) == expected_pages(page)

    for url, name in (("/worklist/print/", "worklist-print"), ("/", "worklist")):
        page.goto(url)
        for width in (1366, 768):
            page.set_viewport_size({"width": width, "height": 900})
            page.screenshot(path=SHOTS / f"{name}-{width}.png", full_page=True)
    screenshot(page, "print-worklist")
    page.get_by_role("link", name="Print this list").click()
    page.wait_for_selector("#worklist-print")


def test_the_handover_summary_prints_on_exactly_one_page(nurse_page):
    page = nurse_page
    today = timezone.localdate()
    patient = PatientFactory(phone="+1 555 0199", family_name="Handover", given_name="Hana")
    pump = make_pump(implant_date=today - timedelta(days=800), patient=patient)
    for days_ago, residual in ((70, None), (40, "5"), (10, "2")):
        fill(
            pump,
            on=today - timedelta(days=days_ago),
            drug="baclofen",
            concentration="2000",
            concentration_unit="mcg/mL",
            daily_dose="400",
            dose_unit="mcg/day",
            volume_ml="20",
            residual_ml=residual,
            bolus_dose="50",
            boluses_per_day=2,
        )
    for days in (3, 30, 60, 90):
        patient_services.book_visit(
            patient=patient, pump=pump, kind=VisitKind.REFILL,
            day=today + timedelta(days=days), at=time(9, 30), today=today,
        )  # fmt: skip
    page.goto(f"/patients/{patient.pk}/summary/")
    assert page.get_by_text("+1 555 0199").is_visible()
    assert pdf_pages(print_to_pdf(page, "handover-summary")) == 1
    for width in (1366, 768):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=SHOTS / f"summary-{width}.png", full_page=True)

    # The patient page itself prints whole (it clipped): its PDF is kept to look at.
    page.goto(f"/patients/{patient.pk}/")
    assert page.locator("#review-status").is_visible()
    assert pdf_pages(print_to_pdf(page, "patient-page")) >= 1
    for width in (1366, 768):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=SHOTS / f"patient-page-{width}.png", full_page=True)


def test_the_pharmacy_order_prints(nurse_page):
    page = nurse_page
    today = timezone.localdate()
    for n in range(12):
        pump = pump_due_in(40, today, n)
        patient_services.book_visit(
            patient=pump.patient, pump=pump, kind=VisitKind.REFILL,
            day=today + timedelta(days=n % 7 + 1), at=time(9, 0), today=today,
        )  # fmt: skip
    page.goto("/pharmacy/")
    assert page.locator("#pharmacy-orders tbody tr[data-serial]").count() == 12
    assert pdf_pages(print_to_pdf(page, "pharmacy-orders")) == 1
    for width in (1366, 768):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=SHOTS / f"pharmacy-{width}.png", full_page=True)
