"""The clinic's backup file: what goes in it, how it is written and read back.

A backup is one gzipped file of JSON lines:

1. the header: format and version, the app version, when, the database it
   came from, the migrations the data fits (``schema``) and the count of
   records per model;
2. one record a line, in Django's serialization, model after model in
   dependency order;
3. the end line: the number of records and the SHA-256 of every byte above it
   (header included), so a damaged, truncated or edited file is refused
   before a restore touches the database.

Every record is read in one snapshot (``snapshot``): a backup taken while
staff keep working is one moment, never a pump without its patient.

The two-step sign-in devices (accounts) go with their users. Foreign keys
to content types, permissions, users and groups are written as
natural keys, since those ids may differ between databases; every other
record keeps its primary key, so references need no rewriting. Works the
same on SQLite and PostgreSQL, and a backup from one restores into the other.

Never in a backup, never restored: sessions (a restored session would sign
someone back in), django-axes' sign-in attempts and lockouts (short-lived
state of the server they happened on), permissions and content types
(recreated by every migrate).
"""

from __future__ import annotations

import datetime
import gzip
import hashlib
import json
import os
import tomllib
import zlib
from collections import Counter
from collections.abc import Generator, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core import serializers
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.core.management.color import no_style
from django.core.serializers.base import DeserializationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, connection, models, transaction
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

FORMAT = "pump-clinic-backup"
# 2: JSON lines with an end line carrying the SHA-256 (1 was one JSON document).
FORMAT_VERSION = 2

# Whole apps, so a model added later is backed up without anyone remembering.
# Not django_q (issue 15): the worker's broker queue, task log and schedules are
# its working state, not the clinic's; migrate recreates the two schedules.
# The two-step sign-in devices (issue 13) reference users: without them a restore
# could not empty the users table on PostgreSQL, and staff would lose their apps.
BACKED_UP_APPS = (
    "auth",
    "admin",
    "patients",
    "pumps",
    "care",
    # The outbox (issue 15): what was sent to patients, consent changes, staff tasks.
    "outreach",
    "audit",
    # Staff calendar feeds (issue 15): their tokens reference users, as the devices do.
    "feeds",
    "otp_totp",
    "otp_static",
)
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
# How a file of format version 1 begins (json.dump of {"header": ..., "objects": ...}).
VERSION_1_START = b'{"header": {"format": "pump-clinic-backup", "format_version": 1,'
# Rows fetched and serialized at a time: memory stays flat whatever the size.
CHUNK = 2000
# A header is a few kB; reading a garbage file stops here, not at its end.
HEADER_LIMIT = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"
CHUNK_BYTES = 1 << 20


class LosslessEncoder(DjangoJSONEncoder):
    """DjangoJSONEncoder cuts datetimes and times to milliseconds (as dumpdata
    does); a backup keeps the microseconds, so a restore is exact."""

    def default(self, o: object) -> object:
        if isinstance(o, datetime.datetime | datetime.time):
            text = o.isoformat()
            return text[:-6] + "Z" if text.endswith("+00:00") else text
        return super().default(o)


class BackupError(Exception):
    """A backup file that cannot be restored here, or a database that refuses it.

    The message is always one line (database errors bring several), since
    the commands show it as it is, without a traceback.
    """

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


@dataclass(frozen=True)
class Restored:
    """What a restore did: the file's header, records per model, sessions ended."""

    header: dict[str, Any]
    counts: dict[str, int]
    signed_out: int


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


# --- Writing ------------------------------------------------------------------


@contextmanager
def snapshot() -> Iterator[None]:
    """Every read inside sees the database at one moment, while staff keep writing.

    PostgreSQL's default (READ COMMITTED) gives each statement its own
    snapshot: a patient and pump saved between reading the patients and
    reading the pumps would leave the pump an orphan, and the restore would
    fail. REPEATABLE READ keeps the first statement's snapshot for the whole
    transaction; READ ONLY, since a backup never writes. Neither takes a lock
    that holds staff back. On SQLite the transaction's first read holds the
    database (or, in WAL mode, its snapshot) until the end: writers wait.
    Inside a caller's transaction (the tests') the level can no longer be set
    and the caller's holds; backup_clinic always runs outermost.
    """
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                # Must be the transaction's first statement.
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def _natural_key_relations(model: type[models.Model]) -> list[str]:
    """Foreign keys written as natural keys: the serializer reads each target
    row on its own (a query per record) unless it is joined in."""
    return [
        field.name
        for field in model._meta.concrete_fields
        if field.many_to_one and hasattr(field.related_model, "natural_key")
    ]


