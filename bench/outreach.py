"""python -m bench.outreach [--count 10000] [--workers 2] [--backend fake|console]

Issue 15's target: 10,000 due reminders queued and sent by the worker in under
60 s. In a fresh database of its own (bench/.data/clinic_bench_outreach.sqlite3,
or clinic_bench_outreach on the PostgreSQL server DATABASE_URL names):
``--count`` consenting patients, each with a visit booked for tomorrow, are
bulk-inserted (not timed); then timed:

1. queueing: ``manage.py queue_reminders`` (the daily run), with the day-before
   reminder due at once (OUTREACH_SEND_AT=00:00);
2. sending: ``--workers`` ``manage.py send_due`` processes started together
   against the fake SMS provider over HTTP (``fake``, the default, which
   counts deliveries per idempotency key) or the console backend (output
   discarded), until the outbox is empty.

Prints one JSON line: the counts, the seconds of each phase and their sum,
and the deliveries the provider saw (each key once).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

from bench import databases

SETUP = r"""
import sys
from datetime import datetime, time, timedelta
from django.utils import timezone
from care.models import Appointment
from patients.models import Patient
count = int(sys.argv[1])
tomorrow = timezone.localdate() + timedelta(days=1)
patients = Patient.objects.bulk_create(
    Patient(mrn=f"B{i:06d}", family_name="Bench", given_name=f"P{i}",
            birth_date="1970-01-01", indication="failed_back", status="implanted",
            phone=f"+1555{i:07d}", contact_by="sms", consent_to_contact=True,
            consent_recorded_on="2026-01-05", consent_source="paper_form")
    for i in range(count)
)
start = timezone.make_aware(datetime.combine(tomorrow, time(8, 0)))
Appointment.objects.bulk_create(
    Appointment(patient=p, kind="physician_review",
                scheduled_at=start + timedelta(seconds=3 * i))
    for i, p in enumerate(patients)
)
"""


def django(url: str, args: list[str], env: dict[str, str], quiet: bool = False) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=databases.ROOT,
        env=databases.environment(url) | env,
        stdout=subprocess.DEVNULL if quiet else None,
        check=True,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--backend", choices=["fake", "console"], default="fake")
    options = parser.parse_args()

    url = databases.bench_url("clinic_bench_outreach")
    databases.recreate(url)
    databases.migrate(url)
    env = {"OUTREACH_SEND_AT": "00:00", "OUTREACH_REMINDER_OFFSETS_DAYS": "1"}
    print(f"outreach: {options.count} patients with a visit tomorrow in {url}", file=sys.stderr)
    subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            SETUP.replace("sys.argv[1]", str(options.count)),
        ],
        cwd=databases.ROOT,
        env=databases.environment(url),
        check=True,
        stdout=subprocess.DEVNULL,
    )

    provider = None
    if options.backend == "fake":
        from outreach.fake_provider import FakeProvider

        provider = FakeProvider("bench-secret").start()
        env |= {
            "OUTREACH_SMS_BACKEND": "outreach.sms.HttpSmsBackend",
            "OUTREACH_SMS_URL": provider.url,
            "OUTREACH_SMS_SECRET": "bench-secret",
        }
    else:
        env |= {"OUTREACH_SMS_BACKEND": "outreach.sms.ConsoleSmsBackend"}

    queue_seconds = django(url, ["queue_reminders"], env)
    started = time.perf_counter()
    workers = [
        subprocess.Popen(
            [sys.executable, "manage.py", "send_due"],
            cwd=databases.ROOT,
            env=databases.environment(url) | env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(options.workers)
    ]
    sent_by = []
    for worker in workers:
        out, _ = worker.communicate()
        assert worker.returncode == 0
        sent_by.append(int(out.strip().splitlines()[-1].split()[-1]))
    send_seconds = time.perf_counter() - started

    result: dict[str, Any] = {
        "count": options.count,
        "backend": options.backend,
        "database": "postgresql" if databases.is_postgres(url) else "sqlite",
        "workers": options.workers,
        "queue_seconds": round(queue_seconds, 2),
        "send_seconds": round(send_seconds, 2),
        "total_seconds": round(queue_seconds + send_seconds, 2),
        "sent_by_worker": sent_by,
        "sent": sum(sent_by),
    }
    if provider is not None:
        keys = [delivery["key"] for delivery in provider.deliveries]
        result["provider_deliveries"] = len(keys)
        result["provider_distinct_keys"] = len(set(keys))
        provider.stop()
    print(json.dumps(result))


if __name__ == "__main__":
    os.environ.setdefault("DEBUG", "true")
    main()
