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


def test_check_deploy_passes_with_no_warning() -> None:
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
    assert "WARNING" not in result.stderr + result.stdout


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
    ):
        assert f'"{asset}"' in manifest


POSTGRES = "postgres://clinic@db.example.org:5432/clinic"


def database_settings(**env: str) -> str:
    result = run_manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings; d = settings.DATABASES['default']; "
        "print(d['ENGINE'], d['CONN_MAX_AGE'], d['CONN_HEALTH_CHECKS'])",
        **env,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


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
        ({"DATABASE_URL": POSTGRES}, "django.db.backends.postgresql 0 False"),
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