def records(model: type[models.Model]) -> Iterator[dict[str, Any]]:
    """The model's records as serialized dicts, by primary key, a chunk at a time."""
    rows = (
        model._base_manager.select_related(*_natural_key_relations(model))
        .order_by("pk")
        .iterator(chunk_size=CHUNK)
    )
    while chunk := list(islice(rows, CHUNK)):
        yield from serializers.serialize("python", chunk, use_natural_foreign_keys=True)


class _LineWriter:
    """Writes one JSON document a line and hashes every line it writes."""

    def __init__(self, file: gzip.GzipFile) -> None:
        self.file = file
        self.digest = hashlib.sha256()

    def write(self, content: object, *, hashed: bool = True) -> None:
        # json escapes control characters: a record never spans two lines.
        line = json.dumps(content, cls=LosslessEncoder).encode() + b"\n"
        if hashed:
            self.digest.update(line)
        self.file.write(line)


def _header(counts: dict[str, int]) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "app_version": app_version(),
        "created_at": timezone.now().isoformat(),
        "database": connection.vendor,
        "schema": schema(),
        "counts": counts,
    }


def _dump(file: gzip.GzipFile) -> dict[str, Any]:
    """Header, records and end line, all read in one snapshot; returns the header
    with the end line's ``sha256``."""
    models_ = backed_up_models()
    with snapshot():
        header = _header({label(model): model._base_manager.count() for model in models_})
        writer = _LineWriter(file)
        writer.write(header)
        written: Counter[str] = Counter()
        for model in models_:
            for record in records(model):
                writer.write(record)
                written[label(model)] += 1
    # Counted first, then read, in the same snapshot: equal, or it was no snapshot.
    if changed := [
        f"{name} counted {count}, read {written[name]}"
        for name, count in header["counts"].items()
        if written[name] != count
    ]:
        raise BackupError(
            f"The database changed while it was read ({'; '.join(changed)}): "
            "the backup is not one moment and was not kept."
        )
    end = {"records": sum(written.values()), "sha256": writer.digest.hexdigest()}
    writer.write(end, hashed=False)
    return header | end


def write_backup(path: Path) -> dict[str, Any]:
    """Write the whole clinic to ``path``; returns the header and checksum.

    Written beside ``path`` first and renamed when complete, so a failed
    backup never leaves a partial file, nor replaces an earlier good one.
    """
    partial = path.with_name(f"{path.name}.partial")
    try:
        with gzip.open(partial, "wb") as file:
            header = _dump(file)
        os.replace(partial, path)
    except OSError as error:
        raise BackupError(f"Cannot write {path}: {error.strerror or error}.") from error
    finally:
        partial.unlink(missing_ok=True)
    return header


# --- Reading ------------------------------------------------------------------


@contextmanager
def _reading(path: Path) -> Iterator[gzip.GzipFile]:
    """The file's decompressed bytes; a broken gzip stream (bad data, a bad CRC,
    cut short) is reported in one line."""
    try:
        with gzip.open(path, "rb") as file:
            yield file
    except (OSError, EOFError, zlib.error) as error:
        if isinstance(error, OSError) and error.errno:  # missing, a folder, no permission
            raise BackupError(f"Cannot read {path}: {error.strerror}.") from error
        raise BackupError(f"{path} is damaged and cannot be restored ({error}).") from error


