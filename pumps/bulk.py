"""Insert many rows and their history records: ``executemany``, or COPY on PostgreSQL.

``bulk_create`` (and simple_history's ``bulk_create_with_history``) spends
most of its time preparing every value of every row in Python: about 0.3 ms
a refill with its history row, which is ten minutes for a clinic's two
million refills. The rows here are read from model instances, or from plain
dicts of field values (cheaper still: no instance), in the order of the
model's concrete fields and handed to the driver, which adapts dates,
decimals and booleans itself; datetimes go through the backend's adapter
(SQLite stores them as naive UTC text). On PostgreSQL the rows are streamed
with COPY, one statement per table. Each record gets a "+" (created)
history record, as ``bulk_create_with_history`` would write, dated ``now``.

Records without ids are inserted without the id column and their ids read
back by a unique key (the database picks them, so concurrent writers never
collide); records with ids keep them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from operator import attrgetter, itemgetter
from typing import Any

from django.db import connection, models

# Rows per executemany call, and key values per IN list (SQLite caps parameters).
ROWS_PER_CALL = 2000
KEYS_PER_QUERY = 500

# A row to insert: a model instance, or its field values by attribute name
# (what the importer builds for two million refills: an instance costs ~50 us).
Record = models.Model | dict[str, Any]


def _column(field: Any) -> str:
    column: str = field.column
    return column


def _insert(table: str, columns: Sequence[str], rows: list[list[Any]]) -> None:
    quote = connection.ops.quote_name
    names = ", ".join(quote(c) for c in columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # COPY streams the rows in one statement: several times faster than
            # executemany's statement per row. psycopg adapts the values itself.
            # On the driver's own cursor, so its errors are wrapped as Django's
            # (an IntegrityError names the row another writer took meanwhile).
            statement = f"COPY {quote(table)} ({names}) FROM STDIN"
            with connection.wrap_database_errors, cursor.cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row(row)
            return
        sql = f"INSERT INTO {quote(table)} ({names}) VALUES ({', '.join(['%s'] * len(columns))})"
        for start in range(0, len(rows), ROWS_PER_CALL):
            cursor.executemany(sql, rows[start : start + ROWS_PER_CALL])


def defaults(model: type[models.Model]) -> dict[str, Any]:
    """Each concrete field's default by attribute name, as a new instance would have it."""
    return {field.attname: field.get_default() for field in model._meta.concrete_fields}


def _rows(
    objs: Sequence[Record],
    fields: Sequence[models.Field[Any, Any]],
    constants: Mapping[str, Any],
) -> tuple[list[str], list[list[Any]]]:
    """The columns, and each record's values in their order; ``constants`` fill
    the fields they name (those columns come last)."""
    read = [field for field in fields if field.attname not in constants]
    names = [field.attname for field in read]
    # One C call reads a whole row: a generator per value took a third of the
    # write time for two million refills.
    get: Any = itemgetter(*names) if objs and isinstance(objs[0], dict) else attrgetter(*names)
    tail = [constants[field.attname] for field in fields if field.attname in constants]
    # Datetimes go through the backend's adapter (SQLite stores naive UTC text).
    adapted = [
        (index, connection.ops.adapt_datetimefield_value)
        for index, field in enumerate(read)
        if isinstance(field, models.DateTimeField)
    ]
    rows = []
    for obj in objs:
        values = get(obj)
        row = [*values, *tail] if len(names) > 1 else [values, *tail]
        for index, adapt in adapted:
            if row[index] is not None:  # most are: a refill nobody signed off
                row[index] = adapt(row[index])
        rows.append(row)
    columns = [_column(field) for field in read]
    columns += [_column(field) for field in fields if field.attname in constants]
    return columns, rows


def _get(obj: Record, name: str) -> Any:
    return obj[name] if isinstance(obj, dict) else getattr(obj, name)


def _pk(obj: Record) -> Any:
    return obj.get("id") if isinstance(obj, dict) else obj.pk


