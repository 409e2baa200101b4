"""One size of the benchmark, run in its own process on an empty, migrated database.

``python -m bench.worker SIZE RUNS TODAY`` (DATABASE_URL set by ``python -m
bench``) builds the synthetic registry, measures it and prints the results as
JSON on its last stdout line.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict
from datetime import date
from typing import Any


def measure_registry(size: int, *, runs: int, today: date) -> dict[str, Any]:
    """Build ``size`` pumps into the current database and measure it."""
    from bench import measure, registry, synthetic

    start = time.perf_counter()
    built = registry.build(
        synthetic.registry(size, today=today),
        today=today,
        progress=lambda line: print(line, file=sys.stderr, flush=True),
    )
    build_seconds = time.perf_counter() - start
    from django.db import connection

    if connection.vendor == "postgresql":
        # Autovacuum analyzes a table soon after a bulk load; measuring before
        # it has leaves the planner without statistics (the worklist then
        # took 293 ms instead of 99 ms at 100,000 pumps).
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    client = measure.nurse_client()
    return {
        "size": size,
        "built": asdict(built),
        "build_s": build_seconds,
        "worklist": asdict(measure.worklist_page(client, runs)),
        "worklist_sql": asdict(measure.worklist_sql(runs)),
        "worklist_last": asdict(measure.worklist_last_page(client, runs)),
        "worklist_deep_key": asdict(measure.worklist_deep_page_by_key(client, runs)),
        "single_query_ms": measure.single_query_ms(max(3, runs // 4)),
        "patient": asdict(measure.patient_page(client, runs)),
        "due_list_s": measure.due_list_seconds(),
        "db_bytes": measure.database_bytes(),
    }


def main() -> None:
    import django

    size, runs, today = int(sys.argv[1]), int(sys.argv[2]), date.fromisoformat(sys.argv[3])
    sys.path.insert(0, ".")
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")
    django.setup()
    # Import every view now, so the code measured is the code of this moment.
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018
    print(json.dumps(measure_registry(size, runs=runs, today=today)))


if __name__ == "__main__":
    main()