def _read_header(file: gzip.GzipFile, path: Path) -> tuple[dict[str, Any], bytes]:
    """The header and its bytes (they are hashed too), once it is known to fit here."""
    try:
        line = file.readline(HEADER_LIMIT)
        header = _parse_header(line)
    except (OSError, EOFError, zlib.error, ValueError) as error:
        _refuse_if_damaged(file, path)
        raise BackupError(f"{path} is not a clinic backup.") from error
    if not line:
        raise BackupError(f"{path} is empty: not a clinic backup.")
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        _refuse_if_damaged(file, path)
        raise BackupError(f"{path} is not a clinic backup.")
    if header.get("format_version") != FORMAT_VERSION:
        raise BackupError(
            f"{path} is a clinic backup of format version {header.get('format_version')}; "
            f"this app reads version {FORMAT_VERSION}. Restore it with the app version "
            "that wrote it."
        )
    if header.get("schema") != (here := schema()):
        raise BackupError(
            f"{path} was written for other migrations ({_differences(header.get('schema'), here)})."
            " Restore it with the app version that wrote it, then migrate."
        )
    _refuse_unknown_models(header.get("counts"), path)
    return header, line


def _refuse_if_damaged(file: gzip.GzipFile, path: Path) -> None:
    """A gzip file whose first line is garbage may be a backup with a flipped
    byte (deflate decodes it into garbage before the CRC at the end says so):
    read to the end, and call it damaged if gzip does."""
    with path.open("rb") as raw:
        if raw.read(2) != GZIP_MAGIC:
            return  # not gzip at all: not a backup
    try:
        while file.read(CHUNK_BYTES):
            pass
    except (OSError, EOFError, zlib.error) as error:
        raise BackupError(f"{path} is damaged and cannot be restored ({error}).") from error


def _parse_header(line: bytes) -> object:
    # Version 1 was one JSON document, header first: too long to parse whole.
    if line.startswith(VERSION_1_START):
        return {"format": FORMAT, "format_version": 1}
    return json.loads(line) if line else None


def _differences(written: object, here: dict[str, str]) -> str:
    """Only the apps whose latest migration differs, e.g. ``pumps: backup 0007_x, here 0008_y``."""
    if not isinstance(written, dict):
        return "the backup names none"
    return "; ".join(
        f"{app}: backup {written.get(app, 'none')}, here {here.get(app, 'none')}"
        for app in sorted(set(written) | set(here))
        if written.get(app) != here.get(app)
    )


def _refuse_unknown_models(counts: object, path: Path) -> None:
    if not isinstance(counts, dict) or not all(isinstance(count, int) for count in counts.values()):
        raise BackupError(f"{path} is damaged: its header has no counts.")
    known = {label(model) for model in backed_up_models()}
    if unknown := sorted(set(counts) - known):
        raise BackupError(
            f"{path} holds records of {', '.join(unknown)}, which a restore never loads "
            "(sessions, sign-in lockouts) or this app does not have."
        )


def _records(
    file: gzip.GzipFile, header: dict[str, Any], raw_header: bytes, path: Path
) -> Generator[dict[str, Any], None, dict[str, Any]]:
    """The records after the header, then the end line's checks: the checksum,
    the number of records, and the count of each model against the header.
    Returns the end line."""
    digest = hashlib.sha256(raw_header)
    read: Counter[str] = Counter()
    previous: bytes | None = None  # the end line, once the file ends
    for number, line in enumerate(file, start=1):
        if previous is not None:
            record = _record(previous, number - 1, path)
            digest.update(previous)
            read[record["model"]] += 1
            yield record
        previous = line
    return _check_end(previous, digest.hexdigest(), read, header, path)


def _record(line: bytes, number: int, path: Path) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except ValueError as error:
        raise BackupError(f"{path} is damaged: record {number} is not JSON.") from error
    if not (
        isinstance(record, dict)
        and isinstance(record.get("model"), str)
        and isinstance(record.get("fields"), dict)
    ):
        raise BackupError(f"{path} is damaged: record {number} is not a record.")
    return record


def _check_end(
    line: bytes | None, digest: str, read: Counter[str], header: dict[str, Any], path: Path
) -> dict[str, Any]:
    try:
        end = json.loads(line or b"")
    except ValueError:
        end = None
    if not isinstance(end, dict) or "sha256" not in end:
        raise BackupError(f"{path} is incomplete (it has no end line): cut short?")
    if end["sha256"] != digest:
        raise BackupError(f"{path} is damaged: its SHA-256 checksum does not match.")
    counts = {name: count for name, count in header["counts"].items() if count}
    if end.get("records") != read.total() or dict(read) != counts:
        raise BackupError(f"{path} is damaged: its records do not match its header's counts.")
    return {"records": end["records"], "sha256": end["sha256"]}


