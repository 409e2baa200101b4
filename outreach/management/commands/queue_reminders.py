"""Queue the visit reminders and refill calls (what the worker's daily run does)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from outreach.reminders import daily_run


class Command(BaseCommand):
    help = "Queue visit reminders and 'please call us' messages (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        counts = daily_run()
        self.stdout.write(", ".join(f"{name}: {count}" for name, count in counts.items()))
