"""The worklist's pages: by number from the top, then by key.

The first page, and any page asked for by number, is read by offset
(``Paginator``): cheap near the top, where nurses work. The Next and
Previous links carry the key of the row the page starts after (or ends
before), so a page deep in a list of tens of thousands of pumps costs what
the first one does (docs/benchmarks.md: the last page at 100,000 pumps took
880 ms by offset), and a pump refilled meanwhile never shifts a row onto the
wrong page. The page number shown is carried along for orientation.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.http import QueryDict

from care.worklist import PageKey, RankedWorklist
from pumps.models import Pump

PAGE_LINK_PARAMETERS = ("page", "after", "before")


@dataclass(frozen=True)
class WorklistPage:
    object_list: list[Pump]
    number: int
    count: int
    num_pages: int
    previous_query: str  # "" when there is no previous page
    next_query: str  # "" when there is no next page


def _number(text: str | None, *, last: int) -> int:
    try:
        number = int(text or "1")
    except ValueError:
        return 1
    return min(max(number, 1), last)


def worklist_page(pumps: RankedWorklist, params: QueryDict, *, size: int) -> WorklistPage:
    """The page ``params`` ask for (page, after, before), with its links."""
    count = pumps.count()
    num_pages = max(1, -(-count // size))
    kept = params.copy()
    for name in PAGE_LINK_PARAMETERS:
        kept.pop(name, None)
    after = PageKey.parse(params.get("after", ""))
    before = PageKey.parse(params.get("before", ""))
    rows: list[Pump] = []
    if after is not None and pumps.fits(after):
        rows, has_next = pumps.after(after, size)
        number, has_previous = _number(params.get("page"), last=num_pages), True
    elif before is not None and pumps.fits(before):
        rows, has_previous = pumps.before(before, size)
        if not has_previous:
            rows = []  # less than a page before the key: the page by its number
        number, has_next = _number(params.get("page"), last=num_pages), True
    if not rows:
        # No key, a key from an edited link, or nothing left past it.
        page = Paginator(pumps, size).get_page(params.get("page"))
        rows, number = list(page.object_list), page.number
        has_previous, has_next = page.has_previous(), page.has_next()

    def link(**values: object) -> str:
        return "&".join(part for part in (kept.urlencode(), urlencode(values)) if part)

    previous_query = ""
    if has_previous:
        if number <= 2:
            previous_query = link(page=1)
        else:
            previous_query = link(page=number - 1, before=rows[0].page_key.token())  # type: ignore[attr-defined]
    next_query = ""
    if has_next and rows:
        next_query = link(page=min(number + 1, num_pages), after=rows[-1].page_key.token())  # type: ignore[attr-defined]
    return WorklistPage(rows, number, count, num_pages, previous_query, next_query)


# The printed worklist (issue 14) lists every row of the filter, not one page.
# It is read in chunks by key, as Next reads a page, so a long list costs a
# few statements per chunk and never an OFFSET deep into the list. Past
# PRINT_ROW_CAP rows (some 80 printed pages) the print-out stops and says so:
# nobody works through more on paper, and a filter narrows it.
PRINT_ROW_CAP = 2000
PRINT_CHUNK = 500


def every_row(
    pumps: RankedWorklist, *, cap: int = PRINT_ROW_CAP, chunk: int = PRINT_CHUNK
) -> tuple[list[Pump], int]:
    """The list's rows in its order, at most ``cap``; and the list's length."""
    count = pumps.count()
    wanted = min(count, cap)
    rows: list[Pump] = pumps[0 : min(chunk, wanted)]
    while rows and len(rows) < wanted:
        more, has_more = pumps.after(rows[-1].page_key, min(chunk, wanted - len(rows)))  # type: ignore[attr-defined]
        rows += more
        if not has_more or not more:
            break
    return rows, count
