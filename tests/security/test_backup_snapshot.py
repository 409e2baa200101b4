"""A backup taken while staff keep working is one moment, and restores whole.

Writers run in threads, each with its own database connection, through the
real services (implant_pump, record_fill), while backup_clinic reads; the
backup is then restored over the database they wrote. Committed data is
needed for the threads to see each other, hence transactional tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from io import StringIO
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection, models, transaction
from django.utils import timezone

from backup import archive
from backup.archive import backed_up_models, label, snapshot, verify_backup, write_backup
from patients.models import Patient
from pumps.models import Pump, Refill
from tests.factories import PatientFactory, fill, make_pump
from tests.security.test_concurrent_refills import shipped_data  # noqa: F401 (autouse)

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL: SQLite lets one writer at a time and holds writers back "
    "while the backup reads, so there is no concurrent write to race the backup",
)

WRITERS = 50


@dataclass
class Writer:
    """One member of staff: implants a pump for a new patient, then refills it
    three times, each step its own transaction, until told to stop. Keeps what
    it committed, in order, and when (seconds since the epoch)."""

    index: int
    stop: threading.Event
    committed: list[tuple[float, str, int]] = field(default_factory=list)
    error: BaseException | None = None

    def run(self) -> None:
        today = timezone.localdate()
        try:
            for round_ in range(1000):
                if self.stop.is_set():
                    return
                self.one_patient(f"W{self.index:02d}R{round_:03d}", today)
        except BaseException as error:  # reported, not lost: the test judges it
            self.error = error
        finally:
            connection.close()  # this thread's own connection

    def one_patient(self, name: str, today: date) -> None:
        with transaction.atomic():
            patient = PatientFactory(mrn=name)
            pump = make_pump(patient=patient, serial=name, implant_date=today - timedelta(days=400))
        self.committed.append((time.time(), "pump", pump.pk))
        for days_ago in (30, 20, 10):
            refill = fill(pump, on=today - timedelta(days=days_ago))
            self.committed.append((time.time(), "refill", refill.pk))


def orphans() -> dict[str, int]:
    """Rows whose reference points at nothing (what a torn backup restores)."""
    patients = Patient.objects.filter(pk=models.OuterRef("patient_id"))
    pumps = Pump.objects.filter(pk=models.OuterRef("pump_id"))
    refills = Refill.objects.filter(pk=models.OuterRef("latest_fill_id"))
    return {
        "pumps without their patient": Pump.objects.filter(~models.Exists(patients)).count(),
        "refills without their pump": Refill.objects.filter(~models.Exists(pumps)).count(),
        "pumps whose latest fill is missing": Pump.objects.filter(latest_fill__isnull=False)
        .filter(~models.Exists(refills))
        .count(),
    }


def counts() -> dict[str, int]:
    return {label(model): model._base_manager.count() for model in backed_up_models()}


def restore(file: Path) -> str:
    out = StringIO()
    call_command("restore_clinic", file, "--replace", stdout=out)
    return out.getvalue()


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="isolation levels are PostgreSQL's (SHOW)"
)
def test_the_backup_reads_in_one_repeatable_read_read_only_transaction() -> None:
    with snapshot(), connection.cursor() as cursor:
        cursor.execute("SHOW transaction_isolation")
        assert cursor.fetchone() == ("repeatable read",)
        cursor.execute("SHOW transaction_read_only")
        assert cursor.fetchone() == ("on",)


def test_a_patient_saved_while_the_backup_reads_is_wholly_out_of_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Deterministic: a new patient, pump and fill are committed by another
    connection after the backup has read the patients and before it reads the
    pumps. Read one statement at a time, the pump would be in the file without
    its patient and the restore would fail."""
    today = timezone.localdate()
    fill(make_pump(implant_date=today - timedelta(days=400)), on=today - timedelta(days=20))
    before = counts()
    writer = Writer(index=0, stop=threading.Event())
    thread = threading.Thread(target=lambda: writer.one_patient("LATE01", today))
    real_records = archive.records

    def records_with_a_write_between(model: type[models.Model]) -> Iterator[dict[str, Any]]:
        if model is Pump:
            thread.start()
            # PostgreSQL commits it now, beside the backup. SQLite holds the
            # writer until the backup's read transaction ends.
            thread.join(timeout=10 if connection.vendor == "postgresql" else 0.5)
            assert connection.vendor != "postgresql" or writer.committed, "not written"
        return real_records(model)

    monkeypatch.setattr(archive, "records", records_with_a_write_between)
    file = tmp_path / "clinic.json.gz"
    header = write_backup(file)
    thread.join(timeout=30)
    assert len(writer.committed) == 4, writer.error  # the pump and three fills, all kept
    assert Patient.objects.filter(mrn="LATE01").exists()

    assert header["counts"] == before
    restore(file)
    assert counts() == before
    assert not Patient.objects.filter(mrn="LATE01").exists()
    assert orphans() == dict.fromkeys(orphans(), 0)


