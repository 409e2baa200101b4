"""Production settings pass Django's deployment checklist with no warning."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]

PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": secrets.token_urlsafe(60),
    "ALLOWED_HOSTS": "pumps.example.org",
    "CSRF_TRUSTED_ORIGINS": "https://pumps.example.org",
    "TRUSTED_PROXY": "true",
}


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    # Only the variables a production host sets: nothing from the test run leaks in.
    keep = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "DATABASE_URL"}}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT,
        env=keep | env,
        capture_output=True,
        text=True,
        timeout=120,
    )


# What a production host must set when it leaves DEBUG unset (issue 13): DEBUG
# is off unless the environment turns it on.
DEBUG_UNSET = {k: v for k, v in PRODUCTION.items() if k != "DEBUG"}
BARE_PRODUCTION = {k: PRODUCTION[k] for k in ("SECRET_KEY", "ALLOWED_HOSTS")}


@pytest.mark.parametrize(
    "env", [PRODUCTION, DEBUG_UNSET, BARE_PRODUCTION], ids=["debug-false", "debug-unset", "bare"]
)
def test_check_deploy_passes_with_no_warning(env: dict[str, str]) -> None:
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", **env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
    assert "WARNING" not in result.stderr + result.stdout


def test_debug_is_off_unless_the_environment_turns_it_on() -> None:
    show = (
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings; print(settings.DEBUG)",
    )
    assert run_manage(*show, **BARE_PRODUCTION).stdout.strip() == "False"
    # As make run (Makefile) sets it: no other variable needed on a developer's machine.
    development = run_manage(*show, DEBUG="true")
    assert development.stdout.strip() == "True", development.stderr


def test_a_forgotten_debug_and_secret_key_refuse_to_start() -> None:
    """Neither set: not a development server with a known key, but no start at all."""
    result = run_manage("check")
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr
    assert "make run" in result.stderr  # says what a developer should do


@pytest.mark.parametrize("command", [("check",), ("migrate", "--plan"), ("diffsettings",)])
def test_only_the_schema_check_runs_without_a_secret_key(command: tuple[str, ...]) -> None:
    """A build machine checks the migrations with no secret (nothing is signed);
    anything that checks, migrates or reads the settings still refuses."""
    schema = run_manage("makemigrations", "--check", "--dry-run")
    assert schema.returncode == 0, schema.stderr
    assert "No changes detected" in schema.stdout
    refused = run_manage(*command)
    assert refused.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in refused.stderr


def test_production_answers_with_the_policy_and_no_store(tmp_path: Path) -> None:
    """The headers under production settings, not only the test run's: an answer
    that needs neither database nor collected static files, as the proxy forwards it."""
    script = (
        "from django.test import Client; "
        "r = Client().get('/healthz', headers={'host': 'pumps.example.org', "
        "'x-forwarded-proto': 'https'}); "
        "print(r.status_code); print(r['Cache-Control']); print(r['Content-Security-Policy'])"
    )
    result = run_manage(
        "shell",
        "--no-imports",
        "-c",
        script,
        **DEBUG_UNSET,
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
    )
    status, cache_control, policy = result.stdout.strip().splitlines()
    assert status == "200", result.stderr
    assert {"no-store", "private"} <= {part.strip() for part in cache_control.split(",")}
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy


def test_check_deploy_notices_a_weak_production_setting() -> None:
    """The check above can fail: a short secret key is reported."""
    result = run_manage(
        "check", "--deploy", "--fail-level", "WARNING", **(PRODUCTION | {"SECRET_KEY": "short"})
    )
    assert result.returncode != 0
    assert "security.W009" in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("SECURE_SSL_REDIRECT", "True"),
        ("SESSION_COOKIE_SECURE", "True"),
        ("CSRF_COOKIE_SECURE", "True"),
        ("SESSION_COOKIE_HTTPONLY", "True"),
        ("SECURE_HSTS_SECONDS", "31536000"),
        ("SECURE_PROXY_SSL_HEADER", "('HTTP_X_FORWARDED_PROTO', 'https')"),
        ("X_FRAME_OPTIONS", "DENY"),
        ("SECURE_REFERRER_POLICY", "same-origin"),
        ("CSRF_TRUSTED_ORIGINS", "['https://pumps.example.org']"),
    ],
)
def test_production_settings(setting: str, expected: str) -> None:
    result = run_manage(
        "shell",
        "--no-imports",
        "-c",
        f"from django.conf import settings; print(settings.{setting})",
        **PRODUCTION,
    )
    assert result.stdout.strip() == expected, result.stderr


def test_production_refuses_to_start_without_a_secret_key() -> None:
    env = {k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"}
    result = run_manage("check", **env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_collectstatic_serves_every_vendored_asset(tmp_path: Path) -> None:
    """The manifest storage refuses a file that names a missing one (a source map):
    production must collect every asset the pages use, with no CDN to fall back on."""
    static_root = tmp_path / "static"
    result = run_manage(
        "collectstatic", "--noinput", "-v", "0", STATIC_ROOT=str(static_root), **PRODUCTION
    )
    assert result.returncode == 0, result.stdout + result.stderr
    manifest = (static_root / "staticfiles.json").read_text()
    for asset in (
        "vendor/bootstrap-5.3.9/bootstrap.min.css",
        "vendor/chartjs-4.6.1/chart.umd.min.js",
        "js/timeline-charts.js",
        "css/record.css",
        "css/error.css",
    ):
        assert f'"{asset}"' in manifest


POSTGRES = "postgres://clinic@db.example.org:5432/clinic"


def database_setting(printed: str, **env: str) -> str:
    """What ``printed`` (an expression of the default database's settings ``d``) is
    under ``env``."""
    result = run_manage(
        "shell",
        "--no-imports",
        "-c",
        f"from django.conf import settings; d = settings.DATABASES['default']; print({printed})",
        **env,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def database_settings(**env: str) -> str:
    return database_setting("d['ENGINE'], d['CONN_MAX_AGE'], d['CONN_HEALTH_CHECKS']", **env)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        # Production on PostgreSQL: each worker keeps its connection, checked before reuse.
        (PRODUCTION | {"DATABASE_URL": POSTGRES}, "django.db.backends.postgresql 600 True"),
        (
            PRODUCTION | {"DATABASE_URL": POSTGRES, "DB_CONN_MAX_AGE": "60"},
            "django.db.backends.postgresql 60 True",
        ),
        # One connection per request again, on request.
        (
            PRODUCTION | {"DATABASE_URL": POSTGRES, "DB_CONN_MAX_AGE": "0"},
            "django.db.backends.postgresql 0 False",
        ),
        # A developer's PostgreSQL (DEBUG on) and the embedded SQLite: as before.
        ({"DATABASE_URL": POSTGRES, "DEBUG": "true"}, "django.db.backends.postgresql 0 False"),
        (
            PRODUCTION | {"DATABASE_URL": "sqlite:////tmp/clinic-settings-test.sqlite3"},
            "django.db.backends.sqlite3 0 False",
        ),
    ],
)
def test_production_keeps_database_connections_on_postgresql(
    env: dict[str, str], expected: str
) -> None:
    assert database_settings(**env) == expected


def test_an_empty_database_url_means_the_embedded_default() -> None:
    # A blank DATABASE_URL= line in an env file: SQLite, not a crash on a URL without a scheme.
    result = run_manage(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.DATABASES['default']['ENGINE'])",
        DEBUG="true",
        DATABASE_URL="",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "django.db.backends.sqlite3"


def prepare_threshold(**env: str) -> str:
    return database_setting("d.get('OPTIONS', {}).get('prepare_threshold')", **env)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        # PostgreSQL: the statements compiled once per process are prepared (core.compiled).
        (PRODUCTION | {"DATABASE_URL": POSTGRES}, "2"),
        ({"DATABASE_URL": POSTGRES, "DEBUG": "true"}, "2"),
        (PRODUCTION | {"DATABASE_URL": POSTGRES, "DB_PREPARE_THRESHOLD": "5"}, "5"),
        # Behind a pooler that cannot keep prepared statements.
        (PRODUCTION | {"DATABASE_URL": POSTGRES, "DB_PREPARE_THRESHOLD": "off"}, "None"),
        # SQLite has none.
        (
            PRODUCTION | {"DATABASE_URL": "sqlite:////tmp/clinic-settings-test.sqlite3"},
            "None",
        ),
    ],
)
def test_postgresql_prepares_the_compiled_statements_unless_told_not_to(
    env: dict[str, str], expected: str
) -> None:
    assert prepare_threshold(**env) == expected
