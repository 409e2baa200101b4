"""A synthetic clinic registry as plain data: patients, pumps and their fills.

Pure Python with a seeded random generator, so the database builder and the
CSV writer of the import benchmark describe the same clinic. The shapes follow
a real clinic: most pumps active with about twenty refills each, a few never
filled yet, some replaced (an explanted pump beside the active one), mixed
drugs and models, and last fills spread so every refill status occurs.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

# code: (reservoir mL, alarm mL, has battery, weight)
MODELS: dict[str, tuple[int, Decimal, bool, int]] = {
    "synchromed_ii_40": (40, Decimal("2.0"), True, 50),
    "synchromed_ii_20": (20, Decimal("2.0"), True, 25),
    "prometra_ii_40": (40, Decimal("3.0"), True, 10),
    "prometra_ii_20": (20, Decimal("3.0"), True, 5),
    "codman_3000": (30, Decimal("2.0"), False, 10),
}


@dataclass(frozen=True)
class Regimen:
    """A drug as clinics fill it: concentrations, a dose range and a weight."""

    drug: str
    concentrations: tuple[str, ...]
    concentration_unit: str
    dose_range: tuple[float, float]
    dose_unit: str
    stability_days: int
    weight: int


REGIMENS = (
    Regimen("morphine", ("10", "20", "25"), "mg/mL", (1.0, 8.0), "mg/day", 90, 30),
    Regimen("baclofen", ("500", "1000", "2000"), "mcg/mL", (60.0, 700.0), "mcg/day", 180, 25),
    Regimen("hydromorphone", ("2", "5", "10"), "mg/mL", (0.5, 3.0), "mg/day", 90, 20),
    Regimen("ziconotide", ("25", "100"), "mcg/mL", (1.2, 9.0), "mcg/day", 40, 5),
    Regimen("bupivacaine", ("10", "20"), "mg/mL", (2.0, 8.0), "mg/day", 90, 5),
    Regimen("clonidine", ("500", "1000"), "mcg/mL", (50.0, 300.0), "mcg/day", 90, 5),
    Regimen("fentanyl", ("500", "1000"), "mcg/mL", (50.0, 400.0), "mcg/day", 90, 5),
    Regimen("admixture", ("10", "20"), "mg/mL", (1.0, 6.0), "mg/day", 90, 5),
)
INDICATIONS = (
    "cancer_pain",
    "post_laminectomy",
    "failed_back",
    "osteoporosis",
    "cerebral_palsy",
    "stroke",
    "multiple_sclerosis",
    "spinal_cord_injury",
    "other",
)
FAMILY_NAMES = ("Ames", "Baker", "Chen", "Diaz", "Evans", "Fischer", "Garcia", "Haddad", "Ito")
GIVEN_NAMES = ("Ann", "Ben", "Carla", "Dev", "Eva", "Femi", "Gus", "Hana", "Ivan", "Jo")

REFILLS_PER_ACTIVE_PUMP = (18, 28)  # about twenty on average, with the others
REFILLS_PER_EXPLANTED_PUMP = (5, 12)
NEVER_FILLED = 0.02  # share of active pumps implanted lately, not filled yet
REPLACED = 0.08  # share of patients whose first pump was replaced
DISCHARGED = 0.02  # share of patients with an explanted pump only
DISCREPANCY = 0.03  # share of fills with a residual far from the expected one
LAPSED = 0.03  # share of active pumps whose refill is overdue
BOLUS = 0.1  # share of opioid pumps allowing patient-activated boluses (section 2)
BOLUSES_PER_DAY = 4


@dataclass(frozen=True)
class FillSpec:
    refill_date: date
    drug: str
    concentration: Decimal
    concentration_unit: str
    daily_dose: Decimal
    dose_unit: str
    volume_ml: Decimal
    residual_ml: Decimal | None
    eri: bool
    bolus_dose: Decimal | None = None  # in dose_unit
    boluses_per_day: int | None = None


@dataclass
class PumpSpec:
    mrn: str
    family_name: str
    given_name: str
    birth_date: date
    indication: str
    model: str
    serial: str
    implant_date: date
    explant_date: date | None = None
    explant_reason: str = ""
    alarm_ml: Decimal | None = None
    fills: list[FillSpec] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return self.explant_date is None


def _weighted(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _two_places(value: float) -> Decimal:
    return Decimal(f"{value:.2f}")


def _fills(
    rng: random.Random, *, model: str, count: int, last_fill: Callable[[int], date]
) -> tuple[list[FillSpec], Regimen]:
    """``count`` fills, each before the previous one ran out, the latest on
    ``last_fill(interval)`` (the pump's usual days between refills)."""
    reservoir, alarm, _, _ = MODELS[model]
    regimen = rng.choices(REGIMENS, weights=[r.weight for r in REGIMENS])[0]
    concentration = Decimal(rng.choice(regimen.concentrations))
    low, high = regimen.dose_range
    dose = Decimal(f"{rng.uniform(low, high):.2f}")
    bolus: Decimal | None = None
    if regimen.dose_unit == "mg/day" and rng.random() < BOLUS:
        bolus = Decimal(f"{dose / 10:.2f}")
    daily_ml = float(dose / concentration)
    # The refill is dated as if every allowed bolus is taken (section 2).
    allowed_ml = float((dose + (bolus or 0) * BOLUSES_PER_DAY) / concentration)
    days_to_alarm = int((reservoir - float(alarm)) / allowed_ml) if allowed_ml else 10_000
    interval = max(14, min(days_to_alarm, regimen.stability_days) - rng.randint(3, 12))
    last = last_fill(interval)
    dates = [last - timedelta(days=interval * k + rng.randint(0, 3)) for k in range(count)]
    dates = sorted(set(dates))
    fills = []
    previous: tuple[date, float] | None = None
    for day in dates:
        volume = reservoir if rng.random() < 0.8 else reservoir - rng.randint(1, 5)
        residual = None
        if previous is not None:
            expected = max(0.0, previous[1] - daily_ml * (day - previous[0]).days)
            noise = rng.gauss(0, 0.4)
            if rng.random() < DISCREPANCY:
                noise += rng.choice((-1, 1)) * rng.uniform(3, 6)
            residual = _two_places(min(reservoir, max(0.0, expected + noise)))
        fills.append(
            FillSpec(
                refill_date=day,
                drug=regimen.drug,
                concentration=concentration,
                concentration_unit=regimen.concentration_unit,
                daily_dose=dose,
                dose_unit=regimen.dose_unit,
                volume_ml=Decimal(volume),
                residual_ml=residual,
                eri=False,
                bolus_dose=bolus,
                boluses_per_day=BOLUSES_PER_DAY if bolus else None,
            )
        )
        previous = (day, float(volume))
    return fills, regimen


def _pump(
    rng: random.Random,
    *,
    patient: dict[str, object],
    serial: str,
    today: date,
    explant_on: date | None = None,
) -> PumpSpec:
    """One pump of ``patient``; explanted on ``explant_on`` if given, else active."""
    model = _weighted(rng, {code: weight for code, (*_, weight) in MODELS.items()})
    base: dict[str, object] = {**patient, "model": model, "serial": serial}
    if explant_on is None and rng.random() < NEVER_FILLED:
        return PumpSpec(**base, implant_date=today - timedelta(days=rng.randint(0, 30)))  # type: ignore[arg-type]
    if explant_on is None:
        low, high = REFILLS_PER_ACTIVE_PUMP

        def last(interval: int) -> date:
            # Most pumps are somewhere in their refill cycle; a few have lapsed.
            if rng.random() < LAPSED:
                return today - timedelta(days=interval + rng.randint(6, 60))
            return today - timedelta(days=rng.randint(0, interval))
    else:
        low, high = REFILLS_PER_EXPLANTED_PUMP

        def last(interval: int) -> date:
            assert explant_on is not None
            return explant_on - timedelta(days=rng.randint(5, 60))

    fills, _ = _fills(rng, model=model, count=rng.randint(low, high), last_fill=last)
    # Some pumps were implanted years before the first fill the registry holds.
    backlog = rng.randint(0, 4 * 365) if rng.random() < 0.3 else 0
    implant = fills[0].refill_date - timedelta(days=rng.randint(1, 30) + backlog)
    spec = PumpSpec(**base, implant_date=implant, fills=fills)  # type: ignore[arg-type]
    _, alarm, has_battery, _ = MODELS[model]
    if rng.random() < 0.03:
        spec.alarm_ml = alarm + 1
    if has_battery and (today - implant).days > 6 * 365 and rng.random() < 0.3:
        # The indicator showed at the latest refill.
        fills[-1] = FillSpec(**{**fills[-1].__dict__, "eri": True})
    if explant_on is not None:
        spec.explant_date = explant_on
        spec.explant_reason = rng.choice(("battery_end_of_life", "infection", "other"))
    return spec


def registry(size: int, *, today: date, seed: int = 2026) -> Iterator[PumpSpec]:
    """Exactly ``size`` pumps with their patients and fills, in serial order."""
    rng = random.Random(seed)
    made = 0
    patient_number = 0
    while made < size:
        patient_number += 1
        patient = {
            "mrn": f"B{patient_number:07d}",
            "family_name": rng.choice(FAMILY_NAMES),
            "given_name": rng.choice(GIVEN_NAMES),
            "birth_date": date(rng.randint(1935, 2005), rng.randint(1, 12), rng.randint(1, 28)),
            "indication": rng.choice(INDICATIONS),
        }
        roll = rng.random()
        if roll < DISCHARGED:
            explant_on = today - timedelta(days=rng.randint(100, 900))
            made += 1
            yield _pump(
                rng, patient=patient, serial=_serial(made), today=today, explant_on=explant_on
            )
        elif roll < DISCHARGED + REPLACED and made + 2 <= size:
            # The replacement goes in the day the old pump comes out.
            new = _pump(rng, patient=patient, serial=_serial(made + 2), today=today)
            old = _pump(
                rng,
                patient=patient,
                serial=_serial(made + 1),
                today=today,
                explant_on=new.implant_date,
            )
            made += 2
            yield old
            yield new
        else:
            made += 1
            yield _pump(rng, patient=patient, serial=_serial(made), today=today)


def _serial(number: int) -> str:
    return f"SN{number:08d}"
