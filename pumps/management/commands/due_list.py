"""manage.py due_list [--as-of YYYY-MM-DD] [--format json|csv] [--flagged]

The due list of docs/interfaces.md: one entry per active pump, most urgent
first, statuses judged on --as-of (default: the clinic's local today).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.clock import clinic_today
from pumps.due_list import build_due_list, csv_lines, json_chunks
from pumps.models import SchedulePolicy


def iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"--as-of: {text!r} is not a date in the form YYYY-MM-DD") from None


class Command(BaseCommand):
    help = "Print the due list: every active pump, most urgent first (JSON or CSV)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--as-of", help="judge statuses on this day (YYYY-MM-DD)")
        parser.add_argument("--format", choices=["json", "csv"], default="json")
        parser.add_argument(
            "--flagged",
            action="store_true",
            help="leave out pumps whose refill and battery are both ok or not applicable",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        today = iso_date(options["as_of"]) if options["as_of"] else clinic_today()
        items = build_due_list(
            today=today,
            lookahead_days=SchedulePolicy.current().lookahead_days,
            flagged_only=options["flagged"],
        )
        if options["format"] == "csv":
            for chunk in csv_lines(items):
                self.stdout.write(chunk, ending="")
        else:
            # Entry by entry: one string of the whole list would hold 40 MB at 100,000 pumps.
            for chunk in json_chunks(items):
                self.stdout.write(chunk, ending="")
            self.stdout.write("")
