"""manage.py import_clinic PUMPS.csv [REFILLS.csv] [--dry-run]

Imports a clinic's spreadsheet (docs/interfaces.md); the work is in
``importer``.
"""

from __future__ import annotations

from argparse import RawDescriptionHelpFormatter
from pathlib import Path
from typing import Any

from django.core.management.base import (
    BaseCommand,
    CommandError,
    CommandParser,
    DjangoHelpFormatter,
)

from core.clock import clinic_today
from importer.spreadsheet import ImportRefused, Plan, import_clinic

HELP = """\
Import a clinic's pumps and refills from CSV files (docs/interfaces.md).

PUMPS.csv columns: mrn, family_name, given_name, birth_date, indication,
pump_model, serial, implant_date; optional explant_date, explant_reason,
alarm_ml. REFILLS.csv columns: serial, refill_date, drug, concentration,
concentration_unit, daily_dose, dose_unit, volume_ml; optional residual_ml,
eri (yes/no), bolus_dose (a patient-activated bolus in dose_unit; blank or 0
means none) and boluses_per_day (the most allowed a day; needed with a
bolus_dose: the refill date assumes every allowed bolus is taken). Dates are
YYYY-MM-DD; a decimal comma is read as a decimal point (12,5 = 12.5), and a
number that reads two ways (1.234,5 or 12,500) is refused. Serials match
ignoring case (NGP1 and ngp1 are one pump).

The import is all or nothing: any bad row stops it, nothing is written, and
the command exits with status 1 after naming every problem on stderr, one a
line, as

    LINE: COLUMN: PROBLEM                 (one file)
    FILE:LINE: COLUMN: PROBLEM            (two files: FILE is the file's name)

where LINE is the line in the file as a text editor numbers it (the header is
line 1), e.g.

    refills.csv:4: volume_ml: 45 mL is more than this pump's reservoir holds (40 mL).

A problem with a file as a whole reads "FILE: PROBLEM". Refused, as on the
staff pages (docs/clinical-rules.md section 8): a concentration outside its
drug's accepted range; a daily volume above 10 mL a day or one that reaches
the alarm within a day; a fill above the reservoir or below its alarm volume;
a date before 1900 or after 2100, an event after today, an implant before
birth, an explant before its implant, a fill outside its pump's life; a cell
holding a control or invisible character (zero-width space, bidirectional
mark); a file larger than IMPORT_MAX_BYTES (default 50 MB), before it is read.

What the staff pages ask to confirm is imported, and printed on stderr as

    FILE:LINE: COLUMN: warning: MESSAGE

(a daily dose outside the plausible range, a tenfold change from the pump's
previous fill of the same drug, a fill that reaches its alarm within 14
days, a residual-volume discrepancy); the exit status stays 0. --dry-run
prints the same warnings.

Rows are matched by mrn (patients), serial (pumps) and serial + refill_date
(refills): importing the same files again changes nothing. A blank optional
cell means "not known" and never erases a recorded value. The import adds a
pump's refills only after those already recorded, and does not change a
recorded pump's model or implant date. Files of more than 1,000 rows report
progress on stderr. On success the counts of rows created, updated and
unchanged go to stdout.
"""


class HelpFormatter(DjangoHelpFormatter, RawDescriptionHelpFormatter):
    """Django's option order, with the description's lines kept as written."""


class Command(BaseCommand):
    help = HELP

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        kwargs.setdefault("formatter_class", HelpFormatter)
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("pumps", type=Path, metavar="PUMPS.csv", help="one row per pump")
        parser.add_argument(
            "refills", type=Path, nargs="?", metavar="REFILLS.csv", help="one row per refill visit"
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="check the files and report what would change, writing nothing",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        dry_run: bool = options["dry_run"]
        try:
            plan = import_clinic(
                options["pumps"],
                options["refills"],
                today=clinic_today(),
                dry_run=dry_run,
                progress=self.stderr.write,
            )
        except ImportRefused as refused:
            for problem in refused.problems:
                self.stderr.write(str(problem))
            count = len(refused.problems)
            raise CommandError(
                f"{count} problem{'s' if count != 1 else ''} found; nothing was imported.",
                returncode=1,
            ) from None
        for warning in plan.warnings:
            self.stderr.write(str(warning))
        self.stdout.write(summary(plan, dry_run=dry_run))


def summary(plan: Plan, *, dry_run: bool) -> str:
    """Rows created, updated and unchanged per kind (or that would be, on a dry run)."""
    names = " and ".join(
        source.name for source in (plan.pumps_source, plan.refills_source) if source is not None
    )
    create, update = ("to create", "to update") if dry_run else ("created", "updated")
    lines = [
        f"Dry run of {names}: no problems found; nothing was written."
        if dry_run
        else f"Imported {names}."
    ]
    for kind, counts in plan.counts().items():
        parts = [f"{counts.created} {create}"]
        if kind != "refills":  # a recorded refill is never updated, only matched
            parts.append(f"{counts.updated} {update}")
        parts.append(f"{counts.unchanged} unchanged")
        lines.append(f"{kind}: {', '.join(parts)}")
    return "\n".join(lines)
