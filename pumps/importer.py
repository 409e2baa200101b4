"""Import a clinic's spreadsheet (docs/interfaces.md, "Importing a clinic's spreadsheet").

The import is all or nothing and names every bad row, so it runs in two
phases:

1. ``check_files`` reads both CSV files, converts every cell and checks every
   row against the other rows, the catalogue and the database. It writes
   nothing. It returns a ``Plan``, or raises ``ImportRefused`` carrying every
   ``Problem`` found.
2. ``apply_plan`` writes the plan in one transaction through ``pumps.services``,
   which enforce the invariants again under a row lock and store each pump's
   schedule. Should a service still refuse a row (another writer got in
   between the two phases), the problem is reported the same way and the
   transaction rolls back.

Like a form, the checks here convert cells and explain problems in the
file's terms (line and column); the services stay the authority (docs/style.md,
point 7). Rows are matched by ``mrn`` (patients), ``serial`` (pumps) and
``serial`` + ``refill_date`` (refills), so importing the same files twice
writes nothing the second time. A blank optional cell means "not known": it
never erases what the database records.

Problems read ``[FILE:]LINE: COLUMN: PROBLEM``. LINE is the line in the file
as a text editor numbers it (the header is line 1). FILE is the file's name,
given only when two files are imported. A problem with the file as a whole
(unreadable, not UTF-8, not CSV) reads ``FILE: PROBLEM``.
"""

from __future__ import annotations

import csv
import functools
import io
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import Max
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from patients.choices import Indication, PatientStatus, VisitKind
from patients.models import Appointment, Patient
from patients.services import close_refill_visit
from pumps import bulk, schedule, services
from pumps.choices import ConcentrationUnit, DoseUnit, ExplantReason
from pumps.formatting import plain_decimal
from pumps.models import DoseAdjustment, Drug, Pump, PumpModel, Refill, SchedulePolicy

PUMP_REQUIRED = (
    "mrn",
    "family_name",
    "given_name",
    "birth_date",
    "indication",
    "pump_model",
    "serial",
    "implant_date",
)
PUMP_OPTIONAL = ("explant_date", "explant_reason", "alarm_ml")
REFILL_REQUIRED = (
    "serial",
    "refill_date",
    "drug",
    "concentration",
    "concentration_unit",
    "daily_dose",
    "dose_unit",
    "volume_ml",
)
REFILL_OPTIONAL = ("residual_ml", "eri")
PATIENT_FIELDS = ("family_name", "given_name", "birth_date", "indication")

# Unicode categories escaped in problem messages: controls and line/paragraph separators.
CONTROL_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})

# Files with more data rows than this report their progress while writing.
PROGRESS_ABOVE_ROWS = 1000
# New patients and pumps are written this many at a time (bulk inserts).
WRITE_BATCH = 500
# The stored schedule columns (services.compute_schedule's keys).
SCHEDULE_FIELDS = (
    "refill_alarm",
    "refill_deadline",
    "refill_due",
    "refill_limited_by",
    "battery_window_opens",
    "battery_window_closes",
)

# Strict forms: date.fromisoformat also takes 20260101 and 2026-W01-1, and
# Decimal also takes 1e3, 1_000, NaN and non-ASCII digits.
# The codes a cell may hold (a choices class's .values builds a new list each call).
INDICATIONS = frozenset(Indication.values)
EXPLANT_REASONS = frozenset(ExplantReason.values)
CONCENTRATION_UNITS = frozenset(ConcentrationUnit.values)
DOSE_UNITS = frozenset(DoseUnit.values)

ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")

# Service error keys that are not the file's column names.
SERVICE_FIELD_COLUMNS = {
    "alarm_ml_override": "alarm_ml",
    "reason": "explant_reason",
    "patient": "mrn",
}

T = TypeVar("T")


# --- Problems -----------------------------------------------------------------


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


# --- Reading the CSV files ----------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """A data row: the line it starts on and its stripped cells by column name."""

    line: int
    cells: Mapping[str, str]


def read_rows(
    source: Source, *, required: Sequence[str], optional: Sequence[str], problems: Problems
) -> list[Row]:
    """The data rows of one file; file and header problems go to ``problems``."""
    try:
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
        rows.append(
            Row(
                line,
                {
                    column: cells[index].strip() if index < len(cells) else ""
                    for column, index in positions.items()
                },
            )
        )
    return rows


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


# --- Converting cells -------------------------------------------------------------


def _field(model: type[models.Model], name: str) -> Any:
    """A model field, so limits such as max_length come from the model, not a copy."""
    return model._meta.get_field(name)