def start(writers: list[Writer]) -> list[threading.Thread]:
    threads = [threading.Thread(target=writer.run) for writer in writers]
    for thread in threads:
        thread.start()
    return threads


def wait_for(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the writers did not get going"
        time.sleep(0.01)


def database_url() -> str:
    """The test database, for a backup_clinic of its own."""
    db = connection.settings_dict
    login = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        login += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{login}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


def backup_clinic(file: Path) -> tuple[dict[str, Any], float]:
    """The real command, in a process of its own as in production: threads in
    this process would starve it of Python's lock (fifty writers to one)."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "manage.py", "backup_clinic", str(file)],
        cwd=settings.BASE_DIR,
        env=os.environ | {"DATABASE_URL": database_url()},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return verify_backup(file), time.monotonic() - started


@postgresql_only
def test_a_backup_while_fifty_staff_write_restores_whole_with_no_orphans(
    tmp_path: Path,
) -> None:
    stop = threading.Event()
    writers = [Writer(index=i, stop=stop) for i in range(WRITERS)]
    threads = start(writers)
    try:
        # Every writer has committed something before the backup starts.
        wait_for(lambda: all(writer.committed for writer in writers))
        file = tmp_path / "clinic.json.gz"
        header, seconds = backup_clinic(file)
        ended = time.time()
        time.sleep(0.2)  # and they go on writing after it
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert [writer.error for writer in writers] == [None] * WRITERS
    commits = [commit for writer in writers for commit in writer.committed]
    # The header's time is taken in the snapshot, just after its first read.
    snapshot_at = datetime.fromisoformat(header["created_at"]).timestamp()
    during = sum(snapshot_at < at < ended for at, _, _ in commits)
    assert during > 0, "no write landed while the backup read: nothing was raced"
    assert Refill.objects.count() > header["counts"]["pumps.refill"]

    report = restore(file)
    assert counts() == header["counts"]
    assert orphans() == dict.fromkeys(orphans(), 0)
    assert_one_moment(writers)
    assert_latest_fills_match()
    print(  # shown with -s: the numbers behind docs and the report
        f"\n{WRITERS} writers, {len(commits)} commits, {during} while the backup read; "
        f"backup_clinic {seconds:.2f} s, {file.stat().st_size / 1024:.0f} kB, "
        f"{header['records']} records ({header['counts']['pumps.refill']} refills); "
        f"{report.splitlines()[-1]}"
    )


def assert_one_moment(writers: list[Writer]) -> None:
    """Each writer's commits in the restored data are a prefix of what it
    committed: whatever came before a restored commit is restored too."""
    kept = {
        "pump": set(Pump.objects.values_list("pk", flat=True)),
        "refill": set(Refill.objects.values_list("pk", flat=True)),
    }
    for writer in writers:
        restored = [pk in kept[kind] for _, kind, pk in writer.committed]
        assert restored == sorted(restored, reverse=True), (writer.index, restored)


def assert_latest_fills_match() -> None:
    """Pumps and refills are from the same moment: each pump's stored latest
    fill is its latest refill in the restored data."""
    latest = dict(
        Refill.objects.values("pump_id")
        .annotate(latest=models.Max("pk"))
        .values_list("pump_id", "latest")
    )
    for pump_id, latest_fill_id in Pump.objects.values_list("pk", "latest_fill_id"):
        assert latest_fill_id == latest.get(pump_id), pump_id
