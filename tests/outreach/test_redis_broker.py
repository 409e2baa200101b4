"""django-q2's Redis broker (issue 15, item 4): Q_REDIS_URL switches the
broker from the database to Redis, and two ``manage.py qcluster`` processes
taking the send job from one Redis queue send each due message exactly once.

The Redis server is ``CLINIC_TEST_REDIS_URL`` (default db 9 on the loopback);
the test's queue has a cluster name of its own (``Q_CLUSTER_NAME``), and only
its keys are deleted, before and after. Without a reachable Redis the test is
skipped, except under ``CI=true``, where it fails (CI machines run Redis)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest

from outreach.choices import MessageState
from outreach.models import Message
from tests.outreach.conftest import SECRET
from tests.outreach.test_workers import queue_due, sent_count, shared_database

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("CLINIC_TEST_REDIS_URL", "redis://127.0.0.1:6379/9")
SEND_DUE = "outreach.worker.send_due"


def broker_of(**env: str) -> dict[str, object]:
    """The broker a manage.py process builds from the settings, under ``env``."""
    script = (
        "import json; from django.conf import settings; "
        "from django_q.brokers import get_broker; b = get_broker(); "
        "print(json.dumps({'class': type(b).__module__ + '.' + type(b).__name__, "
        "'list_key': b.list_key, 'keys': sorted(settings.Q_CLUSTER), "
        "'redis': settings.Q_CLUSTER.get('redis'), 'orm': settings.Q_CLUSTER.get('orm')}))"
    )
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"Q_REDIS_URL", "Q_CLUSTER_NAME"}
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        # The ORM broker opens its database: an in-memory one, whatever the test runs on.
        env=environment | {"DEBUG": "true", "DATABASE_URL": "sqlite://:memory:"} | env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_without_q_redis_url_the_broker_is_the_database():
    broker = broker_of()
    assert broker["class"] == "django_q.brokers.orm.ORM"
    assert (broker["orm"], broker["redis"]) == ("default", None)
    assert broker["list_key"] == "clinic"


def test_q_redis_url_switches_the_broker_to_redis_with_no_orm_key():
    broker = broker_of(Q_REDIS_URL="redis://redis.example.org:6380/3")
    assert broker["class"] == "django_q.brokers.redis_broker.Redis"
    assert broker["redis"] == "redis://redis.example.org:6380/3"
    assert "orm" not in broker["keys"]  # django-q2 would pick the ORM broker first
    assert broker["list_key"] == "django_q:clinic:q"


def test_a_cluster_name_from_the_environment_names_the_redis_queue():
    """``Q_CLUSTER_NAME`` keeps two clusters apart on one Redis server; without
    ALT_CLUSTERS in the settings django-q2 failed with KeyError."""
    broker = broker_of(Q_REDIS_URL="redis://127.0.0.1:6379/9", Q_CLUSTER_NAME="clinic-two")
    assert broker["class"] == "django_q.brokers.redis_broker.Redis"
    assert broker["list_key"] == "django_q:clinic-two:q"


@pytest.fixture
def redis_queue() -> Iterator[tuple[object, str]]:
    """A connection to the test's Redis db and a cluster name used by no one else."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=10)
    try:
        client.ping()
    except redis.RedisError as error:
        reason = f"Redis at {REDIS_URL} is unreachable ({error})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must run the Redis broker test")
        pytest.skip(reason)
    name = f"clinic-test-{uuid4().hex[:12]}"

    def clean() -> None:
        keys = list(client.scan_iter(match=f"django_q:{name}:*"))
        if keys:
            client.delete(*keys)

    clean()
    yield client, name
    clean()
    client.close()


def start_cluster(
    database_url: str, provider_url: str, name: str, log: Path
) -> subprocess.Popen[str]:
    environment = os.environ | {
        "DEBUG": "true",
        "DATABASE_URL": database_url,
        "Q_REDIS_URL": REDIS_URL,
        "Q_CLUSTER_NAME": name,
        "OUTREACH_SMS_BACKEND": "outreach.sms.HttpSmsBackend",
        "OUTREACH_SMS_URL": provider_url,
        "OUTREACH_SMS_SECRET": SECRET,
        "OUTREACH_BATCH_SIZE": "7",
        "LOG_LEVEL": "INFO",  # django-q2's "Q Cluster ... running." tells the test it is up
    }
    with log.open("w") as stderr:
        return subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            text=True,
        )


def finished_send_jobs(url: str) -> int:
    """Send jobs the clusters finished, read from their database while they run."""
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
            return int(
                db.execute(
                    "SELECT COUNT(*) FROM django_q_task WHERE func = ?", (SEND_DUE,)
                ).fetchone()[0]
            )
    from django_q.models import Task

    return Task.objects.filter(func=SEND_DUE).count()


@pytest.mark.django_db(transaction=True)
def test_two_clusters_on_the_redis_broker_send_each_due_message_once(
    provider, tmp_path, redis_queue, monkeypatch
):
    from django_q.brokers import redis_broker
    from django_q.conf import Conf
    from django_q.models import OrmQ, Schedule, Task
    from django_q.tasks import async_task

    client, name = redis_queue
    queue_key = f"django_q:{name}:q"
    Schedule.objects.all().delete()  # only the jobs this test puts on the queue run
    queue_due(60)
    with shared_database(tmp_path) as url:
        logs = [tmp_path / f"cluster-{i}.log" for i in range(2)]
        clusters = [start_cluster(url, provider.url, name, log) for log in logs]
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and not all(
                "running" in log.read_text() for log in logs
            ):
                assert all(cluster.poll() is None for cluster in clusters), [
                    log.read_text() for log in logs
                ]
                time.sleep(0.25)
            assert all("running" in log.read_text() for log in logs), [
                log.read_text() for log in logs
            ]
            # Four send jobs on the clusters' Redis queue (this process's broker is the
            # database: its Redis broker is pointed at the clusters' server by hand).
            monkeypatch.setattr(Conf, "REDIS", REDIS_URL)
            broker = redis_broker.Redis(list_key=name)
            for _ in range(4):
                async_task(SEND_DUE, broker=broker)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and (
                finished_send_jobs(url) < 4 or sent_count(url) < 60
            ):
                time.sleep(0.5)
            assert client.llen(queue_key) == 0  # the clusters took every job
        finally:
            for cluster in clusters:
                cluster.terminate()
            for cluster in clusters:
                cluster.wait(timeout=60)
    tasks = list(Task.objects.filter(func=SEND_DUE).values_list("success", "result"))
    assert len(tasks) == 4, [log.read_text() for log in logs]
    assert all(ok for ok, _ in tasks), tasks
    assert sum(result["sent"] for _, result in tasks) == 60
    assert Counter(Message.objects.values_list("state", flat=True)) == {MessageState.SENT: 60}
    assert len(provider.deliveries) == 60
    assert set(Counter(d["key"] for d in provider.deliveries).values()) == {1}
    assert provider.requests == 60
    assert not OrmQ.objects.exists()  # nothing went through the database broker