class Cells:
    """Converts the cells of one row, recording a problem for each bad one."""

    def __init__(self, source: Source, row: Row, problems: Problems) -> None:
        self.source = source
        self.row = row
        self.problems = problems
        self.ok = True

    def problem(self, column: str, message: str) -> None:
        self.ok = False
        self.problems.add(self.source, self.row.line, column, message)

    def given(self, column: str) -> bool:
        return bool(self.row.cells.get(column))

    def text(
        self, column: str, *, required: bool = True, max_length: int | None = None
    ) -> str | None:
        value = self.row.cells.get(column, "")
        if not value:
            if required:
                self.problem(column, "missing; this column is required")
            return None
        if "\x00" in value:
            self.problem(column, "contains a NUL character")
            return None
        if max_length is not None and len(value) > max_length:
            self.problem(column, f"is longer than {max_length} characters")
            return None
        return value

    def code(
        self, column: str, codes: Collection[str], *, what: str, required: bool = True
    ) -> str | None:
        value = self.text(column, required=required)
        if value is None:
            return None
        if value not in codes:
            self.problem(
                column, f"{value!r} is not a known {what} (one of {', '.join(sorted(codes))})"
            )
            return None
        return value

    def day(self, column: str, *, today: date, required: bool = True) -> date | None:
        value = self.text(column, required=required)
        if value is None:
            return None
        try:
            if not ISO_DATE.fullmatch(value):
                raise ValueError(value)
            day = date.fromisoformat(value)
        except ValueError:
            self.problem(column, f"{value!r} is not a date in the form YYYY-MM-DD")
            return None
        if day > today:
            self.problem(column, f"{day} is in the future (today is {today})")
            return None
        return day

    def number(
        self,
        column: str,
        *,
        model_field: models.DecimalField[Any, Any],
        required: bool = True,
        above_zero: bool = False,
    ) -> Decimal | None:
        """A non-negative decimal that fits the column it will be stored in."""
        value = self.text(column, required=required)
        if value is None:
            return None
        try:
            if not PLAIN_NUMBER.fullmatch(value):
                raise InvalidOperation(value)
            number = Decimal(value)
        except InvalidOperation:
            self.problem(column, f"{value!r} is not a number")
            return None
        if above_zero and number <= 0:
            self.problem(column, f"{value} must be above zero")
            return None
        if number < 0:
            self.problem(column, f"{value} cannot be negative")
            return None
        return self._fits(column, value, number, model_field)

    def _fits(
        self, column: str, text: str, number: Decimal, model_field: models.DecimalField[Any, Any]
    ) -> Decimal | None:
        # The database would round or refuse what does not fit; say so instead.
        places = model_field.decimal_places
        whole_digits = model_field.max_digits - places
        if number != 0 and number.adjusted() >= whole_digits:
            self.problem(column, f"{text} is too large")
            return None
        if number != number.quantize(Decimal(1).scaleb(-places)):
            self.problem(column, f"{text} has more than {places} decimal places")
            return None
        return number

    def yes_no(self, column: str) -> bool | None:
        value = self.text(column, required=False)
        if value is None:
            return None
        if value not in ("yes", "no"):
            self.problem(column, f"{value!r} is not yes, no or blank")
            return None
        return value == "yes"


def _show(value: object) -> str:
    """A value as a message quotes it: 'text', 20 (not 20.00), yes or no, blank."""
    if value is None:
        return "blank"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        return plain_decimal(value)
    if isinstance(value, str):
        return repr(value)
    return str(value)


# --- Rows --------------------------------------------------------------------------


@dataclass(frozen=True)
class Catalogue:
    """The pump models and drugs the codes in the files refer to."""

    pump_models: Mapping[str, PumpModel]
    drugs: Mapping[str, Drug]

    @classmethod
    def load(cls) -> Catalogue:
        return cls(
            pump_models=PumpModel.objects.in_bulk(field_name="code"),
            drugs=Drug.objects.in_bulk(field_name="code"),
        )


@dataclass(frozen=True)
class PumpRow:
    """A row of the pumps file; a field is None when blank or bad."""

    line: int
    valid: bool
    mrn: str | None
    family_name: str | None
    given_name: str | None
    birth_date: date | None
    indication: str | None
    model: PumpModel | None
    serial: str | None
    implant_date: date | None
    explant_date: date | None
    explant_reason: str | None
    alarm_ml: Decimal | None


def parse_pump_row(
    source: Source, row: Row, problems: Problems, *, catalogue: Catalogue, today: date
) -> PumpRow:
    """Convert and check the cells of one pump row on their own."""
    cells = Cells(source, row, problems)
    mrn = cells.text("mrn", max_length=_field(Patient, "mrn").max_length)
    family_name = cells.text("family_name", max_length=_field(Patient, "family_name").max_length)
    given_name = cells.text("given_name", max_length=_field(Patient, "given_name").max_length)
    birth_date = cells.day("birth_date", today=today)
    indication = cells.code("indication", INDICATIONS, what="indication")
    model_code = cells.code("pump_model", catalogue.pump_models, what="pump model")
    model = catalogue.pump_models[model_code] if model_code else None
    serial = cells.text("serial", max_length=_field(Pump, "serial").max_length)
    implant_date = cells.day("implant_date", today=today)
    explant_date = cells.day("explant_date", today=today, required=False)
    explant_reason = cells.code(
        "explant_reason", EXPLANT_REASONS, what="explant reason", required=False
    )
    alarm_ml = cells.number(
        "alarm_ml", model_field=_field(Pump, "alarm_ml_override"), required=False
    )
    # Section 7: an explant has a date and a reason, never one without the other.
    if cells.given("explant_date") and not cells.given("explant_reason"):
        cells.problem("explant_reason", "missing; it is required when explant_date is given")
    if cells.given("explant_reason") and not cells.given("explant_date"):
        cells.problem("explant_date", "missing; it is required when explant_reason is given")
    if explant_date and implant_date and explant_date < implant_date:
        cells.problem("explant_date", f"{explant_date} is before the implant_date ({implant_date})")
    if alarm_ml is not None and model is not None and alarm_ml >= model.reservoir_ml:
        cells.problem(
            "alarm_ml",
            f"{plain_decimal(alarm_ml)} mL is not below the {model.code} reservoir "
            f"({plain_decimal(model.reservoir_ml)} mL)",
        )
    return PumpRow(
        line=row.line,
        valid=cells.ok,
        mrn=mrn,
        family_name=family_name,
        given_name=given_name,
        birth_date=birth_date,
        indication=indication,
        model=model,
        serial=serial,
        implant_date=implant_date,
        explant_date=explant_date,
        explant_reason=explant_reason,
        alarm_ml=alarm_ml,
    )


@dataclass(frozen=True)
class RefillRow:
    """A row of the refills file; a field is None when blank or bad."""

    line: int
    valid: bool
    serial: str | None
    refill_date: date | None
    drug: Drug | None
    concentration: Decimal | None
    concentration_unit: str | None
    daily_dose: Decimal | None
    dose_unit: str | None
    volume_ml: Decimal | None
    residual_ml: Decimal | None
    eri: bool | None  # None: not known

    @property
    def key(self) -> tuple[str, date] | None:
        if self.serial is None or self.refill_date is None:
            return None
        return self.serial, self.refill_date

    def fill(self) -> Fill:
        """The values of a good row, as the services take them."""
        assert self.valid, "only a good row is written"
        assert self.refill_date is not None
        assert self.drug is not None
        assert self.concentration is not None
        assert self.concentration_unit is not None
        assert self.daily_dose is not None
        assert self.dose_unit is not None
        assert self.volume_ml is not None
        return Fill(
            refill_date=self.refill_date,
            drug=self.drug,
            concentration=self.concentration,
            concentration_unit=self.concentration_unit,
            daily_dose=self.daily_dose,
            dose_unit=self.dose_unit,
            volume_ml=self.volume_ml,
            residual_ml=self.residual_ml,
            eri=bool(self.eri),
        )


