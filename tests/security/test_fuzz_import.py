"""Random spreadsheets at import_clinic: success, or exit 1 naming LINE: COLUMN and
the database exactly as it was."""

from __future__ import annotations

import csv
import re
import tempfile
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from hypothesis import given
from hypothesis import strategies as st

from patients.choices import Indication
from pumps.choices import ConcentrationUnit, DoseUnit, ExplantReason
from pumps.importer import PUMP_OPTIONAL, PUMP_REQUIRED, REFILL_OPTIONAL, REFILL_REQUIRED
from tests.security.fuzz import choices, counts, field, fuzz

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
