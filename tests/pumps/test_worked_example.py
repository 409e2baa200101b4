"""The worked example of the shared docs, end to end: import, then the due list.

/work/shared/data/example holds a clinic's pumps.csv and refills.csv and the
due list, computed independently, that they must produce on 2026-04-06.
"""

import io
import json
import os
from pathlib import Path

import pytest
from django.core.management import call_command

from patients.models import Patient
from pumps.models import Pump, Refill

pytestmark = pytest.mark.django_db

EXAMPLE = Path(__file__).resolve().parents[3] / "shared" / "data" / "example"


@pytest.fixture
def example() -> Path:
    if not EXAMPLE.is_dir():
        reason = f"the worked example is not at {EXAMPLE} (it lives beside the repository)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must run it")
        pytest.skip(reason)
    return EXAMPLE


def import_example(example: Path) -> str:
    out = io.StringIO()
    call_command(
        "import_clinic", str(example / "pumps.csv"), str(example / "refills.csv"), stdout=out
    )
    return out.getvalue()


def due_list_on_2026_04_06() -> list[dict[str, object]]:
    out = io.StringIO()
    call_command("due_list", "--as-of", "2026-04-06", "--format", "json", stdout=out)
    return json.loads(out.getvalue())


def expected_due_list(example: Path) -> list[dict[str, object]]:
    return json.loads((example / "due_list_2026-04-06.json").read_text(encoding="utf-8"))


def test_worked_example_imports_into_an_empty_database_and_gives_the_expected_due_list(
    example: Path,
):
    assert not Patient.objects.exists()
    assert not Pump.objects.exists()

    summary = import_example(example)

    assert summary.splitlines() == [
        "Imported pumps.csv and refills.csv.",
        "patients: 8 created, 0 updated, 0 unchanged",
        "pumps: 9 created, 0 updated, 0 unchanged",
        "refills: 12 created, 0 unchanged",
    ]
    # Equal lists compare element by element: the order must match too.
    assert due_list_on_2026_04_06() == expected_due_list(example)


def test_worked_example_imported_twice_changes_nothing_and_gives_the_same_due_list(
    example: Path,
):
    import_example(example)
    counts = (Patient.objects.count(), Pump.objects.count(), Refill.objects.count())

    summary = import_example(example)

    assert summary.splitlines()[1:] == [
        "patients: 0 created, 0 updated, 8 unchanged",
        "pumps: 0 created, 0 updated, 9 unchanged",
        "refills: 0 created, 12 unchanged",
    ]
    assert (Patient.objects.count(), Pump.objects.count(), Refill.objects.count()) == counts
    assert due_list_on_2026_04_06() == expected_due_list(example)
