"""manage.py seed_demo [--if-empty] [--reset] [--force]

Fills an empty database with a demo clinic of about sixty patients, dated
from the clinic's today, and the demo logins nurse, physician and admin
(plus the physicians dr_okafor and dr_lindqvist), all with DEMO_PASSWORD.
Development only: it refuses to run with DEBUG off unless --force is given.
Everything happens in one transaction, so a failure leaves nothing behind.
"""

from __future__ import annotations

import os
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from core.clock import clinic_today
from demo.data import (
    DEMO_PASSWORD,
    SIGN_IN_AS,
    DemoPlanError,
    build_demo_clinic,
    counts_text,
    delete_clinical_data,
)
from patients.models import Patient
from pumps.models import SchedulePolicy

__all__ = ["DEMO_PASSWORD", "Command"]


class Command(BaseCommand):
    help = (
        "Fill an empty database with a demo clinic (about sixty patients dated from today) "
        f"and the demo logins nurse, physician and admin (password {DEMO_PASSWORD}). "
        "Development only."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="do nothing (and succeed) when any patient exists",
        )
        parser.add_argument(
            "--reset",
            action="store_true",
            help="first delete every patient, pump, refill, dose change, trial, complication, "
            "MRI and visit, with their history (the catalogue, drugs, policy and users stay)",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="run even with DEBUG off; never on a production database",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["if_empty"] and Patient.objects.exists():
            self.stdout.write("Patients already exist: leaving the database as it is (--if-empty).")
            return
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "Refusing to seed demo data with DEBUG off: the demo logins share a published "
                "password and must never reach a production database. Pass --force only on a "
                "throwaway demo server."
            )
        started = time.monotonic()
        today = clinic_today()
        with transaction.atomic():
            existing = Patient.objects.count()
            if existing and not options["reset"]:
                raise CommandError(
                    f"The database already holds {existing} patients; seed_demo only fills an "
                    "empty clinic and changed nothing. Run it with --reset to delete every "
                    "clinical record (and its history) first, or with --if-empty to skip."
                )
            if options["reset"]:
                deleted = delete_clinical_data()
                self.stdout.write(f"Deleted the clinical records of {deleted} patients.")
            try:
                summary = build_demo_clinic(today=today)
            except DemoPlanError as error:
                policy = SchedulePolicy.current()
                raise CommandError(
                    f"The demo plan does not fit this clinic's schedule policy (margin "
                    f"{policy.refill_margin_days} days, look-ahead {policy.lookahead_days} "
                    f"days) or catalogue: {error}. Nothing was written."
                ) from error
        elapsed = time.monotonic() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo clinic for {today.isoformat()} built in {elapsed:.1f} s: "
                f"{summary.patients} patients, {summary.active_pumps} active pumps "
                f"({summary.explanted_pumps} explanted), {summary.refills} refills, "
                f"{summary.trials} trials."
            )
        )
        self.stdout.write(f"Refill status today: {counts_text(summary.refill_counts.items())}.")
        self.stdout.write(f"Battery status today: {counts_text(summary.battery_counts.items())}.")
        self.stdout.write(
            f"Reminders: {summary.messages.get('queued', 0)} queued, "
            f"{summary.messages.get('history', 0)} sent or failed in the last two months "
            "(the worker of make run sends what is due to the console)."
        )
        port = os.environ.get("PORT", "8000")
        names = ", ".join(SIGN_IN_AS[:-1]) + f" or {SIGN_IN_AS[-1]}"
        self.stdout.write(
            f"Sign in at http://127.0.0.1:{port}/ as {names} with password {DEMO_PASSWORD}"
        )
        self.stdout.write(
            "(the physicians dr_okafor and dr_lindqvist use the same password; "
            "admin runs the system at /admin/ and is no clinician)."
        )
