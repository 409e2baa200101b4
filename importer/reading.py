"""Reading the CSV files: the data rows of a file, by column name.

``read_rows`` decodes a file, splits it into CSV records and checks its
header; a file that cannot be read, is larger than ``settings.IMPORT_MAX_BYTES``,
is not UTF-8 or CSV, or lacks a required column is reported as a problem
instead of raising. A cell holding a control or invisible format character
is refused here, before any cell is converted (docs/interfaces.md).
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from django.conf import settings

from importer.problems import Problems, Source

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
        # The size first: a file too large is refused before it is read.
        size = source.path.stat().st_size
        if size > limit:
            problems.add_file(
                source,
                f"is {size:,} bytes, larger than the {limit:,} bytes the import accepts "
                "(IMPORT_MAX_BYTES); split it into smaller files",
            )
            return []
        raw = source.path.read_bytes()
    except OSError as error:
        problems.add_file(source, f"cannot be read ({error.strerror or error})")
        return []
    try:
        # utf-8-sig drops the byte order mark that spreadsheet programs write.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        problems.add_file(source, f"is not UTF-8 text (line {line}); save it again as 'CSV UTF-8'")
        return []
    try:
        records = list(_records(text))
    except csv.Error as error:
        problems.add_file(source, f"is not readable CSV ({error})")
        return []
    if not records:
        for column in required:
            problems.add(source, 1, column, "required column is missing (the file is empty)")
        return []
    header_line, header = records[0]
    positions = _header_positions(source, header_line, header, required, optional, problems)
    if positions is None:
        return []
    rows = []
    for line, cells in records[1:]:
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


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    """Each CSV record with the line it starts on (a quoted cell may span lines)."""
    reader = csv.reader(io.StringIO(text, newline=""))
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
