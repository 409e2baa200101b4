"""The plan: everything the import will write, decided before anything is written.

``check_files`` (the first phase) reads and checks both files and returns a
``Plan`` of ``PatientPlan`` and ``PumpPlan`` entries and the warnings to
print, or raises ``ImportRefused`` naming every problem; ``Counts`` sums
what it creates, updates and leaves unchanged. The columns each file must and may have are
defined here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from importer.checks import (
    PATIENT_FIELDS,
    PumpFacts,
    RefillCheck,
    check_one_active_pump,
    check_patients,
    check_pumps,
    check_refills,
)
from importer.problems import Problem, Problems, Source, sources_for
from importer.reading import read_rows
from importer.recorded import Recorded
from importer.rows import Catalogue, PumpRow, RefillRow, parse_pump_row, parse_refill_row
from patients.models import Patient
from pumps.models import SchedulePolicy

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
REFILL_OPTIONAL = ("residual_ml", "eri", "bolus_dose", "boluses_per_day")


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
    # What section 8 asks to confirm, "LINE: COLUMN: warning: ...": imported all the same.
    warnings: list[Problem]

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
    cell_problems = Problems()
    pump_table = read_rows(
        pumps_source,
        required=PUMP_REQUIRED,
        optional=PUMP_OPTIONAL,
        problems=problems,
        cell_problems=cell_problems,
    )
    refill_table = (
        read_rows(
            refills_source,
            required=REFILL_REQUIRED,
            optional=REFILL_OPTIONAL,
            problems=problems,
            cell_problems=cell_problems,
        )
        if refills_source is not None
        else []
    )
    if problems:
        # A file that cannot be read or lacks a column: its rows would only add noise.
        raise problems.refuse()
    problems.extend(cell_problems)

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
    policy = SchedulePolicy.current()
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
            policy=policy,
            today=today,
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
        warnings=sorted(refills.warnings, key=lambda warning: warning.line or 0),
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
