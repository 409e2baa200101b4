"""Import a clinic's spreadsheet (docs/interfaces.md, "Importing a clinic's spreadsheet").

The import is all or nothing and names every bad row, so it runs in two
phases:

1. ``check_files`` reads both CSV files, converts every cell and checks every
   row against the other rows, the catalogue and the database. It writes
   nothing. Each new refill is held to the services' own rules
   (``services.validate_fill``, clinical-rules.md section 8), and what they
   only ask to confirm (``services.fill_warnings``) becomes a warning. It
   returns a ``Plan`` with the warnings to print, or raises ``ImportRefused``
   carrying every ``Problem`` found.
2. ``apply_plan`` writes the plan in one transaction through ``pumps.services``,
   which enforce the invariants again under a row lock and store each pump's
   schedule. Should a service still refuse a row (another writer got in
   between the two phases), the problem is reported the same way and the
   transaction rolls back.

Like a form, the checks here convert cells and explain problems in the
file's terms (line and column); the services stay the authority (docs/style.md,
point 7). Rows are matched by ``mrn`` (patients), ``serial`` (pumps) and
``serial`` + ``refill_date`` (refills), so importing the same files twice
writes nothing the second time. A blank optional cell means "not known": it
never erases what the database records.

Problems read ``[FILE:]LINE: COLUMN: PROBLEM``, warnings
``[FILE:]LINE: COLUMN: warning: MESSAGE``. LINE is the line in the file
as a text editor numbers it (the header is line 1). FILE is the file's name,
given only when two files are imported. A problem with the file as a whole
(unreadable, not UTF-8, not CSV) reads ``FILE: PROBLEM``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

from importer.plan import (
    PUMP_OPTIONAL,
    PUMP_REQUIRED,
    REFILL_OPTIONAL,
    REFILL_REQUIRED,
    Counts,
    PatientPlan,
    Plan,
    PumpPlan,
    check_files,
)
from importer.problems import ImportRefused, Problem
from importer.writing import apply_plan

__all__ = [
    "PUMP_OPTIONAL",
    "PUMP_REQUIRED",
    "REFILL_OPTIONAL",
    "REFILL_REQUIRED",
    "Counts",
    "ImportRefused",
    "PatientPlan",
    "Plan",
    "Problem",
    "PumpPlan",
    "apply_plan",
    "check_files",
    "import_clinic",
]


def import_clinic(
    pumps_path: Path,
    refills_path: Path | None = None,
    *,
    today: date,
    dry_run: bool = False,
    progress: Callable[[str], None] | None = None,
) -> Plan:
    """Check the files and, unless ``dry_run``, write them; returns the plan carried out."""
    plan = check_files(pumps_path, refills_path, today=today)
    if not dry_run:
        apply_plan(plan, today=today, progress=progress)
    return plan