@dataclass(frozen=True)
class Fill:
    """A refill to record, in the terms of services.record_fill."""

    refill_date: date
    drug: Drug
    concentration: Decimal
    concentration_unit: str
    daily_dose: Decimal
    dose_unit: str
    volume_ml: Decimal
    residual_ml: Decimal | None
    eri: bool

    def as_kwargs(self) -> dict[str, Any]:
        # Not dataclasses.asdict: it would deep-copy the Drug instance.
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def parse_refill_row(
    source: Source, row: Row, problems: Problems, *, catalogue: Catalogue, today: date
) -> RefillRow:
    """Convert and check the cells of one refill row on their own."""
    cells = Cells(source, row, problems)
    serial = cells.text("serial", max_length=_field(Pump, "serial").max_length)
    refill_date = cells.day("refill_date", today=today)
    drug_code = cells.code("drug", catalogue.drugs, what="drug")
    concentration = cells.number(
        "concentration", model_field=_field(Refill, "concentration"), above_zero=True
    )
    # Section 2: never a dose or concentration without its unit.
    concentration_unit = cells.code(
        "concentration_unit", CONCENTRATION_UNITS, what="concentration unit"
    )
    daily_dose = cells.number("daily_dose", model_field=_field(Refill, "daily_dose"))
    dose_unit = cells.code("dose_unit", DOSE_UNITS, what="dose unit")
    volume_ml = cells.number("volume_ml", model_field=_field(Refill, "volume_ml"))
    residual_ml = cells.number(
        "residual_ml", model_field=_field(Refill, "residual_ml"), required=False
    )
    eri = cells.yes_no("eri")
    return RefillRow(
        line=row.line,
        valid=cells.ok,
        serial=serial,
        refill_date=refill_date,
        drug=catalogue.drugs[drug_code] if drug_code else None,
        concentration=concentration,
        concentration_unit=concentration_unit,
        daily_dose=daily_dose,
        dose_unit=dose_unit,
        volume_ml=volume_ml,
        residual_ml=residual_ml,
        eri=eri,
    )


# --- What the database already holds -------------------------------------------------


def _chunks(values: Sequence[T], size: int = 500) -> Iterator[Sequence[T]]:
    # SQLite caps the parameters of one query; keep every IN list well below it.
    for start in range(0, len(values), size):
        yield values[start : start + size]


@dataclass(frozen=True)
class Recorded:
    """The database rows the files' rows match, read in a few bulk queries."""

    patients: Mapping[str, Patient]
    pumps: Mapping[str, Pump]
    active_pumps: Mapping[str, list[Pump]]  # by patient mrn
    refills: Mapping[tuple[str, date], Refill]
    latest_refill: Mapping[str, date]  # by serial
    latest_adjustment: Mapping[str, date]  # by serial

    @classmethod
    def load(cls, pump_rows: Sequence[PumpRow], refill_rows: Sequence[RefillRow]) -> Recorded:
        mrns = sorted({row.mrn for row in pump_rows if row.mrn})
        serials = sorted(
            {row.serial for row in pump_rows if row.serial}
            | {row.serial for row in refill_rows if row.serial}
        )
        patients = Patient.objects.in_bulk(mrns, field_name="mrn")
        pumps = Pump.objects.select_related("patient", "model").in_bulk(
            serials, field_name="serial"
        )
        serial_of = {pump.pk: pump.serial for pump in pumps.values()}
        pump_ids = sorted(serial_of)

        active_pumps: dict[str, list[Pump]] = defaultdict(list)
        for chunk in _chunks(sorted(patient.pk for patient in patients.values())):
            for pump in (
                Pump.objects.active().filter(patient_id__in=chunk).select_related("patient")
            ):
                active_pumps[pump.patient.mrn].append(pump)

        latest_refill: dict[str, date] = {}
        latest_adjustment: dict[str, date] = {}
        refills: dict[tuple[str, date], Refill] = {}
        file_dates = [row.refill_date for row in refill_rows if row.refill_date]
        for chunk in _chunks(pump_ids):
            for pump_id, latest in (
                Refill.objects.filter(pump_id__in=chunk)
                .values_list("pump_id")
                .annotate(Max("refill_date"))
                .order_by()
            ):
                latest_refill[serial_of[pump_id]] = latest
            for pump_id, latest in (
                DoseAdjustment.objects.filter(pump_id__in=chunk)
                .values_list("pump_id")
                .annotate(Max("adjusted_on"))
                .order_by()
            ):
                latest_adjustment[serial_of[pump_id]] = latest
            if file_dates:
                # Only refills from the file's earliest date on can match a row.
                for refill in Refill.objects.filter(
                    pump_id__in=chunk, refill_date__gte=min(file_dates)
                ).select_related("drug"):
                    refills[serial_of[refill.pump_id], refill.refill_date] = refill
        return cls(patients, pumps, active_pumps, refills, latest_refill, latest_adjustment)


# --- Checking rows against each other and the database ---------------------------------


