"""Finding a patient (issue 14): by name, record number, pump serial or birth date.

One selector serves the picker page (no JavaScript), its JSON endpoint (search
as you type) and the forms that check a chosen patient. Each way of matching
is a range on an index, so a search costs the same at 60 patients or 100,000,
and it is one query whatever it finds (at most ``limit`` rows, plus one to know
that more match):

- record number: ``LOWER(mrn)`` from the text (prefix), index ``patient_mrn_lower``;
- pump serial, any pump the patient ever had (an explanted one says so):
  ``LOWER(serial)`` prefix, the pumps' unique index on it;
- name: a prefix of the family name, of the given name, or both in either
  order ("smith jo", "jo smith", "Smith, Jo"), index ``patient_name_lower``
  and ``patient_given_name_lower``;
- birth date, typed YYYY-MM-DD (what the app's date fields send and its import
  reads) or DD/MM/YYYY (day first); a slash date that also reads month first
  (03/04/1950: the clinic is set up for the US) is searched both ways, and the
  page says so: ``birth_date``.

A prefix is read as ``LOWER(column) >= text AND LOWER(column) < next(text)``
(the index's range) and ``LIKE text%`` within it (exact). Names need at least
two characters (one letter matches a twentieth of the clinic); record numbers
and serials match from the first.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.db.models.expressions import RawSQL
from django.db.models.functions import Lower

from patients.models import Patient
from pumps.models import Pump

DEFAULT_LIMIT = 20
MAX_QUERY_CHARS = 100
MIN_NAME_CHARS = 2

_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_DAY_FIRST = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


@dataclass(frozen=True)
class Search:
    """What the text asks for: birth dates (one, or both readings of 03/04/1950),
    or words (lower case)."""

    text: str
    birth_dates: tuple[date, ...] = ()
    words: tuple[str, ...] = ()
    problem: str = ""  # why nothing was searched ("" when something was)
    note: str = ""  # how the text was read, when it could be read two ways


@dataclass(frozen=True)
class Found:
    patients: list[Patient]  # each with active_serial, matched_serial, matched_explanted
    more: bool  # more than the list match: type more of the name
    search: Search


def read_search(text: str) -> Search:
    """The search ``text`` asks for; ``problem`` says why it cannot be searched."""
    cleaned = "".join(
        char for char in (text or "") if unicodedata.category(char) not in {"Cf", "Cc"}
    ).strip()
    if not cleaned:
        return Search("", problem="Type a name, record number, pump serial or birth date.")
    if len(cleaned) > MAX_QUERY_CHARS:
        return Search(
            cleaned[:MAX_QUERY_CHARS], problem=f"Type at most {MAX_QUERY_CHARS} characters."
        )
    if match := _ISO.match(cleaned):
        year, month, day = (int(part) for part in match.groups())
        return _dates(cleaned, [(year, month, day)])
    if match := _DAY_FIRST.match(cleaned):
        day, month, year = (int(part) for part in match.groups())
        # Day first, as asked; a clinic in the US writes month first, so a date
        # that reads both ways (03/04/1950) is searched both ways, and says so.
        # (12/31/1950 can only be month first, and is read so.)
        readings = [(year, month, day)]
        if day != month:
            readings.append((year, day, month))
        return _dates(cleaned, readings)
    words = tuple(word for word in re.split(r"[\s,]+", cleaned.lower()) if word)
    return Search(cleaned, words=words)


def _dates(text: str, readings: list[tuple[int, int, int]]) -> Search:
    days = []
    for year, month, day in readings:
        try:
            days.append(date(year, month, day))
        except ValueError:
            continue
    if not days:
        return Search(
            text,
            problem=f"“{text}” is not a date: type the birth date as YYYY-MM-DD or DD/MM/YYYY.",
        )
    note = ""
    if len(days) > 1:
        note = (
            f"{text} reads as {days[0]:%-d %B %Y} (day first) or {days[1]:%-d %B %Y} "
            "(month first): patients born on either day are shown."
        )
    return Search(text, birth_dates=tuple(days), note=note)


def _after(prefix: str) -> str:
    """The first text after every text that starts with ``prefix``."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _prefix(field: str, prefix: str) -> Q:
    """``field`` (its LOWER() annotation) starts with ``prefix``: an index range, then exact."""
    return Q(
        **{
            f"{field}__gte": prefix,
            f"{field}__lt": _after(prefix),
            f"{field}__startswith": prefix,
        }
    )


