"""Every CSV the app writes goes through here (docs/interfaces.md, issue 13).

One place decides how a value becomes a cell, so no export can forget the
formula guard: a text cell a spreadsheet would run as a formula (first
character ``=``, ``+``, ``-``, ``@``, tab or carriage return) is written with a
leading ``'``, exactly as docs/interfaces.md says. Patient names and free text
reach these files, and a cell such as ``=HYPERLINK(...)`` would otherwise run
on a ward computer when the file is opened.

Downloads are named by what they are and the day (``pump-board-2026-04-06.csv``),
never by a patient: a file name is shown in download bars, recent-file lists
and the Downloads folder of a shared computer, beyond any sign-in.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from decimal import Decimal

from django.http import StreamingHttpResponse

# Spreadsheet programs run a text cell that starts with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

# What a download may be called before its date: a fixed word chosen in the code.
_DOWNLOAD_NAME = re.compile(r"[a-z]+(?:-[a-z]+)*")


def safe_cell(value: object) -> str:
    """One cell: empty for None, true/false for booleans, ISO dates, numbers as
    written, and text that a spreadsheet would run given a leading ``'``."""
    if value is None:
        return ""
    if isinstance(value, bool):  # before int: True is an int too
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int | float | Decimal):
        # A number is no text cell: -3 is minus three to a spreadsheet, not a formula.
        return str(value)
    text = str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def csv_lines(header: Sequence[str], rows: Iterable[Iterable[object]]) -> Iterator[str]:
    """CSV text line by line (a record with a quoted line break is one chunk),
    for a streaming response or a command's output; every cell through safe_cell.

    Records end in "\n". The writer is told "\r\n" and the "\r" taken off each
    record's end: Python 3.11's csv quotes a cell only for the characters of
    its line terminator, so with "\n" a carriage return inside a cell went out
    bare, and readers split the row there.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in itertools.chain([header], rows):
        writer.writerow([safe_cell(value) for value in row])
        yield buffer.getvalue()[:-2] + "\n"
        buffer.seek(0)
        buffer.truncate()


def download_name(kind: str, day: date) -> str:
    """``KIND-YYYY-MM-DD.csv``; refuses any kind that is not a fixed lower-case word."""
    if not _DOWNLOAD_NAME.fullmatch(kind):
        raise ValueError(f"a download is named by a fixed word, not {kind!r}")
    return f"{kind}-{day.isoformat()}.csv"


def csv_download(lines: Iterable[str], *, kind: str, day: date) -> StreamingHttpResponse:
    """A streamed CSV attachment named ``KIND-YYYY-MM-DD.csv`` (no patient data)."""
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{download_name(kind, day)}"'
    return response
