"""manage.py restore_clinic FILE [--replace]: load a backup_clinic file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from backup.archive import BackupError, restore_backup


class Command(BaseCommand):
    help = (
        "Load a file written by backup_clinic, in one transaction: all of it or nothing. "
        "Checks the file's SHA-256 and migrations before touching the database, and "
        "refuses a damaged or mismatched file in one line. Refuses a database that "
        "already holds patients, users or history unless --replace. Signs everyone out."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="a file written by backup_clinic")
        parser.add_argument(
            "--replace",
            action="store_true",
            help="delete every record of this database that the backup covers, then restore",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            restored = restore_backup(options["file"], replace=options["replace"])
        except BackupError as error:
            # One line, no traceback: the message says what is wrong with the file.
            raise CommandError(str(error)) from error
        for name, count in restored.counts.items():
            if count:
                self.stdout.write(f"  {name:<40} {count:>9}")
        header = restored.header
        self.stdout.write(
            f"Restored {sum(restored.counts.values())} records from {options['file']} "
            f"(written {header['created_at']} by app {header['app_version']} on "
            f"{header['database']}). Ended {restored.signed_out} sessions: everyone signs in again."
        )
