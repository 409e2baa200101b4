"""Shared pieces of the property-based tests (test_fuzz_*.py).

To fuzz another form, describe its fields with ``form_data({...})`` using the
kinds below, post the drawn data, and assert with ``assert_no_500`` and
``assert_refusal_wrote_nothing``. Every kind mixes plausible values (so the
form gets past its first checks and reaches the services) with junk.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.apps import apps
from django.db import connection
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st


def fuzz(max_examples: int) -> settings:
    """Settings for a fuzz test of ``max_examples`` cases.

    A fuzz test draws its examples inside one test function call, so its
    function-scoped fixtures (database, client, records) are shared by them.
    No example database on disk: a failure prints the blob to reproduce it.
    """
    return settings(
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        database=None,
        print_blob=True,
    )


junk = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=300),
    st.sampled_from(["", " ", "\x00", "nan", "inf", "-0", "1e999", "NaN", "0x10", "\uff11\uff12"]),
)


def _today() -> date:
    return timezone.localdate()


def dates() -> st.SearchStrategy[str]:
    near = st.integers(min_value=-800, max_value=30).map(
        lambda days: (_today() + timedelta(days=days)).isoformat()
    )
    anywhere = st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)).map(date.isoformat)
    return st.one_of(near, anywhere, st.sampled_from(["2026-02-30", "2026-13-01", "06/04/2026"]))


def decimals() -> st.SearchStrategy[str]:
    return st.one_of(
        st.integers(min_value=-10, max_value=100).map(str),
        st.decimals(allow_nan=True, allow_infinity=True, places=None).map(str),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.sampled_from(["1" * 40, "0.00001", "-0.0", "1e-40", "20,5"]),
    )


def integers() -> st.SearchStrategy[str]:
    return st.one_of(
        st.integers(min_value=-5, max_value=15).map(str),
        st.integers().map(str),
        st.sampled_from(["9" * 30, "-9" * 20, "5.5"]),
    )


def times() -> st.SearchStrategy[str]:
    return st.one_of(
        st.times().map(lambda value: value.isoformat(timespec="minutes")),
        st.sampled_from(["24:00", "9", "25:61", "09:00:00.5"]),
    )


def choices(*values: str) -> st.SearchStrategy[str]:
    return st.sampled_from(values)


KINDS: dict[str, Any] = {
    "text": lambda: st.text(max_size=80),
    "date": dates,
    "decimal": decimals,
    "int": integers,
    "time": times,
    "uuid": lambda: st.uuids().map(str),
    "bool": lambda: st.sampled_from(["on", "", "true", "false", "1"]),
}


def field(spec: str | st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A kind name or a strategy of plausible values; junk a quarter of the time."""
    plausible = KINDS[spec]() if isinstance(spec, str) else spec
    return st.one_of(plausible, plausible, plausible, junk)


def form_data(fields: dict[str, str | st.SearchStrategy[str]]) -> st.SearchStrategy[dict[str, str]]:
    """A POST body: each field drawn by its kind, sometimes left out altogether."""
    return st.fixed_dictionaries(
        {}, optional={name: field(spec) for name, spec in fields.items()}
    ) | st.fixed_dictionaries({name: field(spec) for name, spec in fields.items()})


WATCHED_APPS = ("patients", "pumps", "care")


def counts() -> dict[str, int]:
    """Rows of every clinical table and its history: what a refused input must not change.

    One query for all of them: it runs twice per generated case.
    """
    models = [model for app in WATCHED_APPS for model in apps.get_app_config(app).get_models()]
    quote = connection.ops.quote_name
    columns = ", ".join(f"(SELECT COUNT(*) FROM {quote(m._meta.db_table)})" for m in models)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {columns}")
        row = cursor.fetchone()
    return {model._meta.label: count for model, count in zip(models, row, strict=True)}


def assert_no_500(response: Any, data: object) -> None:
    assert response.status_code < 500, f"{response.status_code} for {data!r}"


def assert_refusal_wrote_nothing(before: dict[str, int], response: Any, data: object) -> None:
    """Anything but a redirect after a POST is a refusal: the database is unchanged."""
    if response.status_code != 302:
        assert counts() == before, f"a refused input wrote rows: {data!r}"
