"""backup_clinic and restore_clinic: the demo clinic round-trips record for record,
and a damaged or mismatched file is refused in one line, changing nothing.

The snapshot under concurrent writers is tests/security/test_backup_snapshot.py.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.core import serializers
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder
from django.db.models import Model
from django.test import Client, RequestFactory
from django.test.utils import override_settings

from audit.middleware import record_view
from audit.models import AuditEntry
from backup.archive import (
    BackupError,
    backed_up_models,
    label,
    schema,
    settled_constraints,
    verify_backup,
)
from core.roles import NURSE
from demo.data import delete_clinical_data
from patients.models import Patient
from pumps.models import Pump, Refill
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def snapshot() -> dict[str, list[dict[str, Any]]]:
    """Every field of every backed-up record (content types and permissions by
    natural key, since a fresh database numbers them anew)."""
    return {
        label(model): serializers.serialize(
            "python", model._base_manager.order_by("pk"), use_natural_foreign_keys=True
        )
        for model in backed_up_models()
    }


@pytest.fixture
def demo_clinic(db: None) -> None:
    """The demo clinic, with something in every log: a view and an admin edit."""
    with override_settings(DEBUG=True):
        call_command("seed_demo", stdout=StringIO())
    patient = Patient.objects.order_by("pk").first()
    admin_user = get_user_model().objects.get(username="admin")
    assert patient is not None
    request = RequestFactory().get(f"/patients/{patient.pk}/", REMOTE_ADDR="10.9.8.7")
    request.user = admin_user
    record_view(request, "patients:detail", {"pk": patient.pk})
    LogEntry.objects.log_actions(user_id=admin_user.pk, queryset=[patient], action_flag=CHANGE)


def test_the_demo_clinic_round_trips_record_for_record(demo_clinic: None, tmp_path: Path) -> None:
    before = snapshot()
    file = tmp_path / "clinic.json.gz"
    call_command("backup_clinic", file, stdout=StringIO())
    header = verify_backup(file)
    assert header["counts"] == {name: len(records) for name, records in before.items()}
    assert header["counts"]["patients.patient"] >= 50
    assert header["counts"]["audit.auditentry"] == 1
    assert header["counts"]["admin.logentry"] == 1

    with settled_constraints():  # flush truncates; see the function
        call_command("flush", interactive=False, verbosity=0)
    assert Patient.objects.count() == 0
    assert AuditEntry.objects.count() == 0
    out = StringIO()
    call_command("restore_clinic", file, stdout=out)

    after = snapshot()
    for name in before:
        assert len(after[name]) == len(before[name]), name
        for old, new in zip(before[name], after[name], strict=True):
            differing = {
                field: (value, new["fields"].get(field))
                for field, value in old["fields"].items()
                if new["fields"].get(field) != value
            }
            assert not differing, f"{name} pk={old['pk']} differs after the restore: {differing}"
    total = sum(len(records) for records in before.values())
    assert f"Restored {total} records" in out.getvalue()


def test_a_restore_refuses_a_clinic_unless_told_to_replace_it(
    demo_clinic: None, tmp_path: Path
) -> None:
    file = tmp_path / "clinic.json.gz"
    call_command("backup_clinic", file, stdout=StringIO())
    Refill.objects.filter(pk=Refill.objects.order_by("pk").values("pk")[:1]).update(notes="new")
    with pytest.raises(CommandError, match="already holds records"):
        call_command("restore_clinic", file, stdout=StringIO())
    assert Refill.objects.filter(notes="new").count() == 1
    call_command("restore_clinic", file, "--replace", stdout=StringIO())
    assert Refill.objects.filter(notes="new").count() == 0


def test_a_fresh_database_with_only_the_shipped_catalogue_takes_a_restore(
    demo_clinic: None, tmp_path: Path
) -> None:
    file = tmp_path / "clinic.json.gz"
    call_command("backup_clinic", file, stdout=StringIO())
    before = snapshot()
    delete_clinical_data()
    LogEntry.objects.all().delete()
    get_user_model().objects.all().delete()
    with connection.cursor() as cursor:  # the log refuses deletes; a new database has none
        cursor.execute(f"DELETE FROM {AuditEntry._meta.db_table}")
    call_command("restore_clinic", file, stdout=StringIO())
    assert snapshot() == before


# --- Damaged and mismatched files ----------------------------------------------


def lines_of(file: Path) -> list[bytes]:
    return gzip.decompress(file.read_bytes()).splitlines(keepends=True)


def sealed(lines: list[bytes]) -> bytes:
    """Header and records with a correct end line, as if backup_clinic wrote them:
    a file the checksum alone cannot refuse."""
    end = {"records": len(lines) - 1, "sha256": hashlib.sha256(b"".join(lines)).hexdigest()}
    return gzip.compress(b"".join(lines) + json.dumps(end).encode() + b"\n")


def with_header(file: Path, **changes: Any) -> bytes:
    header, *records, _end = lines_of(file)
    return sealed([json.dumps(json.loads(header) | changes).encode() + b"\n", *records])


def flipped(data: bytes, at: int) -> bytes:
    damaged = bytearray(data)
    damaged[at] ^= 0x10
    return bytes(damaged)


def edited_record(file: Path) -> bytes:
    """A patient's record number changed, the end line left as it was."""
    lines = lines_of(file)
    index = next(i for i, line in enumerate(lines) if b'"SEC0001"' in line)
    lines[index] = lines[index].replace(b'"SEC0001"', b'"SEC0009"')
    return gzip.compress(b"".join(lines))