def _set_pk(obj: Record, pk: int) -> None:
    if isinstance(obj, dict):
        obj["id"] = pk
    else:
        obj.pk = pk


def _read_ids(objs: Sequence[Record], model: type[models.Model], key: Sequence[str]) -> None:
    """Set each record's id from the row the database gave it, found by ``key``."""
    first = key[0]
    wanted = {tuple(_get(obj, name) for name in key): obj for obj in objs}
    values = sorted({_get(obj, first) for obj in objs})
    for start in range(0, len(values), KEYS_PER_QUERY):
        chunk = values[start : start + KEYS_PER_QUERY]
        rows = model._default_manager.filter(**{f"{first}__in": chunk}).values_list("pk", *key)
        for pk, *found in rows:
            obj = wanted.get(tuple(found))
            if obj is not None:
                _set_pk(obj, pk)
    missing = [obj for obj in objs if _pk(obj) is None]
    assert not missing, f"{len(missing)} rows of {model.__name__} not read back"


def insert(
    objs: Sequence[Record],
    model: type[models.Model],
    *,
    now: datetime,
    key: Sequence[str] = (),
) -> None:
    """Insert ``objs`` (no history); their ids are set on return.

    A dict record must name every concrete field but the id (start from
    ``defaults(model)``). ``key`` (attribute names of a unique constraint) is
    needed when the records have no ids yet.
    """
    if not objs:
        return
    with_ids = _pk(objs[0]) is not None
    fields = [
        field for field in model._meta.concrete_fields if with_ids or field is not model._meta.pk
    ]
    stamped = [
        field.attname
        for field in fields
        if getattr(field, "auto_now_add", False) or getattr(field, "auto_now", False)
    ]
    for obj in objs:
        for name in stamped:
            if isinstance(obj, dict):
                obj[name] = now
            else:
                setattr(obj, name, now)
    stamp = connection.ops.adapt_datetimefield_value(now)
    columns, rows = _rows(objs, fields, dict.fromkeys(stamped, stamp))
    _insert(model._meta.db_table, columns, rows)
    if not with_ids:
        _read_ids(objs, model, key)


def insert_history(objs: Sequence[Record], model: type[models.Model], *, now: datetime) -> None:
    """A "+" (created) history record of each instance, as it stands now, dated ``now``."""
    if not objs:
        return
    history = model.history.model  # type: ignore[attr-defined]
    fields = [field for field in history._meta.concrete_fields if field is not history._meta.pk]
    constants = {
        "history_date": connection.ops.adapt_datetimefield_value(now),
        "history_change_reason": None,
        "history_type": "+",
        "history_user_id": None,
    }
    columns, rows = _rows(objs, fields, constants)
    _insert(history._meta.db_table, columns, rows)


def insert_with_history(
    objs: Sequence[Record],
    model: type[models.Model],
    *,
    now: datetime,
    key: Sequence[str] = (),
) -> None:
    """``insert`` then ``insert_history``."""
    insert(objs, model, now=now, key=key)
    insert_history(objs, model, now=now)


def update(objs: Sequence[models.Model], model: type[models.Model], names: Sequence[str]) -> None:
    """Write fields ``names`` (attribute names) of each instance, by id."""
    if not objs:
        return
    quote = connection.ops.quote_name
    fields: list[Any] = [model._meta.get_field(name) for name in names]
    assignments = ", ".join(f"{quote(_column(field))} = %s" for field in fields)
    sql = (
        f"UPDATE {quote(model._meta.db_table)} SET {assignments} "
        f"WHERE {quote(_column(model._meta.pk))} = %s"
    )
    _, values = _rows(objs, fields, {})
    rows = [[*row, obj.pk] for row, obj in zip(values, objs, strict=True)]
    with connection.cursor() as cursor:
        for start in range(0, len(rows), ROWS_PER_CALL):
            cursor.executemany(sql, rows[start : start + ROWS_PER_CALL])
