"""Checking rows against each other and the database.

``PumpFacts`` is a pump as it will stand after the import; the ``check_*``
functions find duplicate and contradicting rows, rows that disagree with
what is recorded, a patient with two active pumps, and refills that do not
fit their pump's life or recorded history. Each new refill is then held to
the rules every entry path shares (``services.validate_fill``, clinical-rules.md
section 8) and what they only ask to confirm (``services.fill_warnings``)
becomes a warning. ``RefillCheck`` holds which refill rows are new, which
are already recorded, and the warnings. Serials match ignoring case: the
mappings here are keyed by ``serial_key``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError

from importer.cells import _show
from importer.problems import Problem, Problems, Source
from importer.recorded import Recorded
from importer.rows import PumpRow, RefillRow, serial_key
from pumps import services
from pumps.models import Pump, PumpModel, Refill, SchedulePolicy

# The id a pump the import creates has while its rows are checked: no row has
# it (ids start at 1), so the services find no refills or dose changes of it,
# as there are none.
NEW_PUMP_ID = 0

PATIENT_FIELDS = ("family_name", "given_name", "birth_date", "indication")


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
            # A recorded pump keeps its serial as recorded (rows match ignoring case).
            serial=existing.serial if existing is not None else row.serial,
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

    @property
    def key(self) -> str:
        return serial_key(self.serial)

    def as_filled(self) -> Pump:
        """The pump as its new refills find it, for the services' checks: a
        recorded pump as recorded (explanted or not), with the file's alarm
        volume; a new pump not yet explanted (its explant comes after its fills)."""
        existing = self.existing
        return Pump(
            pk=existing.pk if existing is not None else NEW_PUMP_ID,
            model=self.model,
            serial=self.serial,
            implant_date=self.implant_date,
            explant_date=existing.explant_date if existing is not None else None,
            alarm_ml_override=self.alarm_ml,
        )

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
        key = serial_key(row.serial)
        if key in first_line:
            problems.add(
                source,
                row.line,
                "serial",
                f"{row.serial} is already on line {first_line[key]} (serials match ignoring case)",
            )
            continue
        first_line[key] = row.line
        if row.valid and _matches_recorded_pump(source, row, recorded, problems):
            facts[key] = PumpFacts.from_row(row, recorded.pumps.get(key))
    return facts, set(first_line)


def _matches_recorded_pump(
    source: Source, row: PumpRow, recorded: Recorded, problems: Problems
) -> bool:
    """A row for a pump already recorded must agree on what the import does not change."""
    pump = recorded.pumps.get(serial_key(row.serial or ""))
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
    latest = recorded.latest_refill.get(serial_key(pump.serial))
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
            if serial_key(pump.serial) not in serials_in_pumps_file
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
    """The outcome of checking the refill rows: what is new, what is already
    recorded (both by serial_key), and the warnings to print."""

    new: dict[str, list[RefillRow]] = field(default_factory=lambda: defaultdict(list))
    unchanged: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    warnings: list[Problem] = field(default_factory=list)


def check_refills(
    source: Source,
    rows: Sequence[RefillRow],
    *,
    facts: Mapping[str, PumpFacts],
    serials_in_pumps_file: set[str],
    recorded: Recorded,
    problems: Problems,
    policy: SchedulePolicy,
    today: date,
) -> RefillCheck:
    """Check each refill row against its pump, the other rows and the recorded refills,
    then each new one against the services' rules, in date order per pump."""
    outcome = RefillCheck()
    first_line: dict[tuple[str, date], int] = {}
    pumps: dict[str, PumpFacts] = {}
    for row in rows:
        key = row.key
        if key is not None:
            if key in first_line:
                problems.add(
                    source,
                    row.line,
                    "refill_date",
                    f"a refill of {row.serial} on {key[1]} is already on line {first_line[key]}",
                )
                continue
            first_line[key] = row.line
        if row.serial is None:
            continue
        serial = serial_key(row.serial)
        pump = facts.get(serial)
        if pump is None and serial not in serials_in_pumps_file:
            database_pump = recorded.pumps.get(serial)
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
                outcome.unchanged[serial] += 1
        else:
            outcome.new[serial].append(row)
            pumps[serial] = pump
    for serial, new_rows in outcome.new.items():
        # Section 4: each refill's expected residual comes from its predecessor.
        new_rows.sort(key=lambda row: row.refill_date or date.min)
        good = _check_new_fills(
            source,
            new_rows,
            pumps[serial],
            recorded=recorded,
            problems=problems,
            policy=policy,
            today=today,
            warnings=outcome.warnings,
        )
        new_rows[:] = good
    return outcome


