"""Timings of the pages, the worklist's main query and the due list, in-process.

Pages go through Django's test client as a signed-in nurse: the whole server
side (middleware, view, queries, template) without a network. Each timing is
the median of ``runs`` after a warm-up, so caches and the first connection do
not count; the query count is read from one more run.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from django.conf import settings
from django.core.management import call_command
from django.core.paginator import Paginator
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from bench.registry import staff_user
from care.worklist import RankedWorklist, WorklistFilters
from pumps.models import Pump, SchedulePolicy

WARM_UP = 2


@dataclass(frozen=True)
class Timing:
    median_ms: float
    queries: int | None = None


def median_ms(action: Callable[[], object], runs: int) -> float:
    for _ in range(WARM_UP):
        action()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def _count_queries(action: Callable[[], object]) -> int:
    with CaptureQueriesContext(connection) as queries:
        action()
    return len(queries)


def nurse_client() -> Client:
    client = Client(HTTP_HOST="localhost")  # an allowed host of the default settings
    client.force_login(staff_user("bench-nurse"))
    return client


def page(client: Client, url: str, runs: int) -> Timing:
    def get() -> None:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)

    return Timing(median_ms(get, runs), _count_queries(get))


def worklist_page(client: Client, runs: int) -> Timing:
    return page(client, reverse("pumps:worklist"), runs)


def worklist_last_page(client: Client, runs: int) -> Timing:
    """The worklist's last page: the deepest offset (Paginator serves the last page
    for a number past it), where reading by offset costs the most."""
    return page(client, f"{reverse('pumps:worklist')}?page={10**9}", runs)


def worklist_deep_page_by_key(client: Client, runs: int) -> Timing:
    """The page as deep as the last one, reached as its Next link does: by the key of
    the row before it (found once, by offset)."""
    ranked = _worklist()
    start = max(0, ranked.count() - 26)
    (before_page,) = ranked[start : start + 1]
    token = before_page.page_key.token()  # type: ignore[attr-defined]
    return page(client, f"{reverse('pumps:worklist')}?{urlencode({'after': token})}", runs)


def sample_patient_id() -> int:
    """A patient whose active pump has a typical history (the median refill count)."""
    pump = (
        Pump.objects.active()
        .filter(latest_fill__isnull=False)
        .order_by("pk")
        .values_list("patient_id", flat=True)
    )
    return pump[pump.count() // 2]


def patient_page(client: Client, runs: int) -> Timing:
    return page(client, reverse("patients:detail", args=[sample_patient_id()]), runs)


def _worklist() -> RankedWorklist:
    today = timezone.localdate()
    lookahead = SchedulePolicy.current().lookahead_days
    filters = WorklistFilters()
    return RankedWorklist(today=today, lookahead_days=lookahead, filters=filters)


def _captured_sql(action: Callable[[], object]) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        action()
    return [query["sql"] for query in queries.captured_queries]


def worklist_sql(runs: int) -> Timing:
    """The worklist's own statements for its first page, as bare SQL without the ORM.

    The page reads the worklist in three statements (the counts, the page's
    ids rank by rank, the rows with their relations); they are captured as
    the page's code builds them and replayed through the cursor, so the
    page's time over theirs is the cost of everything else (Python, ORM,
    template, middleware).
    """
    statements = _captured_sql(lambda: list(Paginator(_worklist(), 25).get_page(1)))

    def run() -> None:
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)
                cursor.fetchall()

    return Timing(median_ms(run, runs), len(statements))


def single_query_ms(runs: int) -> float:
    """The worklist as one query ordered by the CASE rank (before issue 6), for reference."""
    pumps = _worklist().pumps
    sql, params = pumps[:25].query.sql_with_params()

    def run() -> None:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            cursor.fetchall()

    return median_ms(run, runs)


def due_list_seconds() -> float:
    """``manage.py due_list`` for every active pump, JSON to /dev/null (one run)."""
    with open(os.devnull, "w") as devnull:
        start = time.perf_counter()
        call_command("due_list", stdout=devnull)
        return time.perf_counter() - start


def database_bytes() -> int:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_database_size(current_database())")
            return int(cursor.fetchone()[0])
    name = Path(settings.DATABASES["default"]["NAME"])
    return sum(path.stat().st_size for path in (name, Path(f"{name}-wal")) if path.exists())
