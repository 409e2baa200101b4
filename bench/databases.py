"""The benchmarks' own databases: never the development db.sqlite3, never `clinic`.

SQLite files live in bench/.data/ (gitignored). On PostgreSQL (when
DATABASE_URL points at one) the bench keeps the server and credentials but
always uses its own database names, dropping and creating them as it goes.
BENCH_DB_SUFFIX (e.g. ``_perf``) is appended to every one of those names, so
two benchmarks run side by side on one server (or one machine's bench/.data/)
never drop each other's databases.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / ".data"
FORBIDDEN = {"clinic", "test_clinic"}  # the dev and test databases of the README


def is_postgres(url: str) -> bool:
    return url.split(":", 1)[0] in {"postgres", "postgresql", "pgsql"}


def bench_url(name: str) -> str:
    """The URL of bench database ``name`` on the server DATABASE_URL names, else SQLite."""
    name += os.environ.get("BENCH_DB_SUFFIX", "")
    assert name not in FORBIDDEN
    if not name.replace("_", "").isalnum():
        raise SystemExit(f"not a bench database name: {name!r}")
    source = os.environ.get("DATABASE_URL", "")
    if source and is_postgres(source):
        parts = urlsplit(source)
        return urlunsplit(parts._replace(path=f"/{name}"))
    return f"sqlite:///{DATA / (name + '.sqlite3')}"


def recreate(url: str) -> None:
    """An empty database at ``url`` (an existing one is dropped first)."""
    if is_postgres(url):
        import psycopg

        parts = urlsplit(url)
        name = parts.path.lstrip("/")
        if name in FORBIDDEN:
            raise SystemExit(f"refusing to drop database {name!r}")
        admin = urlunsplit(parts._replace(path="/postgres", scheme="postgresql"))
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        return
    path = Path(url.removeprefix("sqlite:///"))
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def environment(url: str) -> dict[str, str]:
    """The environment of a child process that works on ``url``."""
    return {**os.environ, "DATABASE_URL": url, "DEBUG": os.environ.get("DEBUG", "true")}


def migrate(url: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=environment(url),
        check=True,
    )