@dataclass(frozen=True)
class PumpFacts:
    """A pump as it will stand after the import: its file row over its database row."""

    serial: str
    mrn: str
    model: PumpModel
    implant_date: date
    explant_date: date | None
    explant_reason: str
    alarm_ml: Decimal | None
    existing: Pump | None
    line: int | None  # its line in the pumps file, if it has one

    @classmethod
    def from_row(cls, row: PumpRow, existing: Pump | None) -> PumpFacts:
        assert row.valid, "facts come from a good row only"
        assert row.serial is not None
        assert row.mrn is not None
        assert row.model is not None
        assert row.implant_date is not None
        # A blank optional cell means "not known": keep what the database records.
        explant_date = row.explant_date
        explant_reason = row.explant_reason or ""
        alarm_ml = row.alarm_ml
        if existing is not None:
            if explant_date is None:
                explant_date, explant_reason = existing.explant_date, existing.explant_reason
            if alarm_ml is None:
                alarm_ml = existing.alarm_ml_override
        return cls(
            serial=row.serial,
            mrn=row.mrn,
            model=row.model,
            implant_date=row.implant_date,
            explant_date=explant_date,
            explant_reason=explant_reason,
            alarm_ml=alarm_ml,
            existing=existing,
            line=row.line,
        )

    @classmethod
    def from_database(cls, pump: Pump) -> PumpFacts:
        return cls(
            serial=pump.serial,
            mrn=pump.patient.mrn,
            model=pump.model,
            implant_date=pump.implant_date,
            explant_date=pump.explant_date,
            explant_reason=pump.explant_reason,
            alarm_ml=pump.alarm_ml_override,
            existing=pump,
            line=None,
        )

    @property
    def is_active(self) -> bool:
        return self.explant_date is None

    def changed_fields(self) -> list[str]:
        """The fields of a recorded pump that the import changes."""
        if self.existing is None:
            return []
        wanted = {
            "explant_date": self.explant_date,
            "explant_reason": self.explant_reason,
            "alarm_ml_override": self.alarm_ml,
        }
        return [name for name, value in wanted.items() if getattr(self.existing, name) != value]


def check_pumps(
    source: Source, rows: Sequence[PumpRow], recorded: Recorded, problems: Problems
) -> tuple[dict[str, PumpFacts], set[str]]:
    """Facts of each good pump row, and every serial the pumps file names."""
    first_line: dict[str, int] = {}
    facts: dict[str, PumpFacts] = {}
    for row in rows:
        if row.serial is None:
            continue
        if row.serial in first_line:
            problems.add(
                source,
                row.line,
                "serial",
                f"{row.serial} is already on line {first_line[row.serial]}",
            )
            continue
        first_line[row.serial] = row.line
        if row.valid and _matches_recorded_pump(source, row, recorded, problems):
            facts[row.serial] = PumpFacts.from_row(row, recorded.pumps.get(row.serial))
    return facts, set(first_line)


def _matches_recorded_pump(
    source: Source, row: PumpRow, recorded: Recorded, problems: Problems
) -> bool:
    """A row for a pump already recorded must agree on what the import does not change."""
    pump = recorded.pumps.get(row.serial or "")
    if pump is None:
        return True
    ok = True

    def refuse(column: str, message: str) -> None:
        nonlocal ok
        ok = False
        problems.add(source, row.line, column, message)

    if pump.patient.mrn != row.mrn:
        refuse(
            "serial",
            f"pump {pump.serial} belongs to patient {pump.patient.mrn} in the database, "
            f"not {row.mrn}",
        )
    # A pump's model and implant date anchor its recorded refills and battery
    # window; the import does not rewrite them behind the refills' back.
    if row.model is not None and pump.model_id != row.model.pk:
        refuse(
            "pump_model",
            f"pump {pump.serial} is recorded as {pump.model.code}; "
            "the import does not change a recorded pump's model",
        )
    if pump.implant_date != row.implant_date:
        refuse(
            "implant_date",
            f"pump {pump.serial} is recorded as implanted on {pump.implant_date}; "
            "the import does not change a recorded pump's implant date",
        )
    latest = recorded.latest_refill.get(pump.serial)
    if row.explant_date is not None and latest is not None and row.explant_date < latest:
        refuse(
            "explant_date",
            f"{row.explant_date} is before the latest refill recorded for pump {pump.serial} "
            f"({latest})",
        )
    return ok


def check_patients(
    source: Source, rows: Sequence[PumpRow], problems: Problems
) -> dict[str, PumpRow]:
    """The first row of each mrn; later rows must give the same patient details."""
    first: dict[str, PumpRow] = {}
    for row in rows:
        if row.mrn is None:
            continue
        reference = first.setdefault(row.mrn, row)
        if reference is row:
            continue
        for name in PATIENT_FIELDS:
            theirs, ours = getattr(reference, name), getattr(row, name)
            if theirs is not None and ours is not None and theirs != ours:
                problems.add(
                    source,
                    row.line,
                    name,
                    f"{_show(ours)} differs from {_show(theirs)} given for patient {row.mrn} "
                    f"on line {reference.line}",
                )
    return first


def check_one_active_pump(
    source: Source,
    facts: Mapping[str, PumpFacts],
    *,
    serials_in_pumps_file: set[str],
    recorded: Recorded,
    problems: Problems,
) -> None:
    """A patient has at most one active pump (services.implant_pump refuses a second)."""
    active: dict[str, list[PumpFacts]] = defaultdict(list)
    for pump in facts.values():
        if pump.is_active:
            active[pump.mrn].append(pump)
    for mrn, in_file in active.items():
        in_database = [
            pump
            for pump in recorded.active_pumps.get(mrn, [])
            if pump.serial not in serials_in_pumps_file
        ]
        if len(in_file) + len(in_database) < 2:
            continue
        named = [f"{pump.serial} (line {pump.line})" for pump in in_file] + [
            f"{pump.serial} (in the database)" for pump in in_database
        ]
        for pump in in_file:
            assert pump.line is not None
            problems.add(
                source,
                pump.line,
                "explant_date",
                f"patient {mrn} would have {len(named)} active pumps: {', '.join(named)}; "
                "give the explant_date and explant_reason of each replaced pump",
            )


