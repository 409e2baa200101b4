"""backup_clinic and restore_clinic: the demo clinic round-trips record for record."""

from __future__ import annotations

import gzip
import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth import get_user_model
from django.core import serializers
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import RequestFactory
from django.test.utils import override_settings

from audit.middleware import record_view
from audit.models import AuditEntry
from backup.archive import backed_up_models, label, read_backup, settled_constraints
from demo.data import delete_clinical_data
from patients.models import Patient
from pumps.models import Refill

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
    header, _ = read_backup(file)
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


@pytest.mark.parametrize("content", [b"", b"not gzip", None])
def test_a_file_that_is_not_a_backup_is_refused_and_changes_nothing(
    clinic_objects: dict[str, Any], tmp_path: Path, content: bytes | None
) -> None:
    file = tmp_path / "bad.json.gz"
    if content is None:
        with gzip.open(file, "wt") as handle:
            json.dump({"header": {"format": "something else"}, "objects": []}, handle)
    else:
        file.write_bytes(content)
    before = snapshot()
    with pytest.raises(CommandError, match="not a clinic backup"):
        call_command("restore_clinic", file, "--replace", stdout=StringIO())
    assert snapshot() == before