def _name_branches(words: tuple[str, ...]) -> list[Q]:
    phrase = " ".join(words)
    if len(phrase) < MIN_NAME_CHARS:
        return []
    branches = [_prefix("family_lower", phrase), _prefix("given_lower", phrase)]
    if len(words) >= 2:
        # "smith jo" or "jo smith", and double-barrelled family names ("van der berg").
        for split in range(1, len(words)):
            first, rest = " ".join(words[:split]), " ".join(words[split:])
            branches.append(_prefix("family_lower", first) & _prefix("given_lower", rest))
            branches.append(_prefix("family_lower", rest) & _prefix("given_lower", first))
    return branches


def _serial_matches(prefix: str) -> QuerySet[Pump]:
    return Pump.objects.annotate(serial_lower=Lower("serial")).filter(
        _prefix("serial_lower", prefix)
    )


def _lowered() -> QuerySet[Patient]:
    return Patient.objects.annotate(
        family_lower=Lower("family_name"),
        given_lower=Lower("given_name"),
        mrn_lower=Lower("mrn"),
    )


def _union_of_ids(querysets: list[QuerySet[Any]]) -> RawSQL:
    """``id IN (a UNION b ...)``: each branch walks its own index, whatever the
    planner (an OR of them made PostgreSQL walk the whole name index)."""
    parts: list[str] = []
    params: list[Any] = []
    for queryset in querysets:
        sql, branch_params = queryset.order_by().query.sql_with_params()
        parts.append(f"SELECT * FROM ({sql}) AS branch_{len(parts)}")
        params += branch_params
    return RawSQL(" UNION ".join(parts), tuple(params))


def search_patients(text: str, *, limit: int = DEFAULT_LIMIT) -> Found:
    """Patients matching ``text`` (name, record number, serial, birth date): one query."""
    search = read_search(text)
    if search.problem:
        return Found([], False, search)
    rows = list(matching(search)[: limit + 1])
    return Found(rows[:limit], len(rows) > limit, search)


def matching(search: Search) -> QuerySet[Patient]:
    """The patients ``search`` finds, in name order, each with its pumps' serials."""
    active_pumps = Pump.objects.active().filter(patient=OuterRef("pk")).order_by("-implant_date")
    annotations: dict[str, Any] = {"active_serial": Subquery(active_pumps.values("serial")[:1])}
    if search.birth_dates:
        found = Patient.objects.filter(birth_date__in=search.birth_dates)
    else:
        token = " ".join(search.words)
        serials = _serial_matches(token.replace(" ", ""))
        branches: list[QuerySet[Any]] = [
            _lowered().filter(_prefix("mrn_lower", token)).values("pk"),
            serials.values("patient_id"),
        ]
        branches += [_lowered().filter(q).values("pk") for q in _name_branches(search.words)]
        found = Patient.objects.filter(pk__in=_union_of_ids(branches))
        matched = serials.filter(patient=OuterRef("pk")).order_by("serial")
        annotations["matched_serial"] = Subquery(matched.values("serial")[:1])
        annotations["matched_explant_date"] = Subquery(matched.values("explant_date")[:1])
    return (
        found.annotate(family_lower=Lower("family_name"), given_lower=Lower("given_name"))
        .annotate(**annotations)
        .order_by("family_lower", "given_lower", "mrn")
    )


def chosen_patient(value: object) -> Patient | None:
    """The patient a form's hidden field names by id, or None (one query)."""
    try:
        pk = int(str(value))
    except (TypeError, ValueError):
        return None
    if pk <= 0 or pk > 2**63 - 1:
        return None
    return Patient.objects.filter(pk=pk).first()
