"""The synthetic registry as the two CSV files of docs/interfaces.md (for the import)."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

from bench.synthetic import PumpSpec

# The importer's columns (importer/plan.py), written out again because
# `python -m bench` writes the files before any Django set-up, which importing
# the importer needs; tests/bench checks the two agree.
PUMP_COLUMNS = (
    "mrn",
    "family_name",
    "given_name",
    "birth_date",
    "indication",
    "pump_model",
    "serial",
    "implant_date",
    "explant_date",
    "explant_reason",
    "alarm_ml",
)
REFILL_COLUMNS = (
    "serial",
    "refill_date",
    "drug",
    "concentration",
    "concentration_unit",
    "daily_dose",
    "dose_unit",
    "volume_ml",
    "residual_ml",
    "eri",
    "bolus_dose",
    "boluses_per_day",
)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else ""
    return str(value)


def write(specs: Iterable[PumpSpec], pumps_path: Path, refills_path: Path) -> tuple[int, int]:
    """Write both files; returns the numbers of pump and refill rows."""
    pumps = refills = 0
    with (
        pumps_path.open("w", newline="", encoding="utf-8") as pumps_file,
        refills_path.open("w", newline="", encoding="utf-8") as refills_file,
    ):
        pump_writer = csv.writer(pumps_file)
        refill_writer = csv.writer(refills_file)
        pump_writer.writerow(PUMP_COLUMNS)
        refill_writer.writerow(REFILL_COLUMNS)
        for spec in specs:
            pump_writer.writerow(
                _cell(value)
                for value in (
                    spec.mrn,
                    spec.family_name,
                    spec.given_name,
                    spec.birth_date,
                    spec.indication,
                    spec.model,
                    spec.serial,
                    spec.implant_date,
                    spec.explant_date,
                    spec.explant_reason,
                    spec.alarm_ml,
                )
            )
            pumps += 1
            for fill in spec.fills:
                refill_writer.writerow(
                    _cell(value)
                    for value in (
                        spec.serial,
                        fill.refill_date,
                        fill.drug,
                        fill.concentration,
                        fill.concentration_unit,
                        fill.daily_dose,
                        fill.dose_unit,
                        fill.volume_ml,
                        fill.residual_ml,
                        fill.eri,
                        fill.bolus_dose,
                        fill.boluses_per_day,
                    )
                )
                refills += 1
    return pumps, refills
