"""manage.py backup_clinic FILE: the whole clinic to one gzipped JSON file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from backup.archive import write_backup


class Command(BaseCommand):
    help = (
        "Write every patient, pump, refill, visit, the catalogue, users and groups, all "
        "change history and the audit log to FILE (gzipped JSON with a header). "
        "Restore with restore_clinic."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "file", type=Path, help="where to write, e.g. clinic-2026-04-06.json.gz"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        header = write_backup(options["file"])
        total = sum(header["counts"].values())
        self.stdout.write(
            f"Wrote {total} records of {len(header['counts'])} models to {options['file']} "
            f"(app {header['app_version']}, {header['created_at']})."
        )