def smuggled_session(file: Path) -> bytes:
    """A session row added with its count and a correct checksum: refused all the same."""
    header, *records, _end = lines_of(file)
    head = json.loads(header)
    head["counts"]["sessions.session"] = 1
    session = {
        "model": "sessions.session",
        "pk": "k" * 32,
        "fields": {"session_data": "x", "expire_date": "2100-01-01T00:00:00Z"},
    }
    return sealed(
        [json.dumps(head).encode() + b"\n", *records, json.dumps(session).encode() + b"\n"]
    )


# As the first backup_clinic wrote it: one JSON document.
VERSION_1_HEADER = {"format": "pump-clinic-backup", "format_version": 1, "app_version": "0.1.0"}

DAMAGE: dict[str, tuple[Callable[[Path], bytes], str]] = {
    "empty file": (lambda _: b"", "is empty: not a clinic backup"),
    "not an archive": (lambda _: b"mrn,serial\nA1,SN1\n", "is not a clinic backup"),
    "gzip, not a backup": (lambda _: gzip.compress(b"\x00\xff" * 500), "not a clinic backup"),
    "another format": (
        lambda _: gzip.compress(b'{"format": "something else"}\n'),
        "is not a clinic backup",
    ),
    "truncated": (lambda f: f.read_bytes()[: f.stat().st_size // 2], "is damaged"),
    "cut at a line": (
        lambda f: gzip.compress(b"".join(lines_of(f)[:-1])),
        "is incomplete",
    ),
    "flipped byte": (lambda f: flipped(f.read_bytes(), f.stat().st_size // 2), "is damaged"),
    "flipped byte in the gzip trailer": (lambda f: flipped(f.read_bytes(), -6), "is damaged"),
    "edited record": (edited_record, "SHA-256 checksum does not match"),
    "a version 1 backup": (
        lambda _: gzip.compress(
            json.dumps({"header": VERSION_1_HEADER, "objects": [{"model": "x"}] * 9}).encode()
        ),
        "format version 1; this app reads version 2",
    ),
    "older format": (
        lambda f: with_header(f, format_version=1),
        "format version 1; this app reads version 2",
    ),
    "other migrations": (
        lambda f: with_header(f, schema=schema() | {"pumps": "0001_initial"}),
        "was written for other migrations (pumps: backup 0001_initial, here 00",
    ),
    "a session in it": (smuggled_session, "sessions.session, which a restore never loads"),
}


@pytest.fixture
def small_backup(clinic_objects: dict[str, Any], tmp_path: Path) -> Path:
    file = tmp_path / "clinic.json.gz"
    call_command("backup_clinic", file, stdout=StringIO())
    return file


@pytest.mark.parametrize("damage", DAMAGE.keys())
def test_a_damaged_or_mismatched_file_is_refused_in_one_line_and_changes_nothing(
    small_backup: Path, tmp_path: Path, damage: str
) -> None:
    make, message = DAMAGE[damage]
    bad = tmp_path / "bad.json.gz"
    bad.write_bytes(make(small_backup))
    before = snapshot()
    with pytest.raises(CommandError) as refused:
        call_command("restore_clinic", bad, "--replace", stdout=StringIO())
    assert message in str(refused.value)
    assert "\n" not in str(refused.value)
    assert snapshot() == before


def test_the_command_line_shows_one_line_and_exits_1_not_a_traceback(tmp_path: Path) -> None:
    """Refused before any table is read: an empty database file is enough."""
    bad = tmp_path / "bad.json.gz"
    bad.write_bytes(b"not a backup")
    env = os.environ | {"DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}"}
    done = subprocess.run(
        [sys.executable, "manage.py", "restore_clinic", str(bad)],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr == f"CommandError: {bad} is not a clinic backup.\n"
    assert done.stdout == ""


def test_the_file_names_its_migrations_counts_and_checksum(small_backup: Path) -> None:
    header = verify_backup(small_backup)
    assert header["format_version"] == 2
    assert (
        header["schema"]["pumps"]
        == MigrationRecorder.Migration.objects.filter(app="pumps").latest("name").name
    )
    assert header["counts"]["patients.patient"] == Patient.objects.count() == 3
    assert header["counts"]["pumps.refill"] == Refill.objects.count()
    end = json.loads(lines_of(small_backup)[-1])
    assert end["sha256"] == hashlib.sha256(b"".join(lines_of(small_backup)[:-1])).hexdigest()
    assert end["records"] == sum(header["counts"].values())


def test_sessions_and_lockouts_are_never_backed_up_and_a_restore_signs_everyone_out(
    clinic_objects: dict[str, Any], tmp_path: Path
) -> None:
    signed_in = Client()
    signed_in.force_login(UserFactory(username="night-nurse", roles=[NURSE]))
    assert signed_in.get("/").status_code == 200
    AccessAttempt.objects.create(
        username="night-nurse", ip_address="10.0.0.9", failures_since_start=5
    )
    file = tmp_path / "with-session.json.gz"
    call_command("backup_clinic", file, stdout=StringIO())
    models_in_file = {json.loads(line).get("model") for line in lines_of(file)[1:-1]}
    assert not {name for name in models_in_file if name.startswith(("sessions.", "axes."))}

    out = StringIO()
    call_command("restore_clinic", file, "--replace", stdout=out)
    assert Session.objects.count() == 0
    assert "Ended 1 sessions" in out.getvalue()
    # The user is back, but must sign in again: the old cookie opens nothing.
    assert get_user_model().objects.filter(username="night-nurse").exists()
    assert signed_in.get("/").status_code == 302
    # Lockouts are the live server's own short-lived state: left as they are.
    assert AccessAttempt.objects.filter(username="night-nurse").count() == 1


def test_a_restore_prints_the_count_of_each_table(small_backup: Path) -> None:
    out = StringIO()
    call_command("restore_clinic", small_backup, "--replace", stdout=out)
    lines = out.getvalue().splitlines()
    assert any(line.split() == ["patients.patient", "3"] for line in lines), lines
    assert any(line.split() == ["pumps.pump", str(Pump.objects.count())] for line in lines)


def test_a_failed_backup_leaves_no_file_and_keeps_the_previous_one(
    small_backup: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = small_backup.read_bytes()

    def broken(model: type[Model]) -> Iterator[dict[str, Any]]:
        raise BackupError("the database went away")
        yield  # a generator, as records() is

    monkeypatch.setattr("backup.archive.records", broken)
    with pytest.raises(CommandError, match="the database went away"):
        call_command("backup_clinic", small_backup, stdout=StringIO())
    assert small_backup.read_bytes() == good
    assert [file.name for file in small_backup.parent.iterdir()] == [small_backup.name]
    with pytest.raises(CommandError, match="Cannot write"):
        call_command("backup_clinic", small_backup.parent / "no-such-dir" / "x.gz")


# What a backup leaves out on purpose (backup/archive.py says why for each).
NEVER_BACKED_UP = {
    "auth.permission",
    "contenttypes.contenttype",
    "sessions.session",
    "axes.accessattempt",
    "axes.accessattemptexpiration",
    "axes.accessfailurelog",
    "axes.accesslog",
    # django-q2's broker queue, task log and schedules (issue 15): the worker's
    # working state, not the clinic's; migrate recreates the two schedules.
    "django_q.ormq",
    "django_q.task",
    "django_q.success",
    "django_q.failure",
    "django_q.schedule",
}


def test_every_model_is_backed_up_unless_named_as_left_out() -> None:
    """A new app's records (the care app's visits, say) cannot be forgotten."""
    from django.apps import apps

    backed_up = {label(model) for model in backed_up_models()}
    every = {model._meta.label_lower for model in apps.get_models()}
    assert every - backed_up == NEVER_BACKED_UP
    assert {"care.appointment", "care.trial", "care.historicaltrial"} <= backed_up
