"""Problems with the files, and how they are reported.

``Problem`` is one bad cell, row or file in the file's terms; ``Problems``
collects them and ``ImportRefused`` carries them all; ``Source`` is one file
being imported and the label its problems carry (``sources_for``); and
``printable`` keeps a problem on one harmless line.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

# Unicode categories escaped in problem messages: controls and line/paragraph separators.
CONTROL_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})


@dataclass(frozen=True)
class Problem:
    """One bad cell, row or file, in the words of the file."""

    file: str
    line: int | None
    column: str
    message: str

    def __str__(self) -> str:
        if self.line is None:
            return f"{self.file}: {printable(self.message)}"
        where = f"{self.file}:{self.line}" if self.file else str(self.line)
        return f"{where}: {self.column}: {printable(self.message)}"


def printable(text: str) -> str:
    """Control characters and line breaks escaped: a problem naming a cell such
    as "Ann<newline>Marie" stays one line, and a cell cannot send escape codes
    to the terminal. isprintable() is fast and False for every such character,
    so the character-by-character look runs only for the rare message it flags.
    """
    if text.isprintable():
        return text
    return "".join(
        char.encode("unicode_escape").decode("ascii")
        if unicodedata.category(char) in CONTROL_CATEGORIES
        else char
        for char in text
    )


class ImportRefused(Exception):
    """The files cannot be imported; ``problems`` names every reason."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = list(problems)


@dataclass(frozen=True)
class Source:
    """One CSV file being imported, and how its problems are labelled."""

    path: Path
    index: int
    label: str  # before the line number; "" when it is the only file

    @property
    def name(self) -> str:
        return self.path.name


class Problems:
    """Every problem found, reported file by file in line order."""

    def __init__(self) -> None:
        self._found: list[tuple[int, int, Problem]] = []

    def __bool__(self) -> bool:
        return bool(self._found)

    def add(self, source: Source, line: int, column: str, message: str) -> None:
        self._found.append((source.index, line, Problem(source.label, line, column, message)))

    def add_file(self, source: Source, message: str) -> None:
        self._found.append((source.index, 0, Problem(source.name, None, "", message)))

    def extend(self, other: Problems) -> None:
        self._found.extend(other._found)

    def refuse(self) -> ImportRefused:
        # sorted() is stable: problems of one line keep the order they were found in.
        return ImportRefused([problem for *_, problem in sorted(self._found, key=lambda f: f[:2])])


def sources_for(pumps_path: Path, refills_path: Path | None) -> tuple[Source, Source | None]:
    """The two files' labels: their names, or their paths should the names be the same."""
    if refills_path is None:
        return Source(pumps_path, 0, ""), None
    same_name = pumps_path.name == refills_path.name
    return (
        Source(pumps_path, 0, str(pumps_path) if same_name else pumps_path.name),
        Source(refills_path, 1, str(refills_path) if same_name else refills_path.name),
    )
