"""Bugs the fuzz tests found, pinned so they stay fixed."""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from care.choices import VisitStatus
from care.models import Appointment

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("back", ["0", "worklist", "visits"])
def test_a_next_without_a_slash_redirects_instead_of_failing(
    client: Client, role_users: dict[str, Any], clinic_objects: dict[str, Any], back: str
) -> None:
    """redirect("word") tried reverse("word") and answered 500."""
    client.force_login(role_users["nurse"])
    visit = clinic_objects["appointment"]
    response = client.post(
        reverse("patients:set_visit_status", args=[visit.pk]), {"status": "done", "next": back}
    )
    assert response.status_code == 302
    assert response["Location"] == back


def test_marking_a_booked_visit_booked_is_refused_and_writes_no_history(
    client: Client, role_users: dict[str, Any], clinic_objects: dict[str, Any]
) -> None:
    """It used to save a change of nothing, and a history row claiming one."""
    client.force_login(role_users["nurse"])
    visit = clinic_objects["appointment"]
    history_before = visit.history.count()
    response = client.post(
        reverse("patients:set_visit_status", args=[visit.pk]), {"status": "booked"}, follow=True
    )
    assert "can be marked done, missed or cancelled" in response.content.decode()
    assert Appointment.objects.get(pk=visit.pk).status == VisitStatus.BOOKED
    assert visit.history.count() == history_before


@pytest.mark.parametrize(
    ("serial", "shown"),
    [
        ("SN\n1", "U+000A"),
        ("SN\x1e1", "U+001E"),
        ("SN\x1b[2J", "U+001B"),
        ("SN\u20281", "U+2028"),
    ],
)
def test_a_problem_naming_a_cell_with_a_line_break_stays_on_one_line(
    db: None, tmp_path: Path, serial: str, shown: str
) -> None:
    """A serial with a line break was echoed raw, splitting one problem over two
    lines (and an escape code in a cell went straight to the terminal). Such a
    cell is now refused outright (docs/interfaces.md), each row on one line
    that names the character by its code point."""
    pumps = tmp_path / "pumps.csv"
    row = f'F1,A,B,1970-01-01,cancer_pain,synchromed_ii_20,"{serial}",2024-01-01\n'
    pumps.write_text(
        "mrn,family_name,given_name,birth_date,indication,pump_model,serial,implant_date\n"
        + row
        + row.replace("F1", "F2"),
        encoding="utf-8",
    )
    stderr = StringIO()
    with pytest.raises(CommandError):
        call_command("import_clinic", pumps, stderr=stderr, stdout=StringIO())
    problems = stderr.getvalue().splitlines()
    # The quoted line break makes the second row line 4, as an editor counts.
    second = 4 if chr(10) in serial else 3
    assert [problem.split(":")[0] for problem in problems] == ["2", str(second)], problems
    for problem in problems:
        assert problem.split(": ", 2)[1] == "serial"
        assert shown in problem
        assert "\x1b" not in problem


@pytest.mark.parametrize(
    "params",
    [{"q": "a\x00b"}, {"drug": "\x00"}, {"status": "due\x00"}, {"model\x00": "x"}],
)
def test_a_nul_in_the_query_string_is_a_400_not_a_500(
    client: Client, role_users: dict[str, Any], params: dict[str, str]
) -> None:
    """On PostgreSQL the worklist's search with a NUL byte was a server error."""
    client.force_login(role_users["nurse"])
    response = client.get(reverse("pumps:worklist"), params)
    assert response.status_code == 400
