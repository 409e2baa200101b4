"""Import limits (issue 13 item 7): size before reading, a streamed read, and
control or invisible characters refused with the line and column named.

tests/pumps/test_import_clinic.py holds the import's contract; these are the
limits a hostile or broken file meets.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from importer import reading
from importer.plan import PUMP_OPTIONAL, PUMP_REQUIRED
from importer.problems import Problems, Source
from pumps.models import Pump
from tests.pumps.test_import_clinic import PUMP_COLUMNS, files, pump_row, refill_row, refused, run

pytestmark = pytest.mark.django_db

HEADER = ",".join(PUMP_COLUMNS) + "\n"


def pump_line(number: int) -> str:
    row = pump_row(mrn=f"A{number}", serial=f"SN{number}")
    return ",".join(row.get(column, "") for column in PUMP_COLUMNS) + "\n"


def test_the_default_limit_is_50_mb(settings) -> None:
    assert settings.IMPORT_MAX_BYTES == 50 * 1024 * 1024


def test_a_file_above_the_limit_is_refused_before_any_of_it_is_read(tmp_path, settings) -> None:
    """Its second line is not UTF-8: had a byte been decoded, that would be the
    problem named. The size is all that is said."""
    pumps = tmp_path / "pumps.csv"
    pumps.write_bytes(HEADER.encode() + b"\xff\xfe not text\n" * 100)
    settings.IMPORT_MAX_BYTES = pumps.stat().st_size - 1
    assert refused(pumps) == [
        f"pumps.csv: is {pumps.stat().st_size:,} bytes, larger than the "
        f"{settings.IMPORT_MAX_BYTES:,} bytes the import accepts (IMPORT_MAX_BYTES); "
        "split it into smaller files"
    ]
    settings.IMPORT_MAX_BYTES += 1
    assert refused(pumps) == ["pumps.csv: is not UTF-8 text (line 2); save it again as 'CSV UTF-8'"]


def test_a_file_that_gives_more_than_its_size_said_is_stopped_at_the_limit(
    tmp_path, settings
) -> None:
    """A pipe's size reads 0 (as does a file still being written): the limit
    holds while reading too, and nothing past it is kept."""
    settings.IMPORT_MAX_BYTES = 10_000
    pipe = tmp_path / "pumps.csv"
    os.mkfifo(pipe)
    data = (HEADER + "".join(pump_line(n) for n in range(1000))).encode()
    assert len(data) > 3 * settings.IMPORT_MAX_BYTES

    def write() -> None:
        try:
            with pipe.open("wb") as file:
                file.write(data)
        except BrokenPipeError:
            pass  # the import stopped reading, as it should

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert refused(pipe) == [
            "pumps.csv: grew while it was read, larger than the 10,000 bytes the import "
            "accepts (IMPORT_MAX_BYTES); split it into smaller files"
        ]
    finally:
        writer.join(timeout=10)
    assert Pump.objects.count() == 0


def test_the_file_is_read_as_a_stream(tmp_path, monkeypatch) -> None:
    """Never whole: the reads ask for a buffer at a time, and no whole-file read is used."""
    pumps = tmp_path / "pumps.csv"
    pumps.write_text(HEADER + "".join(pump_line(n) for n in range(20_000)), encoding="utf-8")
    assert pumps.stat().st_size > 1_000_000

    def whole(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("the whole file was read at once")

    monkeypatch.setattr(Path, "read_bytes", whole)
    monkeypatch.setattr(Path, "read_text", whole)
    asked: list[int] = []
    readinto = reading._Capped.readinto

    def counted(self: reading._Capped, buffer: memoryview) -> int | None:
        asked.append(len(buffer))
        return readinto(self, buffer)

    monkeypatch.setattr(reading._Capped, "readinto", counted)
    problems, cell_problems = Problems(), Problems()
    rows = reading.read_rows(
        Source(pumps, 0, ""),
        required=PUMP_REQUIRED,
        optional=PUMP_OPTIONAL,
        problems=problems,
        cell_problems=cell_problems,
    )
    assert not problems
    assert not cell_problems
    assert len(rows) == 20_000
    assert rows[-1].line == 20_001
    assert rows[-1].cells["serial"] == "SN19999"
    assert len(asked) > 100
    assert max(asked) <= 64 * 1024


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("A\x00", "U+0000"),  # NUL
        ("\x1b[31mA", "U+001B"),  # an escape sequence for a terminal
        ("A\x7f", "U+007F"),  # DEL
        ("A\x85", "U+0085"),  # next line (C1 control)
        ("A\tB", "U+0009"),  # a tab inside a cell: refused too, never stored
        ("Am\u00ades", "U+00AD"),  # soft hyphen (format)
        ("\u2066Ames\u2069", "U+2066, U+2069"),  # bidirectional isolates
        ("Ames\u061c", "U+061C"),  # Arabic letter mark
        ("Am\u2060es", "U+2060"),  # word joiner
        ("Am\u2028es", "U+2028"),  # line separator
    ],
    ids=repr,
)
def test_a_control_or_format_character_is_refused_naming_line_and_column(
    tmp_path, text: str, code: str
) -> None:
    rows = [pump_row(mrn=f"A{n}", serial=f"SN{n}") for n in range(3)]
    rows[2]["family_name"] = text
    assert refused(*files(tmp_path, rows)) == [
        f"4: family_name: contains a control or invisible character ({code}); "
        "type the cell again without it"
    ]


def test_in_the_second_file_the_file_line_and_column_are_named(tmp_path) -> None:
    refills = [refill_row(refill_date=day) for day in ("2025-01-10", "2025-02-10")]
    refills[1]["drug"] = "morph\u200bine"
    assert refused(*files(tmp_path, [pump_row()], refills)) == [
        "refills.csv:3: drug: contains a control or invisible character (U+200B); "
        "type the cell again without it"
    ]


def test_letters_marks_and_spaces_of_any_language_are_kept(tmp_path) -> None:
    row = pump_row(family_name="Ñúñez-O'Brien Łódź", given_name="Zoë\u00a0Ann")
    run(*files(tmp_path, [row]))
    patient = Pump.objects.get().patient
    assert patient.family_name == "Ñúñez-O'Brien Łódź"
    assert patient.given_name == "Zoë\u00a0Ann"


def test_a_file_exactly_at_the_limit_is_read(tmp_path, settings) -> None:
    pumps = tmp_path / "pumps.csv"
    pumps.write_text(HEADER + "".join(pump_line(n) for n in range(3)), encoding="utf-8")
    settings.IMPORT_MAX_BYTES = pumps.stat().st_size
    run(pumps)
    assert Pump.objects.count() == 3