def verify_backup(path: Path) -> dict[str, Any]:
    """Read ``path`` through once without touching the clinic's tables: it is
    a backup, fits this database's migrations, and every byte is as written.
    Returns the header with the end line's ``records`` and ``sha256``."""
    with _reading(path) as file:
        header, raw_header = _read_header(file, path)
        end = _drain(_records(file, header, raw_header, path))
    return header | end


def _drain(records: Generator[Any, None, dict[str, Any]]) -> dict[str, Any]:
    """Read every record, keep none; returns what the generator returns."""
    while True:
        try:
            next(records)
        except StopIteration as done:
            return done.value


# --- Restoring ----------------------------------------------------------------


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


def restore_backup(path: Path, *, replace: bool) -> Restored:
    """Load ``path`` into this database in one transaction: all of it or nothing.

    The file is checked whole before the database is touched. Refuses a
    database that holds clinical records unless ``replace``, which first
    deletes them. Ends every session: nobody stays signed in across a restore.
    """
    header = verify_backup(path)
    try:
        with transaction.atomic():
            _refuse_to_mix_clinics(replace)
            _flush(backed_up_models())
            _load_file(path, header)
            loaded = _reset_and_count(backed_up_models())
            expected = {name: header["counts"].get(name, 0) for name in loaded}
            if loaded != expected:
                raise BackupError(f"Restored counts {loaded} differ from the backup's {expected}.")
            signed_out, _ = Session.objects.all().delete()
    except (DatabaseError, DeserializationError, ValidationError, ObjectDoesNotExist) as error:
        raise BackupError(f"{path} was not restored; nothing was changed: {error}") from error
    return Restored(header=header, counts=loaded, signed_out=signed_out)


def _refuse_to_mix_clinics(replace: bool) -> None:
    present = clinical_counts()
    if present and not replace:
        listed = ", ".join(f"{name}: {count}" for name, count in present.items())
        raise BackupError(
            f"The database already holds records ({listed}). Restoring would mix two "
            "clinics; use --replace to delete them first, or restore into an empty database."
        )


def _flush(models_: list[type[models.Model]]) -> None:
    with connection.cursor() as cursor, settled_constraints():
        # Raw deletes: no history rows for them, and the audit log's
        # refusal to be deleted guards the app, not a restore.
        for statement in connection.ops.sql_flush(no_style(), _tables(models_)):
            cursor.execute(statement)


def _load_file(path: Path, header: dict[str, Any]) -> None:
    """Read the file again as it loads, checking it again: a file changed since
    it was verified fails at its end, inside the transaction, which rolls back."""
    with _reading(path) as file:
        again, raw_header = _read_header(file, path)
        if any(header.get(key) != value for key, value in again.items()):
            raise BackupError(f"{path} changed while it was being restored.")
        _load(_records(file, header, raw_header, path))


def _reset_and_count(models_: list[type[models.Model]]) -> dict[str, int]:
    """Sequences past the restored ids; the records now in each table."""
    with connection.cursor() as cursor:
        for statement in connection.ops.sequence_reset_sql(no_style(), models_):
            cursor.execute(statement)
    return {label(model): model._base_manager.count() for model in models_}


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


def _load(objects: Iterable[dict[str, Any]]) -> None:
    """As loaddata does: raw saves (no signals' side effects such as history rows),
    references resolved once everything is in, constraints checked at the end."""
    deferred = []
    with connection.constraint_checks_disabled():
        for record in serializers.deserialize("python", objects, handle_forward_references=True):
            record.save(force_insert=True)  # the tables were just emptied: no UPDATE first
            if record.deferred_fields:
                deferred.append(record)
        for record in deferred:
            record.save_deferred_fields()
    connection.check_constraints(table_names=_tables(backed_up_models()))
