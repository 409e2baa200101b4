"""The clinic's backup file: what goes in it, how it is written and read back.

A backup is gzipped JSON: a header (format, versions, when, counts per
model, the migrations the data fits) and the records of the clinic's apps,
users and groups, their two-step sign-in devices, every history table, the
audit log and the admin's log, in Django's serialization. Foreign keys to
content types and permissions are written as natural keys, since those ids
differ between databases; every other record keeps its primary key, so
references need no rewriting.
Works the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime
import gzip
import json
import tomllib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core import serializers
from django.core.management.color import no_style
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models, transaction
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

FORMAT = "pump-clinic-backup"
FORMAT_VERSION = 1

# Whole apps, so a model added later is backed up without anyone remembering.
# The two-step sign-in devices (issue 13) reference users: without them a restore
# could not empty the users table on PostgreSQL, and staff would lose their apps.
BACKED_UP_APPS = ("auth", "admin", "patients", "pumps", "audit", "otp_totp", "otp_static")
# Recreated by every migrate (post_migrate); referenced by natural key instead.
NOT_BACKED_UP = {("auth", "permission")}
# Shipped by migrations into every new database (catalogue, drugs, policy,
# roles): a restore replaces them without --replace.
SHIPPED = {
    ("auth", "group"),
    ("pumps", "pumpmodel"),
    ("pumps", "historicalpumpmodel"),
    ("pumps", "drug"),
    ("pumps", "historicaldrug"),
    ("pumps", "schedulepolicy"),
    ("pumps", "historicalschedulepolicy"),
}


class LosslessEncoder(DjangoJSONEncoder):
    """DjangoJSONEncoder cuts datetimes and times to milliseconds (as dumpdata
    does); a backup keeps the microseconds, so a restore is exact."""

    def default(self, o: object) -> object:
        if isinstance(o, datetime.datetime | datetime.time):
            text = o.isoformat()
            return text[:-6] + "Z" if text.endswith("+00:00") else text
        return super().default(o)


class BackupError(Exception):
    """A backup file that cannot be restored here, or a database that refuses it."""


def backed_up_models() -> list[type[models.Model]]:
    """In dependency order (users before the records that name them)."""
    found = [
        model
        for label in BACKED_UP_APPS
        for model in apps.get_app_config(label).get_models()
        if (model._meta.app_label, model._meta.model_name) not in NOT_BACKED_UP
    ]
    return serializers.sort_dependencies([(None, found)], allow_cycles=True)


def label(model: type[models.Model]) -> str:
    return model._meta.label_lower


def app_version() -> str:
    try:
        with open(Path(settings.BASE_DIR) / "pyproject.toml", "rb") as file:
            return str(tomllib.load(file)["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


def schema() -> dict[str, str]:
    """The latest applied migration of each backed-up app: the shape the data has."""
    latest: dict[str, str] = {}
    for app, name in MigrationRecorder(connection).applied_migrations():
        if app in BACKED_UP_APPS and name > latest.get(app, ""):
            latest[app] = name
    return latest


def serialize(model: type[models.Model]) -> list[dict[str, Any]]:
    records = model._base_manager.order_by("pk")
    return serializers.serialize("python", records, use_natural_foreign_keys=True)  # type: ignore[return-value]


def write_backup(path: Path) -> dict[str, Any]:
    """Write the whole clinic to ``path``; returns the header. Reads in one transaction,
    so the file is one consistent moment even while staff keep working."""
    with transaction.atomic():
        objects: list[dict[str, Any]] = []
        counts: dict[str, int] = {}
        for model in backed_up_models():
            records = serialize(model)
            counts[label(model)] = len(records)
            objects += records
        header = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "app_version": app_version(),
            "created_at": timezone.now().isoformat(),
            "database": connection.vendor,
            "schema": schema(),
            "counts": counts,
        }
    with gzip.open(path, "wt", encoding="utf-8") as file:
        json.dump({"header": header, "objects": objects}, file, cls=LosslessEncoder)
    return header


def read_backup(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    try:
        with gzip.open(path, "rt", encoding="utf-8") as file:
            content = json.load(file)
        header, objects = content["header"], content["objects"]
    except (OSError, EOFError, ValueError, KeyError, TypeError) as error:
        raise BackupError(f"{path} is not a clinic backup: {error}") from error
    if header.get("format") != FORMAT or header.get("format_version") != FORMAT_VERSION:
        raise BackupError(
            f"{path} is not a clinic backup of format {FORMAT} version {FORMAT_VERSION}."
        )
    if header.get("schema") != schema():
        raise BackupError(
            "The backup's data has another shape than this database "
            f"(backup: {header.get('schema')}, here: {schema()}). Restore it with the app "
            "version that wrote it, then migrate."
        )
    return header, objects


def clinical_counts() -> dict[str, int]:
    """Records that a restore would overwrite: everything but what migrations ship."""
    counts = {}
    for model in backed_up_models():
        if (model._meta.app_label, model._meta.model_name) not in SHIPPED:
            count = model._base_manager.count()
            if count:
                counts[label(model)] = count
    return counts


def _tables(models_: Iterable[type[models.Model]]) -> list[str]:
    tables: set[str] = set()
    for model in models_:
        tables.add(model._meta.db_table)
        for field in model._meta.local_many_to_many:
            tables.add(field.remote_field.through._meta.db_table)  # type: ignore[union-attr]
    return sorted(tables)


def restore_backup(path: Path, *, replace: bool) -> dict[str, Any]:
    """Load ``path`` into this database in one transaction; returns the header.

    Refuses a database that holds clinical records unless ``replace``, which
    first deletes them. Either the whole backup is loaded or nothing changes.
    """
    header, objects = read_backup(path)
    models_ = backed_up_models()
    with transaction.atomic():
        present = clinical_counts()
        if present and not replace:
            listed = ", ".join(f"{name}: {count}" for name, count in present.items())
            raise BackupError(
                f"The database already holds records ({listed}). Restoring would mix two "
                "clinics; use --replace to delete them first, or restore into an empty database."
            )
        with connection.cursor() as cursor, settled_constraints():
            # Raw deletes: no history rows for them, and the audit log's
            # refusal to be deleted guards the app, not a restore.
            for statement in connection.ops.sql_flush(no_style(), _tables(models_)):
                cursor.execute(statement)
        _load(objects)
        with connection.cursor() as cursor:
            for statement in connection.ops.sequence_reset_sql(no_style(), models_):
                cursor.execute(statement)
        loaded = {label(model): model._base_manager.count() for model in models_}
        expected = {name: header["counts"].get(name, 0) for name in loaded}
        if loaded != expected:
            raise BackupError(f"Restored counts {loaded} differ from the backup's {expected}.")
    return header


@contextmanager
def settled_constraints() -> Iterator[None]:
    """PostgreSQL refuses to TRUNCATE a table with deferred foreign-key checks
    still pending in the transaction (when the restore runs inside a larger
    one): run them now, and defer again for the load, whose references may
    point forward (a pump's latest fill is loaded after the pump)."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        yield
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def _load(objects: list[dict[str, Any]]) -> None:
    """As loaddata does: raw saves (no signals' side effects such as history rows),
    references resolved once everything is in, constraints checked at the end."""
    deferred = []
    with connection.constraint_checks_disabled():
        for record in serializers.deserialize("python", objects, handle_forward_references=True):
            record.save()
            if record.deferred_fields:
                deferred.append(record)
        for record in deferred:
            record.save_deferred_fields()
    connection.check_constraints(table_names=_tables(backed_up_models()))
