"""Send the due messages of the outbox once (what the worker's frequent run does)."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from outreach.outbox import send_due


class Command(BaseCommand):
    help = "Send the outbox's due messages (exactly once, safe beside other workers)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--limit", type=int, default=None, help="claim at most this many")
        parser.add_argument(
            "--until-empty-for",
            type=float,
            default=0,
            help="keep polling until nothing was due for this many seconds",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        total = 0
        idle_since = time.monotonic()
        while True:
            result = send_due(limit=options["limit"])
            total += result.sent
            if result.claimed:
                idle_since = time.monotonic()
            if time.monotonic() - idle_since >= options["until_empty_for"]:
                break
            time.sleep(0.05)
        self.stdout.write(f"sent {total}")
