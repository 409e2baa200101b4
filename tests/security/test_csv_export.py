"""CSV exports: one writer, cells neutralised as docs/interfaces.md says (issue 13).

"A text cell that a spreadsheet would run as a formula (first character =,
+, -, @, tab or carriage return) is written with a leading '." Every CSV the
app writes goes through core/csv_export.py; a download is named by what it
is and the day, never by a patient.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from core.csv_export import csv_download, csv_lines, download_name, safe_cell
from tests.factories import PatientFactory, make_pump

PROJECT = Path(__file__).resolve().parents[2]
FORMULA_STARTS = ["=", "+", "-", "@", "\t", "\r"]


@pytest.mark.parametrize("start", FORMULA_STARTS, ids=repr)
def test_a_text_cell_a_spreadsheet_would_run_gets_a_leading_quote(start: str) -> None:
    assert safe_cell(f"{start}SUM(A1:A9)") == f"'{start}SUM(A1:A9)"
    assert safe_cell(start) == f"'{start}"


@pytest.mark.parametrize(
    "text",
    [
        "plain",
        "a=b",  # only the first character counts
        " =1+1",  # a leading space: not one of the six (docs/interfaces.md lists them)
        "'=1",  # already quoted text is left as it is
        "",
        "NGP123456H",
        "2026-12-02",
    ],
)
def test_other_text_is_written_as_it_is(text: str) -> None:
    assert safe_cell(text) == text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ""),
        (True, "true"),
        (False, "false"),
        (date(2026, 12, 2), "2026-12-02"),
        (800, "800"),
        (-3, "-3"),  # a number, not a text cell: a spreadsheet reads minus three
        (Decimal("0.25"), "0.25"),
        (-1.5, "-1.5"),
    ],
)
def test_values_that_are_not_text(value: object, expected: str) -> None:
    assert safe_cell(value) == expected


def test_csv_lines_streams_the_header_then_one_chunk_a_row() -> None:
    chunks = list(csv_lines(["name", "n"], [["=x", 1], ["Ann\nMarie", None]]))
    assert chunks == ["name,n\n", "'=x,1\n", '"Ann\nMarie",\n']
    assert list(csv.reader(io.StringIO("".join(chunks)))) == [
        ["name", "n"],
        ["'=x", "1"],
        ["Ann\nMarie", ""],
    ]


def test_a_carriage_return_inside_a_cell_is_quoted() -> None:
    """Python 3.11's csv quotes only for its line terminator's characters: a bare
    carriage return would split the row for every reader."""
    text = "".join(csv_lines(["a", "b"], [["x\ry", "z"], ["\r", "w"]]))
    assert text == 'a,b\n"x\ry",z\n"\'\r",w\n'
    assert list(csv.reader(io.StringIO(text, newline=""))) == [
        ["a", "b"],
        ["x\ry", "z"],
        ["'\r", "w"],
    ]


def test_a_download_is_named_by_its_kind_and_day() -> None:
    response = csv_download(iter(["a\n"]), kind="pump-board", day=date(2026, 12, 2))
    assert response["Content-Disposition"] == 'attachment; filename="pump-board-2026-12-02.csv"'
    assert response["Content-Type"] == "text/csv; charset=utf-8"


@pytest.mark.parametrize("kind", ["A1001", "due-list-Smith", "ford jason", "../x", "", "a--b"])
def test_a_download_name_that_could_carry_data_is_refused(kind: str) -> None:
    with pytest.raises(ValueError, match="fixed word"):
        download_name(kind, date(2026, 12, 2))


# --- every export, end to end -------------------------------------------------


@pytest.fixture
def hostile_pumps(db) -> list[str]:
    """One active pump per formula start, its record number starting with it."""
    today = timezone.localdate()
    mrns = [f"{start}cmd|' /C calc'!A0" for start in FORMULA_STARTS]
    for number, mrn in enumerate(mrns):
        make_pump(
            serial=f"CSV{number}",
            patient=PatientFactory(mrn=mrn, family_name=f"{FORMULA_STARTS[number]}HYPERLINK(1)"),
            implant_date=today - timedelta(days=100),
        )
    return mrns


def every_cell(rows: list[dict[str, str]]) -> list[str]:
    return [cell for row in rows for cell in row.values()]


def test_the_due_list_csv_neutralises_every_formula_start(hostile_pumps: list[str]) -> None:
    out = io.StringIO()
    call_command("due_list", "--format", "csv", stdout=out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert sorted(row["mrn"] for row in rows) == sorted(f"'{mrn}" for mrn in hostile_pumps)
    assert not [cell for cell in every_cell(rows) if cell.startswith(tuple(FORMULA_STARTS))]


def test_the_board_csv_neutralises_every_formula_start(
    hostile_pumps: list[str], nurse_client: Client
) -> None:
    response = nurse_client.get(reverse("pumps:board_csv"))
    body = b"".join(response.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert sorted(row["mrn"] for row in rows) == sorted(f"'{mrn}" for mrn in hostile_pumps)
    assert {row["family_name"][:2] for row in rows} == {f"'{s}" for s in FORMULA_STARTS}
    assert not [cell for cell in every_cell(rows) if cell.startswith(tuple(FORMULA_STARTS))]
    disposition = response["Content-Disposition"]
    assert re.fullmatch(r'attachment; filename="pump-board-\d{4}-\d{2}-\d{2}\.csv"', disposition)


APP_PACKAGES = (
    "core",
    "patients",
    "pumps",
    "care",
    "importer",
    "demo",
    "web",
    "audit",
    "backup",
    "accounts",
    "clinic",
)
WRITES_CSV = re.compile(r"csv\.(?:writer|DictWriter)\(|text/csv|Content-Disposition")


def test_no_other_module_writes_csv_or_names_a_download() -> None:
    """One writer: a new export that wrote its own CSV could skip the guard."""
    found = [
        f"{path.relative_to(PROJECT)}: {match.group()}"
        for package in APP_PACKAGES
        for path in sorted((PROJECT / package).rglob("*.py"))
        if "migrations" not in path.parts and path != PROJECT / "core" / "csv_export.py"
        for match in WRITES_CSV.finditer(path.read_text())
    ]
    assert not found, found
