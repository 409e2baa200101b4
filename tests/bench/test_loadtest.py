"""The load test's machinery, end to end at a tiny size (PostgreSQL only).

gunicorn in front of PostgreSQL, two simulated nurses for two seconds of each
phase: the run must finish, answer every request, and find every refill it
was told was saved. No throughput is asserted (docs/benchmarks.md holds the
numbers of a real run).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="the load test runs gunicorn in front of PostgreSQL",
)


def table_rows(output: str) -> dict[str, list[str]]:
    rows = {}
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] not in {"requests"} and not set(cells[0]) <= {"-"}:
            rows[cells[0]] = cells[1:]
    return rows


def test_a_short_load_test_answers_everything_and_loses_no_refill():
    tiny = ["--users", "2", "--seconds", "2", "--workers", "1", "--pumps", "40", "--no-write"]
    done = subprocess.run(
        [sys.executable, "-m", "bench.loadtest", *tiny],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "clinic.settings"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = table_rows(done.stdout)
    assert set(rows) >= {"worklist", "all mixed", "healthz, signed in", "healthz, anonymous"}
    for kind, (count, _rate, _median, _p95, errors) in rows.items():
        assert int(count.replace(",", "")) > 0, kind
        assert errors == "0", kind
    assert "(none lost)" in done.stdout
    assert "Mixed throughput / floor throughput:" in done.stdout
