"""Read statements compiled once per process, then run with one id (issue 11).

Building and compiling a queryset costs 0.3 to 1 ms of CPU however few rows it
reads; running the SQL and making its rows, a fraction of that. The patient
page reads a dozen statements whose SQL differs only by the patient's id. Such
a statement is built and compiled once per process and database, with a
placeholder id, and run with the id put in its place. Its rows become model
instances (with select_related and annotations) or tuples (values_list) the
way QuerySet makes them (django.db.models.query.ModelIterable,
ValuesListIterable); tests/test_compiled.py compares them with the queryset's.
Only the SQL text and the compiler's column map are kept: every call reads
fresh rows. care/worklist.py compiles the worklist's rows the same way.

Not for a statement whose SQL depends on anything but the id (the day, the
time zone, a setting...): it would be frozen at the first call.

On PostgreSQL, where psycopg binds parameters on the client (Django's default),
the other parameters are written into the SQL once, as psycopg writes them on
every run (``written_in``): it would otherwise parse the statement and quote
each parameter again on every run, and caches neither for a statement of more
than 4 KB or 50 parameters. The worklist's page statement has about 1,000
(about 4 ms of CPU a page).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper
from django.db.models import Model, QuerySet
from django.db.models.query import ModelIterable, ValuesListIterable, get_related_populators
from django.db.models.sql.compiler import SQLCompiler
from psycopg.types.numeric import Int8

_PLACEHOLDER = -918273645  # no record's id is negative: a parameter only the id gives
_LARGEST_ID = 2**63 - 1  # a bigger number is no record's id (and SQLite refuses it)
_MARK = -(10**17)  # _MARK - i marks the i-th id's place in SQL written out (no id is negative)


def binds_client_side(alias: str) -> bool:
    """Whether the database's driver writes parameters into the SQL it sends:
    psycopg's client-side cursors, Django's default on PostgreSQL."""
    connection = connections[alias]
    return connection.vendor == "postgresql" and not connection.settings_dict["OPTIONS"].get(
        "server_side_binding"
    )


def written_in(alias: str, sql: str, params: Sequence[Any]) -> tuple[str, tuple[Any, ...] | None]:
    """``sql`` and ``params`` for ``cursor.execute``: on a client-side binding
    database, the SQL with the parameters written in as the driver itself writes
    them on each run (psycopg's ``mogrify``), and no parameters; else unchanged.

    For a statement kept and run many times: its parameters are quoted once.
    """
    if not binds_client_side(alias):
        return sql, tuple(params)
    written: str = connections[alias].ops.compose_sql(sql, params)  # type: ignore[attr-defined]
    return written, None


@dataclass(frozen=True)
class Statement:
    compiler: SQLCompiler  # compiled: its select, klass_info and converters are set
    alias: str  # the database
    sql: str
    params: tuple[Any, ...]
    positions: tuple[int, ...]  # where the id (or each id of rows_of_ids) goes in params
    as_models: bool  # model instances, else tuples

    def rows(self, pk: int) -> list[Any]:
        if not 0 <= pk <= _LARGEST_ID:
            return []
        return self._run([pk] * len(self.positions))

    def rows_of_ids(self, ids: list[int]) -> list[Any]:
        """For a statement of several id slots (``pk__in`` of placeholders): ``ids`` in
        the slots (at most as many), the first repeated in the slots left over."""
        if not ids:
            return []
        return self._run((ids + ids[:1] * len(self.positions))[: len(self.positions)])

    def _run(self, ids: list[int]) -> list[Any]:
        if self.prepared_sql is not None:
            # The ids as bigint whatever their size: one prepared statement serves all.
            bound = [Int8(int(pk)) for pk in ids]
            return run(
                self.compiler,
                self.alias,
                self.prepared_sql,
                bound,
                as_models=self.as_models,
                prepared=True,
            )
        if self.written_out is not None:
            # Ids are written as integers: int() admits nothing else into the SQL.
            pieces = [self.written_out[0]]
            for pk, piece in zip(ids, self.written_out[1:], strict=True):
                pieces += [str(int(pk)), piece]
            return run(self.compiler, self.alias, "".join(pieces), None, as_models=self.as_models)
        params = list(self.params)
        for position, pk in zip(self.positions, ids, strict=True):
            params[position] = pk
        return run(self.compiler, self.alias, self.sql, params, as_models=self.as_models)

    @cached_property
    def written_out(self) -> tuple[str, ...] | None:
        """On a client-side binding database: the SQL with every other parameter written
        in (``written_in``), split at the ids' places; else None (parameters bound)."""
        if not binds_client_side(self.alias):
            return None
        params = list(self.params)
        marks = [_MARK - i for i in range(len(self.positions))]
        for position, mark in zip(self.positions, marks, strict=True):
            params[position] = mark
        sql, _ = written_in(self.alias, self.sql, params)
        # psycopg writes a negative number after a space (so "-" never makes "--");
        # the space stays, before whatever id is written there.
        places = [f" {mark}" for mark in marks]
        if any(sql.count(place) != 1 for place in places):
            raise AssertionError("an id's place is not one parameter")  # never seen
        pieces = []
        for place in places:
            before, _, sql = sql.partition(place)
            pieces.append(f"{before} ")
        return (*pieces, sql)

    @cached_property
    def prepared_sql(self) -> str | None:
        """Where statements are prepared (``prepares``): the SQL written out, with a
        server-side parameter at each id's place; else None."""
        if self.written_out is None or not prepares(self.alias):
            return None
        # Written-in text may hold "%" (a LIKE pattern): doubled, it stays text.
        return "%s".join(piece.replace("%", "%%") for piece in self.written_out)


def prepares(alias: str) -> bool:
    """Whether compiled statements run as prepared statements on ``alias``.

    On PostgreSQL, when the database's OPTIONS set psycopg's ``prepare_threshold``
    (clinic/settings.py: on by default; off behind a pooler that cannot keep
    them): the server then parses and plans a statement once per connection, not
    on every run (the worklist's rows: about 1.2 ms of the server's CPU a page).
    Django's own cursors bind on the client and are never prepared; only these
    statements, run on a server-side binding cursor, are.
    """
    connection = connections[alias]
    return (
        connection.vendor == "postgresql"
        and connection.settings_dict["OPTIONS"].get("prepare_threshold") is not None
    )


def _cursor(alias: str, *, prepared: bool) -> Any:
    """This thread's cursor on ``alias`` (a statement may have been compiled in another
    thread); with ``prepared``, a server-side binding one, which psycopg prepares."""
    connection = connections[alias]
    if not prepared:
        return connection.cursor()
    from django.db.backends.postgresql import base as postgresql

    # As Django's own cursor() does: a persistent connection the server dropped is
    # replaced (CONN_HEALTH_CHECKS), whichever statement of a request comes first.
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    # (The stubs know psycopg 2's cursors only: typed loosely here.)
    server_binding: Any = postgresql.ServerBindingCursor
    raw = server_binding(connection.connection)
    # Wrapped as Django wraps its own: errors translated, queries logged when asked.
    if connection.queries_logged:
        return _PreparedDebugWrapper(raw, connection)
    return connection.make_cursor(raw)  # type: ignore[arg-type]


class _PreparedDebugWrapper(CursorDebugWrapper):
    """Django's query log for a prepared statement's cursor: Django reads the SQL it
    logs back from a client-side binding cursor, and a server-side one holds none,
    so the statement is logged as psycopg would write it with its parameters."""

    def execute(self, sql: Any, params: Any = None) -> Any:
        logged = self.db.ops.compose_sql(sql, params) if params else sql  # type: ignore[attr-defined]
        with self.debug_sql(logged):
            # CursorWrapper's: database errors as Django's, execute wrappers applied.
            return CursorWrapper.execute(self, sql, params)


def fetch(alias: str, sql: str, params: Sequence[Any] | None) -> list[tuple[Any, ...]]:
    """The rows of a statement its caller keeps and runs many times (SQL from
    ``written_in``): prepared where ``prepares(alias)``."""
    with _cursor(alias, prepared=prepares(alias)) as cursor:
        cursor.execute(sql, params)
        return [tuple(row) for row in cursor.fetchall()]


def run(
    compiler: SQLCompiler,
    alias: str,
    sql: str,
    params: Sequence[Any] | None,
    *,
    as_models: bool = True,
    prepared: bool = False,
) -> list[Any]:
    """Run a compiled statement; its rows as the queryset would give them.

    Model instances (with select_related and annotations), or tuples.
    """
    with _cursor(alias, prepared=prepared) as cursor:
        cursor.execute(sql, params)
        fetched = cursor.fetchall()
    # Converters applied as for the ORM (dates on SQLite, decimals...).
    rows = compiler.results_iter([[row[: compiler.col_count] for row in fetched]])
    if not as_models:
        return [tuple(row) for row in rows]
    # As ModelIterable does: the model's columns, the related models'
    # (select_related), then the annotations.
    select, klass_info = compiler.select, compiler.klass_info
    assert klass_info is not None
    model: type[Model] = klass_info["model"]
    start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
    names = [column[0].target.attname for column in select[start:end]]
    # (django-stubs describe Django 6's signature, with a fetch mode; this is 5.2's.)
    populators = get_related_populators(klass_info, select, alias)  # type: ignore[call-arg]
    instances = []
    for row in rows:
        instance = model.from_db(alias, names, row[start:end])
        for populator in populators:
            populator.populate(row, instance)
        for name, position in compiler.annotation_col_map.items():
            setattr(instance, name, row[position])
        instances.append(instance)
    return instances


@lru_cache(maxsize=128)
def compiled(build: Callable[[int], QuerySet[Any]], alias: str = DEFAULT_DB_ALIAS) -> Statement:
    """The statement of ``build(id)`` (a module-level function: it keys the cache)."""
    statement = _statement(build.__qualname__, build(_PLACEHOLDER), alias)
    if not statement.positions or str(_PLACEHOLDER) in statement.sql:
        raise ValueError(f"{build.__qualname__}: the id is not a parameter")
    return statement


@lru_cache(maxsize=32)
def compiled_list(build: Callable[[], QuerySet[Any]], alias: str = DEFAULT_DB_ALIAS) -> Statement:
    """The statement of ``build()``, a queryset of no id (a catalogue's choices)."""
    return _statement(build.__qualname__, build(), alias)


def _statement(name: str, queryset: QuerySet[Any], alias: str) -> Statement:
    if queryset._iterable_class not in (ModelIterable, ValuesListIterable):
        raise ValueError(f"{name}: model instances or values_list only")
    if queryset._prefetch_related_lookups:  # type: ignore[attr-defined]
        raise ValueError(f"{name}: prefetch_related would be skipped")
    compiler = queryset.query.get_compiler(using=alias)
    sql, params = compiler.as_sql()
    positions = tuple(at for at, param in enumerate(params) if param == _PLACEHOLDER)
    return Statement(
        compiler,
        alias,
        sql,
        tuple(params),
        positions,
        as_models=queryset._iterable_class is ModelIterable,
    )


def read(build: Callable[[int], QuerySet[Any]], pk: int) -> list[Any]:
    """``list(build(pk))``, without building and compiling the queryset again."""
    return compiled(build).rows(pk)


def read_list(build: Callable[[], QuerySet[Any]]) -> list[Any]:
    """``list(build())``, without building and compiling the queryset again."""
    return compiled_list(build)._run([])
