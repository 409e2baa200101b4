"""One direction of dependency (issue 11; docs/architecture.md, "Layers").

The contract lives in pyproject.toml ([tool.importlinter]); these tests run
import-linter on the code as it is, and on a copy with one upward import added,
so the contract is known to bite.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (
    "core",
    "patients",
    "pumps",
    "care",
    "outreach",
    "importer",
    "demo",
    "web",
    "audit",
    "backup",
    "feeds",
    "accounts",
)
PACKAGES_ALL = (*PACKAGES, "clinic", "bench")


def lint_imports(where: Path) -> subprocess.CompletedProcess[str]:
    command = Path(sys.executable).parent / "lint-imports"
    return subprocess.run(
        [str(command), "--no-cache"], cwd=where, capture_output=True, text=True, check=False
    )


def test_no_module_imports_from_a_layer_above_it() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_an_upward_import_breaks_the_contract(tmp_path: Path) -> None:
    for package in PACKAGES_ALL:
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    # pumps (fills, schedule) reaching up into care (visits): what the layers forbid.
    with (tmp_path / "pumps" / "bulk.py").open("a") as module:
        module.write("\nfrom care.models import Appointment  # noqa: E402,F401\n")

    result = lint_imports(tmp_path)

    assert result.returncode != 0
    assert "pumps is not allowed to import care" in result.stdout
    assert "pumps.bulk -> care.models" in result.stdout


def test_care_cannot_reach_up_into_outreach(tmp_path: Path) -> None:
    """Visits tell outreach by a signal (care.signals.visit_changed), never by import."""
    for package in PACKAGES_ALL:
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    with (tmp_path / "care" / "services.py").open("a") as module:
        module.write("\nfrom outreach.reminders import sync_visit  # noqa: E402,F401\n")

    result = lint_imports(tmp_path)

    assert result.returncode != 0
    assert "care is not allowed to import outreach" in result.stdout
