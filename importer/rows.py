"""Rows: a row of the pumps or refills file, converted and checked on its own.

``Catalogue`` holds the pump models and drugs the codes refer to;
``parse_pump_row`` and ``parse_refill_row`` build a ``PumpRow`` or
``RefillRow`` from a file row, and a good refill row becomes a
``services.Fill``, the values the services take. Serials are matched
ignoring case (``serial_key``), as the database's unique constraint does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from core.formatting import plain_decimal
from importer.cells import Cells, _field
from importer.problems import Problems, Source
from importer.reading import Row
from patients.choices import Indication
from patients.models import Patient
from pumps.choices import ConcentrationUnit, DoseUnit, ExplantReason
from pumps.models import Drug, Pump, PumpModel, Refill
from pumps.services import Fill

# The most boluses a day a refill may allow (the model's validator).
MOST_BOLUSES_PER_DAY = 99

# The codes a cell may hold (a choices class's .values builds a new list each call).
INDICATIONS = frozenset(Indication.values)
EXPLANT_REASONS = frozenset(ExplantReason.values)
CONCENTRATION_UNITS = frozenset(ConcentrationUnit.values)
DOSE_UNITS = frozenset(DoseUnit.values)


def serial_key(serial: str) -> str:
    """A serial as rows are matched: ignoring case (NGP1 and ngp1 are one pump)."""
    return serial.lower()


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
    serial = cells.serial("serial")
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
    # Section 8: an implant before birth, an explant before its implant.
    if implant_date and birth_date and implant_date < birth_date:
        cells.problem("implant_date", f"{implant_date} is before the birth_date ({birth_date})")
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
    bolus_dose: Decimal | None  # None: blank (0 also means no bolus)
    boluses_per_day: int | None

    @property
    def key(self) -> tuple[str, date] | None:
        if self.serial is None or self.refill_date is None:
            return None
        return serial_key(self.serial), self.refill_date

    def fill(self) -> Fill:
        """The values of a row whose cells are good, as the services take them."""
        assert self.valid, "only a row with good cells becomes a fill"
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
            bolus_dose=self.bolus_dose,
            boluses_per_day=self.boluses_per_day,
        )


def parse_refill_row(
    source: Source, row: Row, problems: Problems, *, catalogue: Catalogue, today: date
) -> RefillRow:
    """Convert and check the cells of one refill row on their own."""
    cells = Cells(source, row, problems)
    serial = cells.serial("serial")
    refill_date = cells.day("refill_date", today=today)
    drug_code = cells.code("drug", catalogue.drugs, what="drug")
    # Whether a number is in range is services.validate_fill's to say (section 8).
    concentration = cells.number("concentration", model_field=_field(Refill, "concentration"))
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
    # Section 2: a patient-activated bolus, in the daily dose's unit.
    bolus_dose = cells.number(
        "bolus_dose", model_field=_field(Refill, "bolus_dose"), required=False
    )
    boluses_per_day = cells.whole_number("boluses_per_day", most=MOST_BOLUSES_PER_DAY)
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
        bolus_dose=bolus_dose,
        boluses_per_day=boluses_per_day,
    )
