"""Reading the CSV files: the data rows of a file, by column name.

``read_rows`` decodes a file, splits it into CSV records and checks its
header; a file that cannot be read, is larger than ``settings.IMPORT_MAX_BYTES``,
is not UTF-8 or CSV, or lacks a required column is reported as a problem
instead of raising. A cell holding a control or invisible format character
is refused here, before any cell is converted (docs/interfaces.md).

The file is read as a stream, a buffer at a time, and only the known columns
of each row are kept: memory follows the rows, not the file's bytes, text and
CSV records held side by side. The size is checked on the opened file before
the first byte is read, and again while reading, since a file still being
written, or a pipe (whose size reads 0), can give more than its size said.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings

from importer.problems import Problems, Source

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

# Control characters (Cc), invisible format characters (Cf: zero-width
# spaces, bidirectional marks, a byte order mark inside a cell) and the
# Unicode line and paragraph separators (Zl, Zp) are never stored: a serial or
# name holding one looks right on screen and matches nothing.
REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})


@dataclass(frozen=True)
class Row:
    """A data row: the line it starts on and its stripped cells by column name."""

    line: int
    cells: Mapping[str, str]
    # Columns whose cell was refused while reading (a control or format character).
    refused: frozenset[str] = field(default=frozenset())


def read_rows(
    source: Source,
    *,
    required: Sequence[str],
    optional: Sequence[str],
    problems: Problems,
    cell_problems: Problems,
) -> list[Row]:
    """The data rows of one file; file and header problems go to ``problems``, a
    cell refused for its characters to ``cell_problems`` (its row is still read)."""
    limit = settings.IMPORT_MAX_BYTES
    try:
        with source.path.open("rb", buffering=0) as raw:
            # The size first: a file too large is refused before it is read.
            size = os.fstat(raw.fileno()).st_size
            if size > limit:
                problems.add_file(source, _too_large(f"is {size:,} bytes, larger than", limit))
                return []
            # utf-8-sig drops the byte order mark that spreadsheet programs write;
            # newline="" keeps a quoted cell's line breaks for the CSV reader.
            text = io.TextIOWrapper(
                io.BufferedReader(_Capped(raw, limit)), encoding="utf-8-sig", newline=""
            )
            return _rows(source, _records(text), required, optional, problems, cell_problems)
    except _TooLarge:
        problems.add_file(source, _too_large("grew while it was read, larger than", limit))
    except OSError as error:
        problems.add_file(source, f"cannot be read ({error.strerror or error})")
    except UnicodeDecodeError:
        line = _first_line_not_utf8(source.path)
        problems.add_file(source, f"is not UTF-8 text (line {line}); save it again as 'CSV UTF-8'")
    except csv.Error as error:
        problems.add_file(source, f"is not readable CSV ({error})")
    return []


def _too_large(what: str, limit: int) -> str:
    return (
        f"{what} the {limit:,} bytes the import accepts (IMPORT_MAX_BYTES); "
        "split it into smaller files"
    )


class _TooLarge(Exception):
    """More bytes came than IMPORT_MAX_BYTES allows."""


class _Capped(io.RawIOBase):
    """A binary file that raises ``_TooLarge`` once more than ``limit`` bytes were read."""

    def __init__(self, raw: io.RawIOBase, limit: int) -> None:
        super().__init__()
        self._raw = raw
        self._limit = limit
        self._read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int | None:
        count = self._raw.readinto(buffer)
        self._read += count or 0
        if self._read > self._limit:
            raise _TooLarge
        return count


def _first_line_not_utf8(path: Path) -> int:
    """The line (as an editor numbers it) holding the first byte that is not UTF-8.

    Only after a decoding error, so the read above needs no line bookkeeping:
    the text is decoded a buffer at a time, and the error does not say where
    in the file its buffer began. A line break is never part of a UTF-8
    sequence, so the file decodes line by line as it does whole.
    """
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    line = 0
    with path.open("rb") as file:
        for line, data in enumerate(file, start=1):
            try:
                decoder.decode(data)
            except UnicodeDecodeError:
                return line
    return line  # a sequence cut short at the end of the file


def _rows(
    source: Source,
    records: Iterator[tuple[int, list[str]]],
    required: Sequence[str],
    optional: Sequence[str],
    problems: Problems,
    cell_problems: Problems,
) -> list[Row]:
    """The data rows after the header, refusing cells with control or format characters."""
    first = next(records, None)
    if first is None:
        for column in required:
            problems.add(source, 1, column, "required column is missing (the file is empty)")
        return []
    header_line, header = first
    positions = _header_positions(source, header_line, header, required, optional, problems)
    if positions is None:
        return []
    rows = []
    for line, cells in records:
        if not any(cell.strip() for cell in cells):
            continue  # blank lines and rows of empty cells that spreadsheets leave behind
        values = {
            column: cells[index] if index < len(cells) else ""
            for column, index in positions.items()
        }
        refused = frozenset(
            column
            for column, value in values.items()
            if _refused_character(source, line, column, value, cell_problems)
        )
        rows.append(Row(line, {column: value.strip() for column, value in values.items()}, refused))
    return rows


def _refused_character(
    source: Source, line: int, column: str, value: str, problems: Problems
) -> bool:
    """Refuse a cell holding a control or invisible format character, naming them."""
    # isprintable() is False for every Cc and Cf character and fast in C: the
    # character-by-character look runs only for the rare cell it flags.
    if value.isprintable():
        return False
    found = sorted({char for char in value if unicodedata.category(char) in REFUSED_CATEGORIES})
    if not found:
        return False  # e.g. a no-break space: printable to a reader, stripped or kept
    named = ", ".join(f"U+{ord(char):04X}" for char in found)
    problems.add(
        source,
        line,
        column,
        f"contains a control or invisible character ({named}); type the cell again without it",
    )
    return True


def _records(lines: Iterable[str]) -> Iterator[tuple[int, list[str]]]:
    """Each CSV record with the line it starts on (a quoted cell may span lines)."""
    reader = csv.reader(lines)
    start = 1
    for cells in reader:
        yield start, cells
        start = reader.line_num + 1


def _header_positions(
    source: Source,
    line: int,
    header: list[str],
    required: Sequence[str],
    optional: Sequence[str],
    problems: Problems,
) -> dict[str, int] | None:
    """Column name -> cell index for the known columns; None if the header is unusable."""
    known = set(required) | set(optional)
    positions: dict[str, int] = {}
    usable = True
    for index, cell in enumerate(header):
        name = cell.strip().lower()
        if name not in known:
            continue  # extra columns are ignored (docs/interfaces.md)
        if name in positions:
            problems.add(source, line, name, "the column appears twice in the header")
            usable = False
        positions.setdefault(name, index)
    for column in required:
        if column not in positions:
            problems.add(source, line, column, "required column is missing from the header")
            usable = False
    return positions if usable else None
