"""manage.py backup_clinic FILE: the whole clinic to one gzipped file, one moment."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from backup.archive import BackupError, write_backup


class Command(BaseCommand):
    help = (
        "Write every patient, pump, refill, visit, the catalogue, users and groups, all "
        "change history and the audit log to FILE (gzipped JSON lines: a header with the "
        "migrations and counts, the records, a SHA-256), read in one snapshot while staff "
        "keep working. Sessions and sign-in lockouts are left out. Restore with restore_clinic."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "file", type=Path, help="where to write, e.g. clinic-2026-04-06.json.gz"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        started = time.monotonic()
        try:
            header = write_backup(path)
        except BackupError as error:
            raise CommandError(str(error)) from error
        seconds = time.monotonic() - started
        counts: dict[str, int] = header["counts"]
        for name, count in counts.items():
            if count:
                self.stdout.write(f"  {name:<40} {count:>9}")
        self.stdout.write(
            f"Wrote {header['records']} records of {len(counts)} models to {path} "
            f"({path.stat().st_size / 1024:.0f} kB in {seconds:.1f} s; app "
            f"{header['app_version']}, {header['created_at']}; SHA-256 {header['sha256']})."
        )