@dataclass
class RefillCheck:
    """The outcome of checking the refill rows: what is new and what is already recorded."""

    new: dict[str, list[RefillRow]] = field(default_factory=lambda: defaultdict(list))
    unchanged: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def check_refills(
    source: Source,
    rows: Sequence[RefillRow],
    *,
    facts: Mapping[str, PumpFacts],
    serials_in_pumps_file: set[str],
    recorded: Recorded,
    problems: Problems,
) -> RefillCheck:
    """Check each refill row against its pump, the other rows and the recorded refills."""
    outcome = RefillCheck()
    first_line: dict[tuple[str, date], int] = {}
    for row in rows:
        key = row.key
        if key is not None:
            if key in first_line:
                problems.add(
                    source,
                    row.line,
                    "refill_date",
                    f"a refill of {key[0]} on {key[1]} is already on line {first_line[key]}",
                )
                continue
            first_line[key] = row.line
        if row.serial is None:
            continue
        pump = facts.get(row.serial)
        if pump is None and row.serial not in serials_in_pumps_file:
            database_pump = recorded.pumps.get(row.serial)
            if database_pump is None:
                problems.add(
                    source,
                    row.line,
                    "serial",
                    f"{row.serial} is in neither the pumps file nor the database",
                )
                continue
            pump = PumpFacts.from_database(database_pump)
        if pump is None or not row.valid:
            continue  # its pump row or its own cells are bad; reported already
        assert key is not None
        existing = recorded.refills.get(key)
        if existing is not None:
            if _matches_recorded_refill(source, row, existing, problems):
                outcome.unchanged[row.serial] += 1
        elif _fits_pump(source, row, pump, recorded, problems):
            outcome.new[row.serial].append(row)
    for new_rows in outcome.new.values():
        # Section 4: each refill's expected residual comes from its predecessor.
        new_rows.sort(key=lambda row: row.refill_date or date.min)
    return outcome


def _matches_recorded_refill(
    source: Source, row: RefillRow, existing: Refill, problems: Problems
) -> bool:
    """A row for a recorded refill must repeat it; a blank optional cell is not known."""
    ours: dict[str, object] = {
        "drug": row.drug.code if row.drug else None,
        "concentration": row.concentration,
        "concentration_unit": row.concentration_unit,
        "daily_dose": row.daily_dose,
        "dose_unit": row.dose_unit,
        "volume_ml": row.volume_ml,
        "residual_ml": row.residual_ml,
        "eri": row.eri,
    }
    theirs: dict[str, object] = {
        "drug": existing.drug.code,
        "concentration": existing.concentration,
        "concentration_unit": existing.concentration_unit,
        "daily_dose": existing.daily_dose,
        "dose_unit": existing.dose_unit,
        "volume_ml": existing.volume_ml,
        "residual_ml": existing.residual_ml,
        "eri": existing.eri,
    }
    differences = [
        f"{name} {_show(ours[name])} here, {_show(theirs[name])} in the database"
        for name in ours
        if ours[name] is not None and ours[name] != theirs[name]
    ]
    if differences:
        problems.add(
            source,
            row.line,
            "refill_date",
            f"a refill of {row.serial} on {row.refill_date} "
            f"is already recorded with other values ({'; '.join(differences)})",
        )
        return False
    return True


def _fits_pump(
    source: Source, row: RefillRow, pump: PumpFacts, recorded: Recorded, problems: Problems
) -> bool:
    """A new refill must fall in its pump's life, after its recorded history, and fit."""
    assert row.refill_date is not None
    assert row.volume_ml is not None
    ok = True

    def refuse(column: str, message: str) -> None:
        nonlocal ok
        ok = False
        problems.add(source, row.line, column, message)

    serial, day = pump.serial, row.refill_date
    if day < pump.implant_date:
        refuse("refill_date", f"{day} is before pump {serial} was implanted ({pump.implant_date})")
    elif pump.explant_date is not None and day > pump.explant_date:
        refuse("refill_date", f"{day} is after pump {serial} was explanted ({pump.explant_date})")
    elif pump.existing is not None and not pump.existing.is_active:
        # services.record_fill refuses a fill on an explanted pump.
        refuse(
            "refill_date",
            f"pump {serial} is recorded as explanted ({pump.existing.explant_date}); "
            "the import does not add refills to an explanted pump",
        )
    else:
        _check_not_behind_history(refuse, day, serial, recorded)
    reservoir = pump.model.reservoir_ml
    for column, volume in (("volume_ml", row.volume_ml), ("residual_ml", row.residual_ml)):
        # Section 4: a fill above the reservoir size is refused.
        if volume is not None and volume > reservoir:
            refuse(
                column,
                f"{plain_decimal(volume)} mL is more than the {pump.model.code} reservoir holds "
                f"({plain_decimal(reservoir)} mL)",
            )
    if row.eri and not pump.model.has_battery:
        refuse("eri", f"yes, but a {pump.model.code} pump has no battery and shows no ERI")
    return ok


def _check_not_behind_history(
    refuse: Callable[[str, str], None], day: date, serial: str, recorded: Recorded
) -> None:
    # Expected residuals and stored dates are computed forward from the latest
    # fill; a refill slipped in behind recorded ones would leave them wrong.
    latest_refill = recorded.latest_refill.get(serial)
    latest_adjustment = recorded.latest_adjustment.get(serial)
    if latest_refill is not None and day < latest_refill:
        refuse(
            "refill_date",
            f"{day} is before the latest refill recorded for pump {serial} ({latest_refill}); "
            "the import adds refills only after the recorded ones, never behind them",
        )
    elif latest_adjustment is not None and day < latest_adjustment:
        refuse(
            "refill_date",
            f"{day} is before a dose change recorded for pump {serial} ({latest_adjustment}); "
            "the import adds refills only after recorded history, never behind it",
        )


# --- The plan ------------------------------------------------------------------------


