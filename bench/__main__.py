"""python -m bench [--size N] [--runs N] [--no-import] [--no-write]

Builds a synthetic registry of 1,000 pumps and one of ``--size`` pumps, each
in a fresh database of its own (bench/.data/*.sqlite3, or ``clinic_bench`` on
the PostgreSQL server DATABASE_URL names), measures the pages, the worklist's
main query and the due list on each, times ``import_clinic`` of the same
registry as CSV files into another fresh database, prints one table and
appends it to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bench import csvfiles, databases, report, synthetic

BASE_SIZE = 1000


def clinic_today() -> str:
    """The clinic's local date, as the app's timezone.localdate() gives it."""
    zone = ZoneInfo(os.environ.get("TIME_ZONE", "America/Chicago"))
    return datetime.now(zone).date().isoformat()


def run_size(size: int, *, runs: int, today: str) -> dict[str, Any]:
    url = databases.bench_url("clinic_bench")
    databases.recreate(url)
    databases.migrate(url)
    print(f"size {size}: building and measuring in {url}", file=sys.stderr, flush=True)
    done = subprocess.run(
        [sys.executable, "-m", "bench.worker", str(size), str(runs), today],
        cwd=databases.ROOT,
        env=databases.environment(url),
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run_import(size: int, *, today: str) -> dict[str, Any]:
    """import_clinic of the registry as CSV files, into an empty database."""
    databases.DATA.mkdir(parents=True, exist_ok=True)
    pumps_csv, refills_csv = databases.DATA / "pumps.csv", databases.DATA / "refills.csv"
    specs = synthetic.registry(size, today=datetime.fromisoformat(today).date())
    pump_rows, refill_rows = csvfiles.write(specs, pumps_csv, refills_csv)
    url = databases.bench_url("clinic_bench_import")
    databases.recreate(url)
    databases.migrate(url)
    print(f"size {size}: import_clinic of {refill_rows} refills", file=sys.stderr, flush=True)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "manage.py", "import_clinic", str(pumps_csv), str(refills_csv)],
        cwd=databases.ROOT,
        env=databases.environment(url),
        check=True,
        stdout=subprocess.DEVNULL,  # the summary; progress goes to stderr, shown
    )
    return {"import_s": time.perf_counter() - start, "rows": [pump_rows, refill_rows]}


def rows(results: list[dict[str, Any]]) -> list[list[Any]]:
    """The table: one row per measure, one column per size."""
    base = results[0]

    def each(make: Any) -> list[Any]:
        return [make(result) for result in results]

    def ms(timing: dict[str, Any]) -> str:
        return f"{timing['median_ms']:.2f} ms ({timing['queries']} q)"

    return [
        [
            "pumps / refills",
            *each(lambda r: f"{r['built']['pumps']:,} / {r['built']['refills']:,}"),
        ],
        ["build the registry", *each(lambda r: f"{r['build_s']:.1f} s")],
        ["worklist first page (median)", *each(lambda r: ms(r["worklist"]))],
        [
            "worklist statements, bare SQL",
            *each(lambda r: ms(r["worklist_sql"])),
        ],
        [
            "page / bare SQL",
            *each(lambda r: f"{r['worklist']['median_ms'] / r['worklist_sql']['median_ms']:.1f}x"),
        ],
        [
            "page / page at 1,000 pumps",
            *each(lambda r: f"{r['worklist']['median_ms'] / base['worklist']['median_ms']:.2f}x"),
        ],
        [
            "(before: one CASE-ordered query)",
            *each(lambda r: f"{r['single_query_ms']:.1f} ms" if "single_query_ms" in r else "-"),
        ],
        [
            "worklist last page, by number",
            *each(lambda r: ms(r["worklist_last"]) if "worklist_last" in r else "-"),
        ],
        [
            "... as deep, by key (Next link)",
            *each(lambda r: ms(r["worklist_deep_key"]) if "worklist_deep_key" in r else "-"),
        ],
        ["patient page (median)", *each(lambda r: ms(r["patient"]))],
        ["due_list, all pumps, JSON", *each(lambda r: f"{r['due_list_s']:.2f} s")],
        [
            "import_clinic (pumps + refills)",
            *each(lambda r: f"{r['import_s']:.1f} s" if "import_s" in r else "not run"),
        ],
        ["database size", *each(lambda r: f"{r['db_bytes'] / 1e6:.0f} MB")],
    ]


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--size", type=int, default=10_000, help="the large registry (pumps)")
    parser.add_argument("--runs", type=int, default=20, help="timed runs per median")
    parser.add_argument("--no-import", action="store_true", help="skip the import timing")
    parser.add_argument("--no-write", action="store_true", help="print, do not append the doc")
    options = parser.parse_args(argv)
    sizes = sorted({BASE_SIZE, options.size})
    today = clinic_today()
    results = []
    for size in sizes:
        result = run_size(size, runs=options.runs, today=today)
        if not options.no_import:
            result |= run_import(size, today=today)
        results.append(result)
    header = ["measure", *(f"{size:,} pumps" for size in sizes)]
    text = report.table(header, rows(results))
    print(text)
    if not options.no_write:
        url = databases.bench_url("clinic_bench")
        engine = "PostgreSQL" if databases.is_postgres(url) else "SQLite"
        command = report.command_line(argv)
        report.append(
            report.section(f"make bench on {engine}", command=command, url=url, body=text)
        )
        print(f"appended to {report.DOC}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
