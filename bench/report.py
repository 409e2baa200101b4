"""The machine the numbers came from, and the results as one Markdown table."""

from __future__ import annotations

import os
import platform
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import django

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
INTRO = """\
# Benchmarks

Measured with `make bench` (bench/, synthetic registries in their own
databases) and `make loadtest` (gunicorn in front of PostgreSQL). Each run
appends its section below; docs/benchmarks.md is written by the tools.
"""


def _first_line_with(path: str, prefix: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def database_version(url: str) -> str:
    if url.startswith(("postgres", "pgsql")):
        import psycopg

        with psycopg.connect(url.replace("pgsql://", "postgresql://")) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        return f"PostgreSQL {row[0] if row else '?'}"
    return f"SQLite {sqlite3.sqlite_version}"


def machine(url: str) -> dict[str, str]:
    memory_kb = _first_line_with("/proc/meminfo", "MemTotal").split()[0]
    return {
        "CPU": _first_line_with("/proc/cpuinfo", "model name"),
        "cores": str(os.cpu_count()),
        "RAM": f"{int(memory_kb) / 1024 / 1024:.1f} GiB" if memory_kb.isdigit() else "unknown",
        "OS": platform.platform(),
        "Python": platform.python_version(),
        "Django": django.get_version(),
        "database": database_version(url),
    }


def table(header: list[str], rows: list[list[Any]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=False)]

    def line(cells: list[Any]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), rule, *(line(row) for row in rows)])


def section(title: str, *, command: str, url: str, body: str) -> str:
    facts = machine(url)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    described = ", ".join(f"{key} {value}" for key, value in facts.items())
    return f"## {title}, {when}\n\n`{command}`\n\nMachine: {described}.\n\n{body}\n"


def append(text: str) -> None:
    DOC.parent.mkdir(exist_ok=True)
    existing = DOC.read_text() if DOC.exists() else INTRO
    DOC.write_text(existing.rstrip("\n") + "\n\n" + text)


def command_line(argv: list[str]) -> str:
    env = " ".join(
        f"{name}={os.environ[name]}" for name in ("DATABASE_URL",) if os.environ.get(name)
    )
    return " ".join(part for part in (env, "python -m bench", *argv) if part)
