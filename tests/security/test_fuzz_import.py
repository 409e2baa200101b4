"""Random spreadsheets at import_clinic: success, or exit 1 naming LINE: COLUMN and
the database exactly as it was; and a successful import stores exactly what the
cells say (clinical-rules.md section 8: a field never drops a character)."""

from __future__ import annotations

import csv
import itertools
import re
import tempfile
from datetime import date, timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from importer.spreadsheet import PUMP_OPTIONAL, PUMP_REQUIRED, REFILL_OPTIONAL, REFILL_REQUIRED
from patients.choices import Indication
from pumps.choices import ConcentrationUnit, DoseUnit, ExplantReason
from pumps.entry_safety import parse_decimal
from pumps.models import Pump, Refill
from tests.security.fuzz import choices, counts, field, fuzz

# Characters a spreadsheet or a copy from a web page slips into a cell unseen.
INVISIBLE = ("\u200b", "\u200e", "\u200f", "\u202e", "\ufeff", "\x00", "\x1b", "\t", "\r")

pytestmark = pytest.mark.django_db

PUMP_CELLS: dict[str, Any] = {
    "mrn": choices("F1", "F2", "F3", "SEC0001"),
    "family_name": "text",
    "given_name": "text",
    "birth_date": "date",
    "indication": choices(*Indication.values),
    "pump_model": choices("synchromed_ii_20", "synchromed_ii_40", "prometra_ii", "x"),
    "serial": choices("FZ1", "FZ2", "FZ3", "SN000001"),
    "implant_date": "date",
    "explant_date": st.just("") | field("date"),
    "explant_reason": st.just("") | choices(*ExplantReason.values),
    "alarm_ml": st.just("") | field("decimal"),
}
REFILL_CELLS: dict[str, Any] = {
    "serial": choices("FZ1", "FZ2", "SN000001", "nope"),
    "refill_date": "date",
    "drug": choices("morphine", "baclofen", "x"),
    "concentration": "decimal",
    "concentration_unit": choices(*ConcentrationUnit.values, "g/L"),
    "daily_dose": "decimal",
    "dose_unit": choices(*DoseUnit.values, "mL"),
    "volume_ml": "decimal",
    "residual_ml": st.just("") | field("decimal"),
    "eri": choices("", "yes", "no"),
    "bolus_dose": st.just("") | field("decimal"),
    "boluses_per_day": st.just("") | field("int"),
}

# "LINE: COLUMN: PROBLEM", "FILE:LINE: COLUMN: PROBLEM" or "FILE: PROBLEM".
PROBLEM = re.compile(r"^(?:[^:\n]+:)?\d+: [a-z_]+: .+$|^[^:\n]+: .+$")


def rows(
    cells: dict[str, Any], columns: tuple[str, ...]
) -> st.SearchStrategy[list[dict[str, str]]]:
    row = st.fixed_dictionaries({name: field(cells[name]) for name in columns})
    return st.lists(row, min_size=0, max_size=4)


def spreadsheet(required: tuple[str, ...], optional: tuple[str, ...], cells: dict[str, Any]) -> Any:
    """Columns in any order, sometimes one missing or an extra one, then rows."""
    columns = st.permutations(required + optional).flatmap(
        lambda order: st.sampled_from([order, order[1:], (*order, "extra")])
    )
    return columns.flatmap(
        lambda cols: st.tuples(st.just(cols), rows(cells | {"extra": "text"}, cols))
    )