def _check_new_fills(
    source: Source,
    rows: Sequence[RefillRow],
    pump: PumpFacts,
    *,
    recorded: Recorded,
    problems: Problems,
    policy: SchedulePolicy,
    today: date,
    warnings: list[Problem],
) -> list[RefillRow]:
    """The new fills of one pump, in date order, that fit it; warnings for the rest to confirm.

    Each fill is refused or warned about exactly as the staff form would
    (services.validate_fill, services.fill_warnings); its previous fill is
    the one before it in the file, or for the first the latest recorded one.
    """
    as_filled = pump.as_filled()
    good: list[RefillRow] = []
    previous: Refill | None = None
    for row in rows:
        fill = row.fill()
        refused = _fits_pump(source, row, pump, recorded, problems)
        try:
            services.validate_fill(pump=as_filled, fill=fill, today=today)
        except ValidationError as error:
            for column, messages in error.message_dict.items():
                if column not in refused:  # one problem per cell
                    refused.add(column)
                    problems.add(source, row.line, column, " ".join(messages))
        if refused:
            previous = None  # nothing to compare the next fill with
            continue
        good.append(row)
        for warning in services.fill_warnings(
            pump=as_filled, fill=fill, previous=previous, policy=policy
        ):
            warnings.append(
                Problem(source.label, row.line, warning.field, f"warning: {warning.message}")
            )
        previous = Refill(pump=as_filled, **fill.columns())
    return good


def _matches_recorded_refill(
    source: Source, row: RefillRow, existing: Refill, problems: Problems
) -> bool:
    """A row for a recorded refill must repeat it; a blank optional cell is not known."""
    has_boluses = bool(row.bolus_dose)
    ours: dict[str, object] = {
        "drug": row.drug.code if row.drug else None,
        "concentration": row.concentration,
        "concentration_unit": row.concentration_unit,
        "daily_dose": row.daily_dose,
        "dose_unit": row.dose_unit,
        "volume_ml": row.volume_ml,
        "residual_ml": row.residual_ml,
        "eri": row.eri,
        # A bolus dose of 0 means none, as blank does: stored as none.
        "bolus_dose": row.bolus_dose if has_boluses else None,
        "boluses_per_day": row.boluses_per_day if has_boluses else None,
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
        "bolus_dose": existing.bolus_dose,
        "boluses_per_day": existing.boluses_per_day,
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
) -> set[str]:
    """What the import adds to the services' rules: a new refill falls before its
    pump's explant in the file and after its recorded history. Returns the
    columns refused."""
    assert row.refill_date is not None
    refused: set[str] = set()

    def refuse(column: str, message: str) -> None:
        refused.add(column)
        problems.add(source, row.line, column, message)

    serial, day = pump.serial, row.refill_date
    if day < pump.implant_date:
        return refused  # services.validate_fill says so
    if pump.explant_date is not None and day > pump.explant_date:
        refuse("refill_date", f"{day} is after pump {serial} was explanted ({pump.explant_date})")
    elif pump.existing is not None and not pump.existing.is_active:
        # services.record_fill refuses a fill on an explanted pump.
        refuse(
            "refill_date",
            f"pump {serial} is recorded as explanted ({pump.existing.explant_date}); "
            "the import does not add refills to an explanted pump",
        )
    else:
        _check_not_behind_history(refuse, day, pump.key, serial, recorded)
    return refused


def _check_not_behind_history(
    refuse: Callable[[str, str], None], day: date, key: str, serial: str, recorded: Recorded
) -> None:
    # Expected residuals and stored dates are computed forward from the latest
    # fill; a refill slipped in behind recorded ones would leave them wrong.
    latest_refill = recorded.latest_refill.get(key)
    latest_adjustment = recorded.latest_adjustment.get(key)
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