@dataclass(frozen=True)
class Counts:
    """Rows of one kind the import creates, updates and finds unchanged."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass(frozen=True)
class PatientPlan:
    """A patient to create, update (``changed`` fields) or leave as recorded."""

    mrn: str
    values: Mapping[str, object]
    existing: Patient | None
    changed: list[str]
    has_active_pump: bool


@dataclass(frozen=True)
class PumpPlan:
    """A pump to create or update (``changed`` fields), and its new refills in date order."""

    facts: PumpFacts
    changed: list[str]
    new_refills: list[RefillRow]
    unchanged_refills: int

    @property
    def write_order(self) -> tuple[str, bool, date, str]:
        # A patient's replaced pumps are written, and explanted, before the
        # active one: as it happened, and never two active pumps at a time.
        facts = self.facts
        return facts.mrn, facts.is_active, facts.implant_date, facts.serial


@dataclass(frozen=True)
class Plan:
    """Everything the import will write, decided before anything is written."""

    pumps_source: Source
    refills_source: Source | None
    patients: list[PatientPlan]
    pumps: list[PumpPlan]
    pump_rows: int
    refill_rows: int

    def counts(self) -> dict[str, Counts]:
        """Rows to create, update and leave unchanged, per kind."""
        file_pumps = [pump for pump in self.pumps if pump.facts.line is not None]
        return {
            "patients": Counts(
                created=sum(p.existing is None for p in self.patients),
                updated=sum(p.existing is not None and bool(p.changed) for p in self.patients),
                unchanged=sum(p.existing is not None and not p.changed for p in self.patients),
            ),
            "pumps": Counts(
                created=sum(p.facts.existing is None for p in file_pumps),
                updated=sum(p.facts.existing is not None and bool(p.changed) for p in file_pumps),
                unchanged=sum(p.facts.existing is not None and not p.changed for p in file_pumps),
            ),
            "refills": Counts(
                created=sum(len(p.new_refills) for p in self.pumps),
                unchanged=sum(p.unchanged_refills for p in self.pumps),
            ),
        }


def check_files(pumps_path: Path, refills_path: Path | None = None, *, today: date) -> Plan:
    """Read and check the files against each other and the database; write nothing.

    Raises ``ImportRefused`` naming every problem found.
    """
    pumps_source, refills_source = sources_for(pumps_path, refills_path)
    problems = Problems()
    pump_table = read_rows(
        pumps_source, required=PUMP_REQUIRED, optional=PUMP_OPTIONAL, problems=problems
    )
    refill_table = (
        read_rows(
            refills_source, required=REFILL_REQUIRED, optional=REFILL_OPTIONAL, problems=problems
        )
        if refills_source is not None
        else []
    )
    if problems:
        # A file that cannot be read or lacks a column: its rows would only add noise.
        raise problems.refuse()

    catalogue = Catalogue.load()
    pump_rows = [
        parse_pump_row(pumps_source, row, problems, catalogue=catalogue, today=today)
        for row in pump_table
    ]
    refill_rows = []
    if refills_source is not None:
        refill_rows = [
            parse_refill_row(refills_source, row, problems, catalogue=catalogue, today=today)
            for row in refill_table
        ]
    recorded = Recorded.load(pump_rows, refill_rows)
    first_of_patient = check_patients(pumps_source, pump_rows, problems)
    facts, serials_in_pumps_file = check_pumps(pumps_source, pump_rows, recorded, problems)
    check_one_active_pump(
        pumps_source,
        facts,
        serials_in_pumps_file=serials_in_pumps_file,
        recorded=recorded,
        problems=problems,
    )
    refills = (
        check_refills(
            refills_source,
            refill_rows,
            facts=facts,
            serials_in_pumps_file=serials_in_pumps_file,
            recorded=recorded,
            problems=problems,
        )
        if refills_source is not None
        else RefillCheck()
    )
    if problems:
        raise problems.refuse()
    return Plan(
        pumps_source=pumps_source,
        refills_source=refills_source,
        patients=_patient_plans(first_of_patient, facts, recorded),
        pumps=_pump_plans(facts, refills, recorded),
        pump_rows=len(pump_rows),
        refill_rows=len(refill_rows),
    )


def _patient_plans(
    first_of_patient: Mapping[str, PumpRow], facts: Mapping[str, PumpFacts], recorded: Recorded
) -> list[PatientPlan]:
    # Only a new patient takes a status from the file; the app owns the others'.
    active_mrns = {pump.mrn for pump in facts.values() if pump.is_active}
    plans = []
    for mrn, row in first_of_patient.items():
        values = {name: getattr(row, name) for name in PATIENT_FIELDS}
        existing = recorded.patients.get(mrn)
        changed = (
            [name for name, value in values.items() if getattr(existing, name) != value]
            if existing is not None
            else []
        )
        plans.append(PatientPlan(mrn, values, existing, changed, mrn in active_mrns))
    return plans


def _pump_plans(
    facts: Mapping[str, PumpFacts], refills: RefillCheck, recorded: Recorded
) -> list[PumpPlan]:
    every = dict(facts)
    for serial in refills.new.keys() | refills.unchanged.keys():
        if serial not in every:
            every[serial] = PumpFacts.from_database(recorded.pumps[serial])
    plans = [
        PumpPlan(
            facts=pump,
            changed=pump.changed_fields(),
            new_refills=refills.new.get(serial, []),
            unchanged_refills=refills.unchanged.get(serial, 0),
        )
        for serial, pump in every.items()
    ]
    return sorted(plans, key=lambda plan: plan.write_order)


# --- Writing ------------------------------------------------------------------------------


class Progress:
    """Writes ``NAME: 50 % (600 of 1200 rows)`` at each tenth done, for big files only."""

    def __init__(self, name: str, total: int, write: Callable[[str], None] | None) -> None:
        self.name = name
        self.total = total
        self.write = write if total > PROGRESS_ABOVE_ROWS else None
        self.done = 0
        self.tenths = 0

    def advance(self, rows: int) -> None:
        self.done += rows
        if self.write is None or not rows:
            return
        tenths = self.done * 10 // self.total
        if tenths > self.tenths:
            self.tenths = tenths
            self.write(f"{self.name}: {tenths * 10} % ({self.done} of {self.total} rows)")


def apply_plan(plan: Plan, *, today: date, progress: Callable[[str], None] | None = None) -> None:
    """Write the plan in one transaction through the services: all or nothing."""
    pumps_progress = Progress(plan.pumps_source.name, plan.pump_rows, progress)
    refills_progress = Progress(
        plan.refills_source.name if plan.refills_source else "", plan.refill_rows, progress
    )
    try:
        with transaction.atomic():
            policy = SchedulePolicy.current()
            patients = _write_patients(plan.patients)
            for chunk in _chunks_of_new_pumps(plan.pumps):
                if chunk[0].facts.existing is None:
                    _write_new_pumps(chunk, patients, policy=policy)
                else:
                    (pump_plan,) = chunk
                    _write_pump(pump_plan, patients, plan=plan, policy=policy, today=today)
                for pump_plan in chunk:
                    pumps_progress.advance(1 if pump_plan.facts.line is not None else 0)
                    refills_progress.advance(
                        len(pump_plan.new_refills) + pump_plan.unchanged_refills
                    )
    except IntegrityError as error:
        # Someone recorded the same mrn, serial or refill between the check and
        # the write; the transaction rolled back, and a second run will match it.
        problems = Problems()
        problems.add_file(
            plan.pumps_source, f"the database changed during the import ({error}); run it again"
        )
        raise problems.refuse() from error


def _write_patients(plans: Sequence[PatientPlan]) -> dict[str, Patient]:
    patients: dict[str, Patient] = {}
    new: list[Patient] = []
    for plan in plans:
        patient = plan.existing
        if patient is None:
            status = PatientStatus.IMPLANTED if plan.has_active_pump else PatientStatus.DISCHARGED
            patient = Patient(mrn=plan.mrn, status=status, **plan.values)
            new.append(patient)
        elif plan.changed:
            # Only a changed patient is saved, so a re-import adds no history rows.
            for name in plan.changed:
                setattr(patient, name, plan.values[name])
            patient.save(update_fields=plan.changed)
        patients[plan.mrn] = patient
    # Inserted together, with their history rows, not one at a time.
    bulk.insert_with_history(new, Patient, now=timezone.now(), key=("mrn",))
    return patients


def _chunks_of_new_pumps(plans: Sequence[PumpPlan]) -> Iterator[list[PumpPlan]]:
    """Runs of up to WRITE_BATCH new pumps, and each recorded pump alone, in write order."""
    run: list[PumpPlan] = []
    for plan in plans:
        if plan.facts.existing is None:
            run.append(plan)
            if len(run) == WRITE_BATCH:
                yield run
                run = []
            continue
        if run:
            yield run
            run = []
        yield [plan]
    if run:
        yield run


def _write_new_pumps(
    plans: Sequence[PumpPlan], patients: Mapping[str, Patient], *, policy: SchedulePolicy
) -> None:
    """Create new pumps with their refills and stored schedules, a batch at a time.

    Not services.implant_pump, record_fill and explant_pump, pump by pump: the
    checks above held each row to their rules (serial unique, implant and
    fills not in the future nor outside the pump's life, fills in date order
    and within the reservoir, one active pump per patient, an explant with its
    reason), and a pump created in this transaction has no other refills, dose
    changes or booked visits. So each fill's predecessor is the previous fill
    here, its flag comes from the functions services.check_residual uses, and
    the schedule from services.compute_schedule on the latest fill, as
    services.store_schedule computes it (tests/pumps/test_import_clinic.py
    compares the two paths). Each pump gets one history record, of its final
    state.
    """
    pumps: list[Pump] = []
    for plan in plans:
        facts = plan.facts
        pumps.append(
            Pump(
                patient=patients[facts.mrn],
                model=facts.model,
                serial=facts.serial,
                implant_date=facts.implant_date,
                alarm_ml_override=facts.alarm_ml,
                explant_date=facts.explant_date,
                explant_reason=facts.explant_reason if facts.explant_date else "",
            )
        )
    now = timezone.now()
    bulk.insert(pumps, Pump, now=now, key=("serial",))  # ids, for the refills
    fills_of = [[row.fill() for row in plan.new_refills] for plan in plans]
    records_of = [
        _refills_of_new_pump(pump, fills, policy=policy)
        for pump, fills in zip(pumps, fills_of, strict=True)
    ]
    records = [record for pump_records in records_of for record in pump_records]
    bulk.insert_with_history(records, Refill, now=now, key=("pump_id", "refill_date"))
    for pump, fills, pump_records in zip(pumps, fills_of, records_of, strict=True):
        eri_dates = [fill.refill_date for fill in fills if fill.eri]
        # Section 5: the first day the indicator was seen.
        pump.eri_reported_on = min(eri_dates) if eri_dates else None
        latest = None
        if pump_records:
            latest = Refill(**pump_records[-1])
            latest.drug = fills[-1].drug
        latest_facts = (
            services.fill_facts(latest, is_first_fill=len(fills) == 1) if latest else None
        )
        values = services.compute_schedule(
            pump=pump, fill=latest_facts, rate_changes=(), policy=policy
        )
        pump.latest_fill = latest
        for name, value in values.items():
            setattr(pump, name, value)
    bulk.update(pumps, Pump, ["latest_fill", "eri_reported_on", *SCHEDULE_FIELDS])
    # The pump's one history record is of its final state, with its schedule.
    bulk.insert_history(pumps, Pump, now=now)


def _write_pump(
    pump_plan: PumpPlan,
    patients: Mapping[str, Patient],
    *,
    plan: Plan,
    policy: SchedulePolicy,
    today: date,
) -> None:
    """Update a recorded pump, record its new refills, then its explant (new pumps:
    _write_new_pumps)."""
    facts = pump_plan.facts
    fills = [(row.line, row.fill()) for row in pump_plan.new_refills]
    pump = facts.existing
    assert pump is not None
    if "alarm_ml_override" in pump_plan.changed:
        pump = Pump.objects.select_for_update().get(pk=pump.pk)
        pump.alarm_ml_override = facts.alarm_ml
        pump.save(update_fields=["alarm_ml_override"])
        if not fills:
            # The alarm volume moves the alarm date: store the schedule again.
            services.recompute_schedules([pump])
    if fills:
        assert plan.refills_source is not None
        _record_fills_of_recorded_pump(
            pump, fills, source=plan.refills_source, policy=policy, today=today
        )
    explant_is_new = bool({"explant_date", "explant_reason"} & set(pump_plan.changed))
    if facts.explant_date is not None and explant_is_new:
        assert facts.line is not None, "only a pumps file row changes an explant"
        # After its refills: services.record_fill refuses an explanted pump.
        _write_explant(pump, facts, row=RowRef(plan.pumps_source, facts.line), today=today)


def _record_fills_of_recorded_pump(
    pump: Pump,
    fills: Sequence[tuple[int, Fill]],
    *,
    source: Source,
    policy: SchedulePolicy,
    today: date,
) -> None:
    """Record new refills of a recorded pump in one batch, as services.record_fill would.

    record_fill costs a dozen queries a refill (about 12 s per 1,000) and stores
    the schedule after each. Here, under one lock of the pump: each fill is
    validated by the service (the authority, as in record_fill); its expected
    residual and flag come from the same functions services.check_residual
    uses, from the previous fill (the recorded latest one, then the previous
    fill of the batch) and the dose changes between them; the fills a booked
    visit waits for close it, in order; the first ERI seen dates the pump as
    record_fill and record_eri do; and the schedule is stored once, from the
    final state. The checks already put every fill after the recorded refills
    and dose changes, in date order. tests/pumps/test_import_batch.py compares
    the result with record_fill's, refill by refill.
    """
    locked = Pump.objects.select_for_update().select_related("model", "patient").get(pk=pump.pk)
    previous = (
        Refill.objects.filter(pump=locked).select_related("drug").order_by("-refill_date").first()
    )
    adjustments = list(
        DoseAdjustment.objects.filter(
            pump=locked,
            adjusted_on__gt=previous.refill_date if previous is not None else date.min,
        )
    )
    refills: list[Refill] = []
    for line, fill in fills:
        kwargs = fill.as_kwargs()
        kwargs.pop("drug")
        _service(RowRef(source, line), services.validate_fill, pump=locked, today=today, **kwargs)
        refill = Refill(pump=locked, **fill.as_kwargs())
        if previous is not None:
            between = [
                adjustment
                for adjustment in adjustments
                if previous.refill_date < adjustment.adjusted_on <= fill.refill_date
            ]
            expected = services.expected_residual(previous, fill.refill_date, between)
            services.set_residual_check(
                refill, expected, threshold_ml=policy.discrepancy_threshold_ml
            )
        refills.append(refill)
        previous = refill
    bulk_create_with_history(refills, Refill)
    if Appointment.objects.booked().filter(pump=locked, kind=VisitKind.REFILL).exists():
        for _, fill in fills:
            close_refill_visit(pump_id=locked.pk, refill_date=fill.refill_date)
    eri_dates = [fill.refill_date for _, fill in fills if fill.eri]
    if eri_dates and (locked.eri_reported_on is None or min(eri_dates) < locked.eri_reported_on):
        # Section 5: the first day the indicator was seen.
        locked.eri_reported_on = min(eri_dates)
        locked.save(update_fields=["eri_reported_on"])
    services.store_schedule(locked, policy=policy)


@functools.lru_cache(maxsize=4096)
def _daily_volume_of(dose: Decimal, dose_unit: str, concentration: Decimal, unit: str) -> Fraction:
    return schedule.daily_volume_ml(
        daily_dose=dose, dose_unit=dose_unit, concentration=concentration, concentration_unit=unit
    )


def _daily_volume(refill: Refill | Fill) -> Fraction:
    """Refill.daily_volume_ml, cached: a pump keeps its dose for many fills."""
    return _daily_volume_of(
        refill.daily_dose, refill.dose_unit, refill.concentration, refill.concentration_unit
    )


@functools.cache
def _refill_defaults() -> dict[str, Any]:
    return bulk.defaults(Refill)


def _refills_of_new_pump(
    pump: Pump, fills: Sequence[Fill], *, policy: SchedulePolicy
) -> list[dict[str, Any]]:
    """The refills of a pump this import creates, as bulk records (field values by
    attribute name), with expected residuals and flags."""
    records: list[dict[str, Any]] = []
    previous: Fill | None = None
    for fill in fills:
        record = _refill_defaults() | fill.as_kwargs()
        record["pump_id"] = pump.pk
        record["drug_id"] = record.pop("drug").pk
        if previous is not None:
            # Section 4: expected = V_prev - R_prev x days, flagged beyond the
            # threshold; services.expected_residual without dose changes, with
            # the daily volume worked out once per dose and concentration.
            expected = schedule.volume_on(
                fill_date=previous.refill_date,
                volume_ml=previous.volume_ml,
                daily_volume=_daily_volume(previous),
                on=fill.refill_date,
                rate_changes=[],
            )
            record |= services.residual_columns(
                fill.residual_ml, expected, threshold_ml=policy.discrepancy_threshold_ml
            )
        records.append(record)
        previous = fill
    return records


def _write_explant(pump: Pump, facts: PumpFacts, *, row: RowRef, today: date) -> None:
    assert facts.explant_date is not None
    locked = Pump.objects.select_for_update().get(pk=pump.pk)
    if locked.is_active:
        _service(
            row,
            services.explant_pump,
            pump=locked,
            explant_date=facts.explant_date,
            reason=facts.explant_reason,
            today=today,
        )
    else:
        # A corrected explant of a pump already explanted: services.explant_pump
        # refuses a second explant, and the checks above held the new values
        # to its rules (a reason, not before the implant or the latest refill).
        locked.explant_date = facts.explant_date
        locked.explant_reason = facts.explant_reason
        locked.save(update_fields=["explant_date", "explant_reason"])


@dataclass(frozen=True)
class RowRef:
    """The file row a write comes from, to report a service's refusal against."""

    source: Source
    line: int


def _service(
    row: RowRef, function: Callable[..., T], *, column: str = "refill_date", **kwargs: Any
) -> T:
    """Call a service; its refusal becomes a problem on the row (and rolls back).

    ``column`` names a refusal that is not tied to one field.
    """
    try:
        return function(**kwargs)
    except ValidationError as error:
        fields = error.message_dict if hasattr(error, "error_dict") else {column: error.messages}
        problems = Problems()
        for name, messages in fields.items():
            name = SERVICE_FIELD_COLUMNS.get(name, name)
            problems.add(row.source, row.line, name, " ".join(messages))
        raise problems.refuse() from error


# --- The whole import ----------------------------------------------------------------------


def import_clinic(
    pumps_path: Path,
    refills_path: Path | None = None,
    *,
    today: date,
    dry_run: bool = False,
    progress: Callable[[str], None] | None = None,
) -> Plan:
    """Check the files and, unless ``dry_run``, write them; returns the plan carried out."""
    plan = check_files(pumps_path, refills_path, today=today)
    if not dry_run:
        apply_plan(plan, today=today, progress=progress)
    return plan
