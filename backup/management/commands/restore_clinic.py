"""manage.py restore_clinic FILE [--replace]: load a backup_clinic file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from backup.archive import BackupError, restore_backup


class Command(BaseCommand):
    help = (
        "Load a file written by backup_clinic, in one transaction: all of it or nothing. "
        "Refuses a database that already holds patients, users or history unless --replace."
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
            header = restore_backup(options["file"], replace=options["replace"])
        except BackupError as error:
            raise CommandError(str(error)) from error
        total = sum(header["counts"].values())
        self.stdout.write(
            f"Restored {total} records from {options['file']} "
            f"(written {header['created_at']} by app {header['app_version']})."
        )