def write(path: Path, columns: tuple[str, ...], table: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8", errors="surrogatepass") as file:
        writer = csv.DictWriter(file, fieldnames=columns)
        writer.writeheader()
        writer.writerows(table)


@fuzz(300)
@given(
    pumps=spreadsheet(PUMP_REQUIRED, PUMP_OPTIONAL, PUMP_CELLS),
    refills=st.none() | spreadsheet(REFILL_REQUIRED, REFILL_OPTIONAL, REFILL_CELLS),
)
def test_an_import_succeeds_or_names_every_problem_and_writes_nothing(
    clinic_objects: dict[str, Any], pumps: Any, refills: Any
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        files = [Path(folder) / "pumps.csv"]
        write(files[0], *pumps)
        if refills is not None:
            files.append(Path(folder) / "refills.csv")
            write(files[1], *refills)
        before = counts()
        stdout, stderr = StringIO(), StringIO()
        refused: CommandError | None = None
        try:
            call_command("import_clinic", *files, stdout=stdout, stderr=stderr)
        except CommandError as error:
            refused = error
    if refused is None:
        assert "Imported" in stdout.getvalue()
        return
    assert refused.returncode == 1
    assert counts() == before, "a refused import wrote rows"
    problems = stderr.getvalue().splitlines()
    assert problems, "refused without naming a problem"
    for line in problems:
        assert PROBLEM.match(line), f"not LINE: COLUMN: PROBLEM: {line!r}"


# --- What a successful import stores is what the cells say ----------------------------------

# A serial and mrn per generated case: cases share one database.
CASE = itertools.count(1)
LINE_PROBLEM = re.compile(r"^refills\.csv:(\d+): ([a-z_]+): .+$")
NUMBER_COLUMNS = ("concentration", "daily_dose", "volume_ml", "residual_ml", "bolus_dose")


def number_cells(low: int, high: int) -> st.SearchStrategy[str]:
    """Plausible numbers (often with a decimal comma), ambiguous, odd and huge ones."""
    plausible = st.decimals(min_value=low, max_value=high, places=2)
    return st.one_of(
        plausible.map(str),
        plausible.map(str),
        plausible.map(lambda d: str(d).replace(".", ",")),
        st.sampled_from(["1,234.5", "1.234,5", "12,500", "12.5.1", "1e3", "-1", "9" * 30]),
        st.sampled_from(["0", "0.0001", "40.001", "+5", " 5", "\u0665", "0x10", "NaN"]),
    )


def with_invisible(cell: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """The cell, sometimes with an invisible or control character inside it."""
    slipped = st.tuples(cell, st.sampled_from(INVISIBLE), st.integers(0, 10)).map(
        lambda t: t[0][: t[2]] + t[1] + t[0][t[2] :]
    )
    return st.one_of(cell, cell, cell, slipped)


def day_cells() -> st.SearchStrategy[str]:
    today = timezone.localdate()
    return st.one_of(
        st.integers(min_value=0, max_value=700).map(
            lambda days: (today - timedelta(days=days)).isoformat()
        ),
        st.sampled_from(
            ["1899-12-31", "1900-01-01", "2100-12-31", "2101-01-01", "2024-02-30", "2025-1-1"]
        ),
        st.just((today + timedelta(days=1)).isoformat()),
    )


def refill_rows(
    numbers: Any, day: st.SearchStrategy[str], slip: Any
) -> st.SearchStrategy[dict[str, str]]:
    return st.fixed_dictionaries(
        {
            "refill_date": slip(day),
            "drug": st.sampled_from(["morphine", "morphine", "hydromorphone", "baclofen"]),
            "concentration": slip(numbers(1, 50)),
            "concentration_unit": st.sampled_from(["mg/mL", "mg/mL", "mcg/mL"]),
            "daily_dose": slip(numbers(0, 10)),
            "dose_unit": st.sampled_from(["mg/day", "mg/day", "mcg/day"]),
            "volume_ml": slip(numbers(3, 40)),
            "residual_ml": st.just("") | slip(numbers(0, 40)),
            "eri": st.sampled_from(["", "yes", "no"]),
            "bolus_dose": st.just("") | slip(numbers(0, 2)),
            "boluses_per_day": st.one_of(st.just(""), st.integers(0, 120).map(str), st.just("4.5")),
            "serial_case": st.sampled_from(["upper", "lower"]),
        }
    )


def plain_number_cells(low: int, high: int) -> st.SearchStrategy[str]:
    plausible = st.decimals(min_value=low, max_value=high, places=2)
    return plausible.map(str) | plausible.map(lambda d: str(d).replace(".", ","))


# Half the rows plausible throughout (so imports succeed and are compared with the
# cells), half with odd numbers, dates and invisible characters anywhere.
REFILL_ROW = st.one_of(
    refill_rows(
        plain_number_cells,
        st.integers(min_value=0, max_value=700).map(
            lambda days: (timezone.localdate() - timedelta(days=days)).isoformat()
        ),
        lambda cell: cell,
    ),
    refill_rows(number_cells, day_cells(), with_invisible),
)


def _stored_matches(refill: Refill, row: dict[str, str]) -> None:
    """Every number stored is the number the cell says (decimal comma read as a point)."""
    for column in NUMBER_COLUMNS:
        cell = row[column]
        value = parse_decimal(cell) if cell else None
        stored = getattr(refill, column)
        if column == "bolus_dose" and not value:
            assert stored is None, (column, cell, stored)
            continue
        assert stored == value, (column, cell, stored)
    assert refill.concentration_unit == row["concentration_unit"]
    assert refill.dose_unit == row["dose_unit"]
    assert refill.drug.code == row["drug"]
    assert refill.eri == (row["eri"] == "yes")
    if refill.bolus_dose:
        assert refill.boluses_per_day == int(row["boluses_per_day"])


@fuzz(100)
@given(table=st.lists(REFILL_ROW, min_size=1, max_size=3))
def test_an_import_stores_exactly_what_was_written_or_names_line_and_column(
    table: list[dict[str, str]],
) -> None:
    case = next(CASE)
    serial = f"FZB{case:05d}"
    header = [*REFILL_REQUIRED, *REFILL_OPTIONAL]
    with tempfile.TemporaryDirectory() as folder:
        pumps = Path(folder) / "pumps.csv"
        refills = Path(folder) / "refills.csv"
        with pumps.open("w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file)
            writer.writerow(PUMP_REQUIRED)
            patient = [f"FZ{case}", "Ames", "Ann", "1960-01-01", "failed_back"]
            writer.writerow([*patient, "prometra_ii_40", serial, "2024-01-10"])
        with refills.open("w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file)
            writer.writerow(header)
            for row in table:
                cells = row | {
                    "serial": serial if row["serial_case"] == "upper" else serial.lower()
                }
                writer.writerow([cells[name] for name in header])
        # A quoted cell holding a line break moves the later rows' line numbers on.
        last_line = len(refills.read_text(encoding="utf-8").splitlines())
        before = counts()
        stderr = StringIO()
        refused: CommandError | None = None
        try:
            call_command("import_clinic", pumps, refills, stdout=StringIO(), stderr=stderr)
        except CommandError as error:
            refused = error
    lines = stderr.getvalue().splitlines()
    # Every problem and warning names a data line of the file and a column of it.
    for line in lines:
        match = LINE_PROBLEM.match(line)
        assert match, f"not refills.csv:LINE: COLUMN: ...: {line!r}"
        assert 2 <= int(match[1]) <= last_line
        assert match[2] in header
    if refused is not None:
        assert refused.returncode == 1
        assert lines, "refused without naming a problem"
        assert counts() == before, "a refused import wrote rows"
        return
    pump = Pump.objects.get(serial=serial)
    stored = {refill.refill_date: refill for refill in pump.refills.select_related("drug")}
    assert len(stored) == len(table)
    for row in table:
        _stored_matches(stored[date.fromisoformat(row["refill_date"])], row)
    # Nothing invisible got through: every row that imported was clean.
    assert not any(char in cell for row in table for cell in row.values() for char in INVISIBLE)
