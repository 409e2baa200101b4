"""Worker processes started by the test: two ``manage.py send_due`` processes
share one outbox and send each message exactly once; a worker killed between
the provider's answer and the mark leaves no duplicate behind.

The processes read the test's database: on PostgreSQL the test database itself
(the test commits its rows), on SQLite a file copy of the in-memory test
database that is copied back afterwards (sqlite3's backup API)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from outreach import outbox
from outreach.choices import Channel, MessageKind, MessageState
from outreach.models import Message
from tests.outreach.conftest import SECRET, consenting_patient

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db(transaction=True)


@contextmanager
def shared_database(tmp_path: Path) -> Iterator[str]:
    """A DATABASE_URL that worker processes can open, holding the test's rows."""
    settings = connection.settings_dict
    if connection.vendor == "postgresql":
        user = settings["USER"] or "postgres"
        host = settings["HOST"] or "127.0.0.1"
        port = settings["PORT"] or 5432
        yield f"postgres://{user}@{host}:{port}/{settings['NAME']}"
        return
    path = tmp_path / "shared.sqlite3"
    connection.ensure_connection()
    target = sqlite3.connect(path)
    connection.connection.backup(target)
    target.close()
    yield f"sqlite:///{path}"
    source = sqlite3.connect(path)
    source.backup(connection.connection)
    source.close()


def start_worker(database_url: str, provider_url: str, **env: str) -> subprocess.Popen[str]:
    environment = (
        os.environ
        | {
            "DEBUG": "true",
            "DATABASE_URL": database_url,
            "OUTREACH_SMS_BACKEND": "outreach.sms.HttpSmsBackend",
            "OUTREACH_SMS_URL": provider_url,
            "OUTREACH_SMS_SECRET": SECRET,
            "OUTREACH_BATCH_SIZE": "7",
        }
        | env
    )
    return subprocess.Popen(
        [sys.executable, "manage.py", "send_due"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def queue_due(n: int) -> None:
    patients = [consenting_patient(phone=f"+1 555 020 {i:04d}") for i in range(5)]
    outbox.queue(
        [
            Message(
                patient=patients[i % 5],
                kind=MessageKind.VISIT_REMINDER,
                channel=Channel.SMS,
                text=f"Reminder {i}",
                due_at=timezone.now() - timedelta(minutes=1),
                dedupe_key=f"visit:{i}:1d",
            )
            for i in range(n)
        ]
    )


def test_two_worker_processes_send_each_message_exactly_once(provider, tmp_path):
    queue_due(120)
    with shared_database(tmp_path) as url:
        workers = [start_worker(url, provider.url) for _ in range(2)]
        outputs = [worker.communicate(timeout=240) for worker in workers]
    for worker, (_out, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err
    sent_by = [int(out.split()[-1]) for out, _ in outputs]
    assert sum(sent_by) == 120
    states = Counter(Message.objects.values_list("state", flat=True))
    assert states == {MessageState.SENT: 120}
    keys = Counter(delivery["key"] for delivery in provider.deliveries)
    assert len(provider.deliveries) == 120
    assert set(keys.values()) == {1}
    # Each row was handed over once: the provider saw no second request for a key.
    assert provider.requests == 120


def test_a_worker_killed_between_send_and_mark_leaves_no_duplicate(provider, tmp_path):
    queue_due(3)
    with shared_database(tmp_path) as url:
        crashing = start_worker(
            url, provider.url, OUTREACH_CRASH_AFTER_SEND="true", OUTREACH_LEASE_SECONDS="1"
        )
        _, err = crashing.communicate(timeout=120)
        assert crashing.returncode == 17, err  # died by os._exit after the hand-over
        # The provider got the first message; its row is still "sending".
        assert len(provider.deliveries) == 1
        time.sleep(1.5)  # the dead worker's lease runs out
        survivor = start_worker(url, provider.url, OUTREACH_LEASE_SECONDS="1")
        _out, err = survivor.communicate(timeout=120)
        assert survivor.returncode == 0, err
    rows = list(Message.objects.order_by("pk"))
    assert [row.state for row in rows] == [MessageState.SENT] * 3
    # The interrupted message was reconciled from the provider, not sent again.
    assert len(provider.deliveries) == 3
    assert Counter(d["key"] for d in provider.deliveries) == Counter(
        row.idempotency_key for row in rows
    )
    assert rows[0].provider_id == provider.deliveries[0]["id"]


def sent_count(url: str) -> int:
    """Messages sent, read from the workers' database while they run."""
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
            return int(
                db.execute("SELECT COUNT(*) FROM outreach_message WHERE state = 'sent'").fetchone()[
                    0
                ]
            )
    return Message.objects.filter(state=MessageState.SENT).count()


def test_the_django_q2_cluster_runs_the_send_job_from_its_database_broker(provider, tmp_path):
    """manage.py qcluster (the worker make run and production start) takes the
    send job from the ORM broker and sends the due messages once."""
    from django_q.tasks import async_task

    queue_due(10)
    async_task("outreach.worker.send_due")  # into the database broker
    with shared_database(tmp_path) as url:
        cluster = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=os.environ
            | {
                "DEBUG": "true",
                "DATABASE_URL": url,
                "OUTREACH_SMS_BACKEND": "outreach.sms.HttpSmsBackend",
                "OUTREACH_SMS_URL": provider.url,
                "OUTREACH_SMS_SECRET": SECRET,
            },
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and sent_count(url) < 10:
                time.sleep(0.5)
        finally:
            cluster.terminate()
            cluster.communicate(timeout=60)
    assert Counter(Message.objects.values_list("state", flat=True)) == {MessageState.SENT: 10}
    assert len(provider.deliveries) == 10


@pytest.mark.django_db(transaction=False)
def test_migrate_leaves_the_daily_and_the_frequent_schedule():
    from django_q.models import Schedule

    from outreach import worker

    worker.ensure_schedules()  # idempotent: a second call adds nothing
    daily = Schedule.objects.get(name=worker.DAILY)
    frequent = Schedule.objects.get(name=worker.FREQUENT)
    assert (daily.func, daily.schedule_type) == ("outreach.worker.queue_reminders", Schedule.DAILY)
    assert (frequent.func, frequent.minutes) == ("outreach.worker.send_due", 1)
    assert Schedule.objects.filter(func__startswith="outreach.").count() == 2
