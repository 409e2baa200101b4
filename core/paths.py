"""The path of a page whose URL takes one integer id, without ``reverse`` per row.

``reverse`` matches the URL patterns with regular expressions on every call:
the worklist's 25 rows each link to three pages, and those 75 calls were
about a third of the rows' rendering. The path of a one-id page is the same
text around the id, so it is reversed once per process (and script prefix)
with a placeholder id and the id put in its place: the same string reverse
gives (tests/test_paths.py compares them).
"""

from __future__ import annotations

from functools import lru_cache

from django.urls import get_script_prefix, reverse

_PLACEHOLDER = 918273645  # no URL's fixed text holds it: checked below


@lru_cache(maxsize=128)
def _around(name: str, prefix: str) -> tuple[str, str]:
    path = reverse(name, args=[_PLACEHOLDER])
    before, found, after = path.partition(str(_PLACEHOLDER))
    if not found or str(_PLACEHOLDER) in after:
        raise ValueError(f"{name}: not a page with one id in its path")
    return before, after


def id_path(name: str, pk: int) -> str:
    """``reverse(name, args=[pk])`` for a URL of one ``<int:...>`` id."""
    if isinstance(pk, bool) or not isinstance(pk, int) or pk < 0:
        return reverse(name, args=[pk])  # anything unusual: reverse decides
    before, after = _around(name, get_script_prefix())
    return f"{before}{pk}{after}"


@lru_cache(maxsize=128)
def _path_of(name: str, prefix: str) -> str:
    return reverse(name)  # (the prefix is part of what reverse gives: it keys the cache)


def page_path(name: str) -> str:
    """``reverse(name)`` for a URL of no argument, matched once per process and script
    prefix: the navigation bar links to 15 pages on every page (about 0.6 ms a page)."""
    return _path_of(name, get_script_prefix())
