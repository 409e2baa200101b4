"""The demo clinic built by ``manage.py seed_demo``.

About sixty patients, dated from the clinic's today so the demo always looks
live, covering every refill and battery status and the clinical stories the
app exists for. Every pump, fill, dose change, ERI, explant, sign-off and
entered-in-error mark goes through ``pumps.services``, and every trial,
decision, MRI and complication through ``care.decisions``, exactly as the
staff pages do: the demo passes the same checks (clinical-rules.md section
8), and a plan that breaks one fails loudly instead of writing odd data. To
put a pump in a given refill status on today, the latest fill date is chosen
backwards from the deadline wanted (deadline - fill date is fixed by the drug,
dose and reservoir, clinical-rules.md section 3).

The plan is fixed and the random choices come from ``random.Random(2026)``,
so two runs on the same day build the same clinic, and runs on different days
build the same clinic shifted in time.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.db.models import Count
from django.utils import timezone

from care import decisions
from care import services as patient_services
from care.choices import (
    ComplicationKind,
    ComplicationOutcome,
    Severity,
    TrialDecision,
    TrialDoseUnit,
    TrialMethod,
    TrialOutcome,
    TrialScale,
    VisitKind,
    VisitStatus,
)
from care.models import Appointment, Complication, MriScan, Trial
from core.roles import ADMINISTRATOR, NURSE, PHYSICIAN
from outreach import reminders
from outreach.choices import Channel, MessageKind, MessageState
from outreach.consent import withdraw_consent
from outreach.models import ConsentEvent, Message, StaffTask
from patients.choices import ConsentSource, ContactBy, Indication, PatientStatus
from patients.models import Patient
from patients.phones import normalise_phone
from pumps import schedule, services
from pumps.choices import (
    BatteryStatus,
    ConcentrationUnit,
    DoseUnit,
    ExplantReason,
    RefillStatus,
)
from pumps.models import DoseAdjustment, Drug, Pump, PumpModel, Refill, SchedulePolicy

DEMO_PASSWORD = "pump-demo-2026"
RANDOM_SEED = 2026

# The models whose rows (and history rows) are clinical data, children first:
# every foreign key between them is PROTECT, so this is the order to delete.
CLINICAL_MODELS_DELETE_ORDER: tuple[type, ...] = (
    Appointment,
    Complication,
    MriScan,
    Trial,
    DoseAdjustment,
    Refill,
    Pump,
    Patient,
)


class DemoPlanError(RuntimeError):
    """The demo plan cannot be placed under the current policy or catalogue."""


# --- Staff ----------------------------------------------------------------------


def physician_of(patient: Patient) -> Any:
    """The demo gives every patient a physician; the decisions need one."""
    if patient.treating_physician is None:
        raise DemoPlanError(f"{patient} has no treating physician")
    return patient.treating_physician


@dataclass(frozen=True)
class DemoLogin:
    username: str
    first_name: str
    last_name: str
    role: str
    staff: bool = False  # may enter the Django admin


# Separated duties (core.roles): the clinicians work on the staff pages; the
# administrator runs the system in the Django admin and is no clinician (reads
# the records, decides nothing). Nobody is a superuser: that flag is for
# setting up a new installation (README, "Who may see and change what").
DEMO_STAFF = (
    DemoLogin("nurse", "Grace", "Adeyemi", NURSE),
    DemoLogin("physician", "Thomas", "Keller", PHYSICIAN),
    DemoLogin("dr_okafor", "Ngozi", "Okafor", PHYSICIAN),
    DemoLogin("dr_lindqvist", "Maja", "Lindqvist", PHYSICIAN),
    DemoLogin("admin", "Sam", "Ortiz", ADMINISTRATOR, staff=True),
)
SIGN_IN_AS = ("nurse", "physician", "admin")


def ensure_demo_staff() -> dict[str, Any]:
    """Create or reset the demo logins, each in its role's group, with DEMO_PASSWORD."""
    user_model = get_user_model()
    # One hash for all: hashing is deliberately slow, and these are demo logins.
    password = make_password(DEMO_PASSWORD)
    users: dict[str, Any] = {}
    for login in DEMO_STAFF:
        user, _ = user_model.objects.get_or_create(username=login.username)
        user.first_name = login.first_name
        user.last_name = login.last_name
        user.email = f"{login.username}@demo.invalid"
        user.is_active = True
        user.is_staff = login.staff
        user.is_superuser = False
        user.password = password
        user.save()
        group, _ = Group.objects.get_or_create(name=login.role)
        user.groups.set([group])
        users[login.username] = user
    return users


# --- Resetting ----------------------------------------------------------------------


def delete_clinical_data() -> int:
    """Delete every clinical record and its history; returns the patients deleted.

    The catalogue, the drug table, the policy and the staff stay.
    """
    patients = Patient.objects.count()
    # The outbox first: its rows point at patients, pumps and visits (no history).
    for outreach_model in (StaffTask, Message, ConsentEvent):
        outreach_model._default_manager.all().delete()  # type: ignore[attr-defined]
    for model in CLINICAL_MODELS_DELETE_ORDER:
        model._default_manager.all().delete()  # type: ignore[attr-defined]
    # Deleting writes a "-" history row for each record; the history goes last.
    for model in CLINICAL_MODELS_DELETE_ORDER:
        model.history.model.objects.all().delete()  # type: ignore[attr-defined]
    return patients


# --- What goes in a pump ---------------------------------------------------------------

CONCENTRATION_UNITS = {
    "baclofen": ConcentrationUnit.MCG_PER_ML,
    "ziconotide": ConcentrationUnit.MCG_PER_ML,
    "clonidine": ConcentrationUnit.MCG_PER_ML,
}
DOSE_UNITS = {
    "baclofen": DoseUnit.MCG_PER_DAY,
    "ziconotide": DoseUnit.MCG_PER_DAY,
    "clonidine": DoseUnit.MCG_PER_DAY,
}

# Realistic concentrations and daily doses (docs/clinical-rules.md section 2
# and common practice); a regimen is drawn from these.
CONCENTRATIONS = {
    "baclofen": ("500", "1000", "1500", "2000"),  # mcg/mL
    "morphine": ("10", "15", "20", "25"),  # mg/mL
    "hydromorphone": ("2", "4", "5", "8", "10"),  # mg/mL
    "ziconotide": ("25", "100"),  # mcg/mL
    "bupivacaine": ("10", "15", "20"),  # mg/mL
    "clonidine": ("150", "300"),  # mcg/mL
    "admixture": ("4", "5", "8"),  # mg/mL of the hydromorphone in it
}
DAILY_DOSES = {
    "baclofen": tuple(str(d) for d in range(100, 801, 25)),  # mcg/day
    "morphine": ("1", "1.5", "2", "2.5", "3", "4", "5", "6", "8", "10"),  # mg/day
    "hydromorphone": ("0.5", "0.75", "1", "1.5", "2", "2.5", "3", "4"),  # mg/day
    "ziconotide": ("1.2", "1.8", "2.4"),  # mcg/day
    "bupivacaine": ("4", "6", "8", "10", "12"),  # mg/day
    "clonidine": ("40", "60", "80", "100", "150"),  # mcg/day
    "admixture": ("1", "1.5", "2", "3"),  # mg/day of hydromorphone
}
REGIMEN_NOTES = {
    "bupivacaine": "Admixture: bupivacaine with clonidine 40 mcg/mL; "
    "concentration and dose are the bupivacaine's.",
    "clonidine": "Admixture: clonidine with morphine 10 mg/mL; "
    "concentration and dose are the clonidine's.",
    "admixture": "Hydromorphone with bupivacaine 15 mg/mL and clonidine 50 mcg/mL; "
    "concentration and dose are the hydromorphone's.",
}
CODMAN_FLOW_ML_PER_DAY = Decimal("0.5")  # a gas-driven pump's fixed rate

# Days from a fill to its refill deadline that a believable regimen gives.
MIN_FILL_DAYS, MAX_DAILY_ML = 28, Decimal("1.0")


@dataclass(frozen=True)
class Regimen:
    drug: str
    concentration: Decimal
    daily_dose: Decimal
    volume_ml: Decimal
    notes: str = ""
    # Patient-activated boluses (section 2), in the daily dose's unit.
    bolus_dose: Decimal | None = None
    boluses_per_day: int | None = None

    @property
    def concentration_unit(self) -> str:
        return CONCENTRATION_UNITS.get(self.drug, ConcentrationUnit.MG_PER_ML)

    @property
    def dose_unit(self) -> str:
        return DOSE_UNITS.get(self.drug, DoseUnit.MG_PER_DAY)

    @property
    def daily_volume(self) -> Fraction:
        """The volume the refill dates assume: every allowed bolus taken (section 2)."""
        return schedule.daily_volume_ml(
            daily_dose=self.daily_dose,
            dose_unit=self.dose_unit,
            concentration=self.concentration,
            concentration_unit=self.concentration_unit,
            bolus_dose=self.bolus_dose,
            boluses_per_day=self.boluses_per_day,
        )

    def with_dose(self, daily_dose: Decimal) -> Regimen:
        return replace(self, daily_dose=daily_dose)

    def fill(
        self, drug: Drug, day: date, *, residual_ml: Decimal | None, eri: bool
    ) -> services.Fill:
        """The fill a nurse would type for this regimen on ``day``."""
        return services.Fill(
            refill_date=day,
            drug=drug,
            concentration=self.concentration,
            concentration_unit=self.concentration_unit,
            daily_dose=self.daily_dose,
            dose_unit=self.dose_unit,
            volume_ml=self.volume_ml,
            residual_ml=residual_ml,
            eri=eri,
            bolus_dose=self.bolus_dose,
            boluses_per_day=self.boluses_per_day,
        )


def regimen(
    drug: str,
    concentration: str,
    daily_dose: str,
    volume_ml: Decimal | int | str,
    *,
    bolus_dose: str | None = None,
    boluses_per_day: int | None = None,
) -> Regimen:
    return Regimen(
        drug,
        Decimal(concentration),
        Decimal(daily_dose),
        Decimal(volume_ml),
        REGIMEN_NOTES.get(drug, ""),
        bolus_dose=Decimal(bolus_dose) if bolus_dose is not None else None,
        boluses_per_day=boluses_per_day,
    )


# --- Patients ----------------------------------------------------------------------


def name_list(text: str) -> tuple[str, ...]:
    return tuple(text.split(", "))


FAMILY_NAMES = name_list(
    "Abbott, Achterberg, Alvarez, Baptiste, Bergström, Brennan, Castillo, Chaudhry, "
    "Delacroix, Dubois, Duarte, Eriksen, Esposito, Fairweather, Fernandes, Fitzgerald, "
    "Gallagher, Haddad, Hartmann, Horvat, Ibrahim, Ivanova, Jablonski, Kaur, Kowalczyk, "
    "Lambert, Lindgren, Lopez, MacLeod, Marchetti, Mendes, Morales, Moreau, Nakamura, "
    "Novak, Nwosu, O'Brien, Okonkwo, Oliveira, Pak, Papadopoulos, Petrov, Quinn, Ramirez, "
    "Rasmussen, Rossi, Sandoval, Schneider, Silva, Sokolov, Takahashi, Tanaka, Thibault, "
    "Tran, Underwood, Van der Berg, Varga, Wallace, Weber, Whitfield, Yilmaz, Young, "
    "Zamora, Zielinski"
)
GIVEN_NAMES = name_list(
    "Aaron, Agnes, Alice, Amir, Ana, Beatriz, Ben, Carmen, Chen, Colm, Daniel, Dmitri, "
    "Elena, Esther, Farah, Felix, George, Hana, Helen, Ian, Ines, Jamal, Joan, Kai, Laura, "
    "Leila, Liam, Marcus, Maria, Mateo, Mei, Nadia, Noah, Olga, Omar, Owen, Patrick, Priya, "
    "Rafael, Rosa, Ruth, Samuel, Sofia, Tariq, Tomas, Uma, Victor, Wei, Yara, Zoe"
)

PAIN = (
    Indication.FAILED_BACK,
    Indication.POST_LAMINECTOMY,
    Indication.CANCER_PAIN,
    Indication.OSTEOPOROSIS,
    Indication.OTHER,
)
SPASTICITY = (
    Indication.CEREBRAL_PALSY,
    Indication.STROKE,
    Indication.MULTIPLE_SCLEROSIS,
    Indication.SPINAL_CORD_INJURY,
)
AGES = {
    Indication.FAILED_BACK: (38, 78),
    Indication.POST_LAMINECTOMY: (40, 80),
    Indication.CANCER_PAIN: (45, 82),
    Indication.OSTEOPOROSIS: (66, 88),
    Indication.OTHER: (30, 70),
    Indication.CEREBRAL_PALSY: (18, 40),
    Indication.STROKE: (48, 82),
    Indication.MULTIPLE_SCLEROSIS: (32, 66),
    Indication.SPINAL_CORD_INJURY: (22, 64),
}


# Screening trials as (drug, method, dose, dose unit).
MORPHINE_BOLUS = ("morphine", TrialMethod.SINGLE_BOLUS, "0.5", TrialDoseUnit.MG)
MORPHINE_INFUSION = ("morphine", TrialMethod.CONTINUOUS, "1", TrialDoseUnit.MG_PER_DAY)
HYDROMORPHONE_BOLUS = ("hydromorphone", TrialMethod.SINGLE_BOLUS, "0.15", TrialDoseUnit.MG)
BACLOFEN_BOLUS = ("baclofen", TrialMethod.SINGLE_BOLUS, "50", TrialDoseUnit.MCG)
ZICONOTIDE_INFUSION = ("ziconotide", TrialMethod.CONTINUOUS, "1.2", TrialDoseUnit.MCG_PER_DAY)


def years(value: float) -> int:
    """Days in ``value`` years, for implant ages kept well clear of window edges."""
    return round(value * 365.25)


@dataclass
class DemoSummary:
    today: date
    patients: int = 0
    active_pumps: int = 0
    explanted_pumps: int = 0
    refills: int = 0
    trials: int = 0
    refill_counts: dict[str, int] = field(default_factory=dict)
    battery_counts: dict[str, int] = field(default_factory=dict)
    messages: dict[str, int] = field(default_factory=dict)


class DemoClinic:
    """Builds the demo records one clinical story at a time."""

    def __init__(self, *, today: date, staff: dict[str, Any], seed: int) -> None:
        self.today = today
        self.rng = random.Random(seed)
        self.staff = staff
        self.nurse = staff["nurse"]
        self.policy = SchedulePolicy.current()
        self.models = {model.code: model for model in PumpModel.objects.all()}
        self.drugs = {drug.code: drug for drug in Drug.objects.all()}
        self.family_names = list(FAMILY_NAMES)
        self.rng.shuffle(self.family_names)
        self.serials: set[str] = set()
        self.next_mrn = 1001

    # --- dates -------------------------------------------------------------------

    def ago(self, days: int) -> date:
        return self.today - timedelta(days=days)

    def at(self, day: date, hour: int = 10, minute: int = 0) -> datetime:
        """A clinic-local moment on ``day``, never later than now."""
        moment = timezone.make_aware(datetime.combine(day, time(hour, minute)))
        return min(moment, timezone.now())

    # --- people --------------------------------------------------------------------

    def physician_for(self, indication: str) -> Any:
        if indication in SPASTICITY:
            options = ("dr_okafor", "dr_okafor", "physician")
        else:
            options = ("physician", "physician", "dr_lindqvist")
        return self.staff[self.rng.choice(options)]

    def patient(
        self,
        indication: str,
        *,
        status: str = PatientStatus.IMPLANTED,
        age: int | None = None,
        travel_buffer_days: int = 0,
        notes: str = "",
    ) -> Patient:
        low, high = AGES[Indication(indication)]
        age = age if age is not None else self.rng.randint(low, high)
        birth = date(self.today.year - age, self.rng.randint(1, 12), self.rng.randint(1, 28))
        mrn = f"A{self.next_mrn}"
        self.next_mrn += 1
        return Patient.objects.create(
            mrn=mrn,
            family_name=self.family_names.pop(),
            given_name=self.rng.choice(GIVEN_NAMES),
            birth_date=birth,
            indication=indication,
            treating_physician=self.physician_for(indication),
            status=status,
            travel_buffer_days=travel_buffer_days,
            # 555-0100..0199: numbers set aside for fiction; stored as the
            # registration service stores any phone (E.164, patients.phones).
            phone=normalise_phone(f"312-555-01{self.rng.randint(0, 99):02d}", region="US").e164,
            notes=notes,
        )

    # --- devices --------------------------------------------------------------------

    def serial(self, model_code: str) -> str:
        prefix, digits, suffix = {
            "synchromed": ("NGP", 6, "H"),
            "prometra": ("PII", 6, ""),
            "codman": ("C3K", 5, ""),
        }[model_code.split("_")[0]]
        while True:
            number = self.rng.randint(10 ** (digits - 1), 10**digits - 1)
            serial = f"{prefix}{number}{suffix}"
            if serial not in self.serials:
                self.serials.add(serial)
                return serial

    def implant(
        self,
        patient: Patient,
        model_code: str,
        *,
        days_ago: int,
        alarm_ml_override: str | None = None,
    ) -> Pump:
        return services.implant_pump(
            patient=patient,
            model=self.models[model_code],
            serial=self.serial(model_code),
            implant_date=self.ago(days_ago),
            today=self.today,
            alarm_ml_override=Decimal(alarm_ml_override) if alarm_ml_override else None,
            policy=self.policy,
        )

    def random_regimen(self, drug: str, pump: Pump) -> Regimen:
        """A believable regimen for ``pump``: it lasts at least four weeks."""
        reservoir = pump.model.reservoir_ml
        usable = reservoir - pump.alarm_ml
        if not pump.model.has_battery:
            # Constant flow: the dose is set by the concentration.
            doses = [Decimal(dose) for dose in DAILY_DOSES[drug]]
            options = [
                (concentration, dose)
                for concentration in map(Decimal, CONCENTRATIONS[drug])
                if min(doses) <= (dose := concentration * CODMAN_FLOW_ML_PER_DAY) <= max(doses)
            ]
            concentration, dose = self.rng.choice(options)
            return regimen(drug, str(concentration), str(dose.normalize()), reservoir)
        for _ in range(200):
            concentration = Decimal(self.rng.choice(CONCENTRATIONS[drug]))
            dose = Decimal(self.rng.choice(DAILY_DOSES[drug]))
            daily_ml = dose / concentration
            if daily_ml <= MAX_DAILY_ML and usable / daily_ml >= MIN_FILL_DAYS:
                return regimen(drug, str(concentration), str(dose), reservoir)
        raise DemoPlanError(f"no believable {drug} regimen for a {pump.model.code} pump")

    # --- the refill schedule ----------------------------------------------------------

    def margin(self, pump: Pump) -> int:
        return self.policy.refill_margin_days + pump.patient.travel_buffer_days

    def days_to_deadline(
        self,
        pump: Pump,
        plan: Regimen,
        *,
        first: bool,
        adjustment: tuple[int, Decimal] | None = None,
    ) -> int:
        """Refill deadline minus fill date for ``plan`` in ``pump`` (section 3)."""
        reference = self.today
        changes = []
        if adjustment is not None:
            after, dose = adjustment
            changes.append(
                schedule.RateChange(
                    on=reference + timedelta(days=after),
                    daily_volume_ml=plan.with_dose(dose).daily_volume,
                )
            )
        drug = self.drugs[plan.drug]
        dates = schedule.refill_dates(
            fill_date=reference,
            volume_ml=plan.volume_ml,
            alarm_ml=pump.alarm_ml,
            daily_volume=plan.daily_volume,
            stability_days=schedule.stability_days(
                drug.stability_rule,
                concentration_mcg=schedule.concentration_mcg_per_ml(
                    plan.concentration, plan.concentration_unit
                ),
                is_first_fill=first,
            ),
            margin_days=0,
            rate_changes=changes,
        )
        return (dates.deadline - reference).days

    def deadline_window(self, status: RefillStatus, margin: int) -> tuple[int, int]:
        """Days from today within which the deadline puts a pump in ``status``."""
        lookahead = self.policy.lookahead_days
        return {
            RefillStatus.OVERDUE: (-6, -1),
            RefillStatus.DUE: (0, margin),
            RefillStatus.UPCOMING: (margin + 1, margin + lookahead),
            RefillStatus.OK: (margin + lookahead + 1, 400),
        }[status]

    def fill_dates(self, pump: Pump, plan: Regimen, latest: date, earlier: int) -> list[date]:
        """``latest`` and up to ``earlier`` fills before it, each a few days before due.

        The oldest is the implant day when the history reaches back that far
        (the pump is filled in theatre); otherwise it is simply the first fill
        recorded in the app.
        """
        dates = [latest]
        interval = self.days_to_deadline(pump, plan, first=False) - self.margin(pump)
        while len(dates) <= earlier:
            candidate = dates[-1] - timedelta(days=max(7, interval - self.rng.randint(0, 5)))
            if candidate <= pump.implant_date:
                dates.append(pump.implant_date)
                break
            dates.append(candidate)
        return dates[::-1]

    def scores(self, patient: Patient) -> dict[str, object]:
        if patient.indication in SPASTICITY:
            return {"ashworth_score": self.rng.choice(("1", "1+", "2"))}
        return {"pain_score": self.rng.randint(2, 6)}

    def residual(self, pump: Pump, day: date, shift: Decimal | None) -> Decimal | None:
        """A residual a nurse would withdraw on ``day``, from the service's expectation.

        Within 0.4 mL of the expected volume (a point of the range when
        boluses were allowed: the patient took some), so that the pump
        model's threshold (section 4) never flags it; ``shift`` moves it that
        far beyond the nearer end, to show a discrepancy.
        """
        expected = services.check_residual(pump=pump, refill_date=day, residual_ml=None).expected
        if expected is None:
            return None
        point = expected.high_ml
        if shift is not None and shift < 0:
            point = expected.low_ml
        elif shift is None and expected.is_range:
            taken = Fraction(self.rng.randint(0, 10), 10)
            point = expected.high_ml - (expected.high_ml - expected.low_ml) * taken
        tenths = round(float(point) * 10) + self.rng.randint(-4, 4)
        residual = Decimal(max(tenths, 0)) / 10
        if shift is not None:
            residual = max(residual + shift, Decimal(0))
        return residual

    def fill(
        self, pump: Pump, plan: Regimen, day: date, *, residual: Decimal | None, eri: bool = False
    ) -> Refill:
        """One refill through the refill service, with the checks of section 8."""
        return services.record_fill(
            pump=pump,
            fill=plan.fill(self.drugs[plan.drug], day, residual_ml=residual, eri=eri),
            today=self.today,
            notes=plan.notes,
            recorded_by=self.nurse,
            policy=self.policy,
            **self.scores(pump.patient),  # type: ignore[arg-type]
        )

    def record_fills(
        self,
        pump: Pump,
        fills: Sequence[tuple[date, Regimen]],
        *,
        eri_on_last: bool = False,
        residual_shift: Decimal | None = None,
        shift_fill: int = -1,
        mistake: tuple[Regimen, str] | None = None,
    ) -> Refill:
        """Record ``fills``; the residual of the fill at index ``shift_fill`` is
        shifted by ``residual_shift`` (section 4).

        ``mistake`` is (the regimen typed by mistake, why): the last fill is
        first recorded with it, marked entered in error by the nurse, then
        recorded again as it was (section 9).
        """
        refill: Refill | None = None
        shifted = shift_fill % len(fills)
        for index, (day, plan) in enumerate(fills):
            last = index == len(fills) - 1
            residual = self.residual(pump, day, residual_shift if index == shifted else None)
            eri = eri_on_last and last
            if last and mistake is not None:
                wrong, reason = mistake
                typo = self.fill(pump, wrong, day, residual=residual, eri=eri)
                services.mark_refill_entered_in_error(
                    refill=typo,
                    user=self.nurse,
                    reason=reason,
                    now=self.at(day, 11, 30),
                    policy=self.policy,
                )
            refill = self.fill(pump, plan, day, residual=residual, eri=eri)
        assert refill is not None
        return refill

    def place(
        self,
        pump: Pump,
        plan: Regimen,
        status: RefillStatus,
        *,
        earlier: int = 2,
        earlier_plan: Regimen | None = None,
        adjustment: tuple[int, Decimal] | None = None,
        eri: bool = False,
        residual_shift: Decimal | None = None,
        shift_fill: int = -1,
        mistake: tuple[Regimen, str] | None = None,
        within: tuple[int, int] | None = None,
    ) -> Refill:
        """Fill ``pump`` so that its refill status on today is ``status``.

        ``earlier`` fills (of ``earlier_plan``, else ``plan``) come before the
        latest; ``adjustment`` is a dose change recorded after the latest fill,
        as (days after it, new dose); ``within`` narrows the deadline to these
        days from today. ``residual_shift``, ``shift_fill`` and ``mistake``
        are record_fills'.
        """
        first = earlier == 0
        span = self.days_to_deadline(pump, plan, first=first, adjustment=adjustment)
        low, high = self.deadline_window(status, self.margin(pump))
        if within is not None:
            low, high = max(low, within[0]), min(high, within[1])
        # The fill is on or before today, after the implant (on it for a first
        # fill), and leaves room for the dose change before today.
        earliest_fill = pump.implant_date + timedelta(days=0 if first else 1)
        low = max(low, (earliest_fill - self.today).days + span)
        high = min(high, span - (adjustment[0] if adjustment else 0))
        if low > high:
            raise DemoPlanError(
                f"cannot make {pump.serial} ({plan.drug}, {span} days a fill) {status.value}"
            )
        fill_on = self.today + timedelta(days=self.rng.randint(low, high) - span)
        history = earlier_plan or plan
        fills = [(fill_on, plan)]
        if not first:
            dates = self.fill_dates(pump, history, fill_on, earlier)
            fills = [(day, history) for day in dates[:-1]] + fills
        latest = self.record_fills(
            pump,
            fills,
            eri_on_last=eri,
            residual_shift=residual_shift,
            shift_fill=shift_fill,
            mistake=mistake,
        )
        if adjustment is not None:
            after, dose = adjustment
            services.adjust_dose(
                pump=pump,
                adjusted_on=fill_on + timedelta(days=after),
                daily_dose=dose,
                dose_unit=plan.dose_unit,
                today=self.today,
                notes="Reprogrammed at a clinic visit; the reservoir was not refilled.",
                recorded_by=pump.patient.treating_physician,
                policy=self.policy,
            )
        return latest

    # --- events ----------------------------------------------------------------------

    def trial(
        self,
        patient: Patient,
        *,
        on: date,
        drug: str,
        method: str,
        dose: str,
        dose_unit: str,
        scale: str,
        before: str,
        after: str,
        decision: str = TrialDecision.PENDING,
        override_to: str = "",
        reason: str = "",
        notes: str = "",
    ) -> Trial:
        """A trial through the trial services; the physician decides the next day.

        A final success is referred for implant (and a patient without a pump
        becomes "referred"), as on the physician's page.
        """
        trial = decisions.record_trial(
            patient=patient,
            trial_date=on,
            method=method,
            drug=self.drugs[drug],
            dose=Decimal(dose),
            dose_unit=dose_unit,
            scale=scale,
            score_before=before,
            score_after=after,
            today=self.today,
            notes=notes,
        )
        if decision == TrialDecision.PENDING:
            return trial
        return decisions.decide_trial(
            trial=trial,
            decision=decision,
            user=physician_of(patient),
            now=self.at(on + timedelta(days=1), 16),
            final_outcome=override_to,
            reason=reason,
        )

    def screening_trial(self, patient: Patient, drug: str, *, on: date) -> Trial:
        """The confirmed successful trial that led to an implant."""
        if patient.indication in SPASTICITY:
            return self.trial(
                patient,
                on=on,
                drug="baclofen",
                method=TrialMethod.SINGLE_BOLUS,
                dose="50",
                dose_unit=TrialDoseUnit.MCG,
                scale=TrialScale.ASHWORTH,
                before=self.rng.choice(("3", "4")),
                after=self.rng.choice(("0", "1")),
                decision=TrialDecision.CONFIRMED,
            )
        if drug == "ziconotide":
            method, dose, unit = TrialMethod.CONTINUOUS, "1.2", TrialDoseUnit.MCG_PER_DAY
        elif drug == "hydromorphone":
            method, dose, unit = TrialMethod.SINGLE_BOLUS, "0.15", TrialDoseUnit.MG
        else:
            drug, method, dose, unit = "morphine", TrialMethod.SINGLE_BOLUS, "0.5", TrialDoseUnit.MG
        return self.trial(
            patient,
            on=on,
            drug=drug,
            method=method,
            dose=dose,
            dose_unit=unit,
            scale=TrialScale.PAIN_NRS,
            before=str(self.rng.randint(7, 9)),
            after=str(self.rng.randint(1, 3)),
            decision=TrialDecision.CONFIRMED,
        )

    def complication(
        self,
        patient: Patient,
        kind: str,
        *,
        on: date,
        severity: str,
        outcome: str = ComplicationOutcome.ONGOING,
        pump: Pump | None = None,
        notes: str = "",
    ) -> Complication:
        """A complication through its service, which ties it to the pump of that day."""
        complication = decisions.record_complication(
            patient=patient,
            occurred_on=on,
            kind=kind,
            severity=severity,
            outcome=outcome,
            today=self.today,
            user=physician_of(patient),
            notes=notes,
        )
        if pump is not None and complication.pump_id != pump.pk:
            raise DemoPlanError(f"the {kind} on {on} is not during pump {pump.serial}")
        return complication

    def visit(
        self,
        patient: Patient,
        kind: str,
        *,
        on: date,
        at: time = time(9, 0),
        pump: Pump | None = None,
        booked_on: date | None = None,
        status: str = VisitStatus.BOOKED,
        notes: str = "",
    ) -> Appointment:
        """Book a visit as staff did on ``booked_on`` (default today), then close it."""
        appointment = patient_services.book_visit(
            patient=patient,
            kind=kind,
            day=on,
            at=at,
            pump=pump,
            notes=notes,
            booked_by=self.nurse,
            today=booked_on or self.today,
        )
        if status != VisitStatus.BOOKED:
            appointment = patient_services.set_visit_status(appointment=appointment, status=status)
        return appointment

    def book_refill(self, pump: Pump, *, days_ahead: int | None = None) -> Appointment:
        """A refill visit on the due date, or ``days_ahead`` from today if later."""
        pump.refresh_from_db(fields=["refill_due"])  # the services saved a locked copy
        day = self.today + timedelta(days=days_ahead or 0)
        if days_ahead is None and pump.refill_due is not None:
            day = max(day, pump.refill_due)
        return self.visit(pump.patient, VisitKind.REFILL, on=day, at=time(8, 30), pump=pump)

    # --- the clinic -------------------------------------------------------------------

    def implanted(
        self,
        indication: str,
        drug: str,
        model_code: str,
        implanted_years_ago: float,
        status: RefillStatus,
        **placement: object,
    ) -> tuple[Patient, Pump, Refill]:
        """A routine implanted patient; a recent implant also has its trial."""
        patient = self.patient(indication)
        pump = self.implant(patient, model_code, days_ago=years(implanted_years_ago))
        for attempt in range(20):
            plan = self.random_regimen(drug, pump)
            try:
                # place() checks the plan fits before it writes anything.
                refill = self.place(pump, plan, status, **placement)  # type: ignore[arg-type]
                break
            except DemoPlanError:
                if attempt == 19:
                    raise
        if implanted_years_ago < 2.5:
            self.screening_trial(
                patient, drug, on=pump.implant_date - timedelta(days=self.rng.randint(30, 75))
            )
        return patient, pump, refill

    def build(self) -> None:
        self.urgent_and_overdue()
        self.residual_discrepancies()
        self.batteries()
        self.reprogramming_and_special_fills()
        self.boluses_and_corrections()
        self.codman_pumps()
        self.never_filled()
        self.routine_patients()
        self.explanted_for_infection()
        self.screening()
        self.physician_reviews()

    def physician_reviews(self) -> None:
        """Reviews done (clinical-rules.md section 7), so that only some are due today.

        A first review three weeks after each implant of the last year; a
        yearly review within the last year for most older pumps, and one more
        than a year ago for every fifth, whose yearly review is due now.
        """
        pumps = Pump.objects.active().select_related("patient").order_by("implant_date", "serial")
        for index, pump in enumerate(pumps):
            age = (self.today - pump.implant_date).days
            if age <= 42:
                continue  # the first review is still to come (or booked)
            if age < 365:
                kind, on = VisitKind.FIRST_REVIEW, pump.implant_date + timedelta(days=21)
            elif index % 5 == 0:
                kind, on = VisitKind.PHYSICIAN_REVIEW, self.ago(365 + self.rng.randint(3, 60))
            else:
                kind, on = VisitKind.PHYSICIAN_REVIEW, self.ago(self.rng.randint(20, 330))
            self.visit(
                pump.patient,
                kind,
                on=on,
                at=time(11, 0),
                pump=pump,
                booked_on=on - timedelta(days=14),
                status=VisitStatus.DONE,
            )

    def urgent_and_overdue(self) -> None:
        # Baclofen two days or so past its deadline: withdrawal risk, the top of the list.
        patient = self.patient(Indication.MULTIPLE_SCLEROSIS)
        pump = self.implant(patient, "synchromed_ii_40", days_ago=years(3.1))
        self.place(pump, regimen("baclofen", "1000", "400", 40), RefillStatus.OVERDUE, earlier=3)
        self.book_refill(pump, days_ahead=0)
        # Baclofen due, in a pump in its replacement window.
        patient = self.patient(Indication.CEREBRAL_PALSY, age=24)
        pump = self.implant(patient, "synchromed_ii_20", days_ago=years(5.6))
        self.place(pump, regimen("baclofen", "2000", "350", 20), RefillStatus.DUE)
        self.book_refill(pump, days_ahead=1)
        # Travel buffer: due a week earlier than the clinic's margin alone says.
        patient = self.patient(
            Indication.SPINAL_CORD_INJURY,
            travel_buffer_days=7,
            notes="Lives 300 km away and depends on patient transport; book a week early.",
        )
        pump = self.implant(patient, "synchromed_ii_40", days_ago=years(2.7))
        self.place(pump, regimen("baclofen", "1000", "300", 40), RefillStatus.DUE)
        self.book_refill(pump, days_ahead=2)
        # Opioid pumps past their deadline; one missed its visit and is not rebooked.
        patient = self.patient(Indication.FAILED_BACK)
        pump = self.implant(patient, "prometra_ii_20", days_ago=years(2.4))
        self.place(pump, regimen("morphine", "20", "4", 20), RefillStatus.OVERDUE)
        self.visit(
            patient,
            VisitKind.REFILL,
            on=self.ago(4),
            pump=pump,
            booked_on=self.ago(30),
            status=VisitStatus.MISSED,
            notes="Did not attend; phone not answered.",
        )
        patient = self.patient(Indication.CANCER_PAIN)
        pump = self.implant(patient, "synchromed_ii_20", days_ago=years(0.9))
        self.place(pump, regimen("hydromorphone", "8", "3", 20), RefillStatus.OVERDUE, earlier=1)

    def residual_discrepancies(self) -> None:
        # More left than expected: under-delivery, awaiting the physician.
        patient = self.patient(Indication.POST_LAMINECTOMY)
        pump = self.implant(patient, "synchromed_ii_40", days_ago=years(4.2))
        refill = self.place(
            pump,
            regimen("morphine", "15", "3", 40),
            RefillStatus.OK,
            residual_shift=Decimal("3.4"),
        )
        self.visit(
            patient,
            VisitKind.REFILL,
            on=refill.refill_date,
            pump=pump,
            booked_on=refill.refill_date - timedelta(days=21),
            status=VisitStatus.DONE,
        )
        self.complication(
            patient,
            ComplicationKind.CATHETER_KINK,
            on=refill.refill_date,
            severity=Severity.MODERATE,
            pump=pump,
            notes="3.4 mL more withdrawn than expected; pain returning. Catheter dye study "
            "requested.",
        )
        # Less left than expected, explained and signed off.
        patient = self.patient(Indication.FAILED_BACK)
        pump = self.implant(patient, "synchromed_ii_20", days_ago=years(2.0))
        refill = self.place(
            pump,
            regimen("hydromorphone", "4", "1", 20),
            RefillStatus.UPCOMING,
            residual_shift=Decimal("-2.8"),
        )
        services.sign_off_discrepancy(
            refill=refill,
            user=self.staff["physician"],
            comment="Pocket fill suspected at the previous refill; no overdose symptoms. "
            "Ultrasound-guided access from now on.",
            now=self.at(refill.refill_date + timedelta(days=1), 9, 30),
        )
        self.complication(
            patient,
            ComplicationKind.POCKET_FILL,
            on=refill.refill_date,
            severity=Severity.MILD,
            outcome=ComplicationOutcome.RESOLVED,
            pump=pump,
        )

    def batteries(self) -> None:
        # ERI seen at the latest refill: replacement within 90 days.
        patient = self.patient(Indication.SPINAL_CORD_INJURY)
        pump = self.implant(patient, "synchromed_ii_20", days_ago=years(6.3))
        self.place(pump, regimen("baclofen", "2000", "500", 20), RefillStatus.OK, eri=True)
        # ERI seen at an interrogation between refills: the battery stops (replace by, ERI
        # + 90 days) before the long baclofen fill is due, which the app warns about
        # (section 5), on the pump and on the refill visit booked for the due date.
        patient = self.patient(Indication.MULTIPLE_SCLEROSIS)
        pump = self.implant(patient, "synchromed_ii_40", days_ago=years(6.0))
        eri_seen = self.ago(6)
        replace_by_days = (eri_seen - self.today).days + schedule.ERI_STOP_DAYS
        self.place(
            pump,
            regimen("baclofen", "1000", "250", 40),
            RefillStatus.OK,
            # Due (deadline - margin) at least five days after replace-by; filled before the ERI.
            within=(replace_by_days + self.margin(pump) + 5, replace_by_days + 60),
        )
        services.record_eri(pump=pump, seen_on=eri_seen, today=self.today, policy=self.policy)
        self.visit(patient, VisitKind.BATTERY_CONSULT, on=self.today + timedelta(days=9), pump=pump)
        self.book_refill(pump)
        # Past the seven-year mark: replacement overdue.
        patient = self.patient(Indication.STROKE, notes="Pump replacement booked.")
        pump = self.implant(patient, "synchromed_ii_40", days_ago=years(7.3))
        self.place(pump, regimen("baclofen", "1500", "450", 40), RefillStatus.OK)
        patient = self.patient(Indication.FAILED_BACK)
        pump = self.implant(patient, "synchromed_ii_20", days_ago=years(7.15))
        self.place(pump, regimen("morphine", "25", "5", 20), RefillStatus.DUE)
        # Prometra in its window: the manufacturer's figure, reviewed locally.
        patient = self.patient(Indication.CANCER_PAIN)
        pump = self.implant(patient, "prometra_ii_40", days_ago=years(9.4))
        self.place(pump, regimen("morphine", "20", "6", 40), RefillStatus.OK)
        # Replaced: ERI, explant at battery end of life, a new pump the same day.
        patient = self.patient(Indication.MULTIPLE_SCLEROSIS)
        old = self.implant(patient, "synchromed_ii_20", days_ago=years(7.4))
        replaced_on = self.ago(100)
        old_plan = regimen("baclofen", "1000", "250", 20)
        old_dates = self.fill_dates(old, old_plan, self.ago(140), 2)
        self.record_fills(old, [(day, old_plan) for day in old_dates])
        services.record_eri(pump=old, seen_on=self.ago(130), today=self.today, policy=self.policy)
        services.explant_pump(
            pump=old,
            explant_date=replaced_on,
            reason=ExplantReason.BATTERY_END_OF_LIFE,
            today=self.today,
        )
        new = self.implant(patient, "synchromed_ii_40", days_ago=100)
        self.place(new, regimen("baclofen", "500", "250", 40), RefillStatus.UPCOMING, earlier=1)
        self.book_refill(new)

    def reprogramming_and_special_fills(self) -> None:
        # Baclofen titrated up between refills.
        patient = self.patient(Indication.CEREBRAL_PALSY, age=29)
        pump = self.implant(patient, "synchromed_ii_40", days_ago=years(1.6))
        self.place(
            pump,
            regimen("baclofen", "1000", "400", 40),
            RefillStatus.OK,
            adjustment=(14, Decimal("460")),
        )
        # Ziconotide titrated slowly, with the dizziness that often comes with it.
        patient = self.patient(Indication.FAILED_BACK)
        pump = self.implant(patient, "prometra_ii_40", days_ago=years(1.2))
        refill = self.place(
            pump,
            regimen("ziconotide", "25", "2.4", 40),
            RefillStatus.UPCOMING,
            adjustment=(7, Decimal("3.0")),
        )
        self.complication(
            patient,
            ComplicationKind.DIZZINESS,
            on=refill.refill_date + timedelta(days=10),
            severity=Severity.MODERATE,
            outcome=ComplicationOutcome.RESOLVED,
            pump=pump,
            notes="After the dose increase; settled within a week.",
        )
        # Undiluted ziconotide keeps 84 days.
        patient = self.patient(Indication.OTHER, notes="Complex regional pain syndrome.")
        pump = self.implant(patient, "synchromed_ii_20", days_ago=years(2.2))
        self.place(pump, regimen("ziconotide", "100", "2.4", 20), RefillStatus.OK)
        # A first ziconotide fill keeps only 14 days: implanted so that it is due now.
        patient = self.patient(Indication.FAILED_BACK)
        pump = self.implant(
            patient, "synchromed_ii_20", days_ago=max(0, 14 - self.policy.refill_margin_days)
        )
        self.screening_trial(patient, "ziconotide", on=self.ago(70))
        self.place(pump, regimen("ziconotide", "25", "1.2", 20), RefillStatus.DUE, earlier=0)
        self.complication(
            patient,
            ComplicationKind.CSF_LEAK,
            on=pump.implant_date + timedelta(days=2),
            severity=Severity.MILD,
            outcome=ComplicationOutcome.RESOLVED,
            pump=pump,
            notes="Positional headache; settled with fluids and rest.",
        )
        # The alarm raised to 4 mL after withdrawal symptoms at 3 mL left.
        patient = self.patient(Indication.CEREBRAL_PALSY, age=21)
        pump = self.implant(patient, "synchromed_ii_20", days_ago=years(4.5), alarm_ml_override="4")
        self.place(pump, regimen("baclofen", "1500", "300", 20), RefillStatus.UPCOMING)
        self.complication(
            patient,
            ComplicationKind.WITHDRAWAL,
            on=self.ago(430),
            severity=Severity.SEVERE,
            outcome=ComplicationOutcome.RESOLVED,
            pump=pump,
            notes="Itching and rebound spasticity with about 3 mL left; alarm raised to 4 mL.",
        )
        # A granuloma on the MRI: infusion stopped (rate zero) pending neurosurgery.
        patient = self.patient(Indication.POST_LAMINECTOMY)
        pump = self.implant(patient, "synchromed_ii_20", days_ago=years(3.8))
        refill = self.place(
            pump,
            regimen("morphine", "25", "0", 20),
            RefillStatus.OK,
            earlier_plan=regimen("morphine", "25", "9", 20),
        )
        scanned = refill.refill_date - timedelta(days=2)
        # Recorded on the day, as staff did then: the post-MRI check is booked and done.
        scan = decisions.record_mri(
            patient=patient,
            scanned_on=scanned,
            today=scanned,
            now=self.at(scanned, 13),
            user=self.nurse,
            notes="Thoracic MRI: catheter-tip mass at T9. Pump interrogated after the scan.",
        )
        decisions.mark_mri_checked(scan=scan, checked_on=scanned, today=self.today)
        self.complication(
            patient,
            ComplicationKind.GRANULOMA,
            on=scanned,
            severity=Severity.SEVERE,
            pump=pump,
            notes="Morphine stopped (0 mg/day) at the next refill; neurosurgical review booked.",
        )
        # A recent implant, before its first review, with a seroma.
        patient = self.patient(Indication.FAILED_BACK)
        pump = self.implant(patient, "synchromed_ii_20", days_ago=25)
        self.screening_trial(patient, "morphine", on=self.ago(80))
        self.place(pump, regimen("morphine", "10", "1", 20), RefillStatus.OK, earlier=1)
        self.visit(patient, VisitKind.FIRST_REVIEW, on=self.today + timedelta(days=5), pump=pump)
        self.complication(
            patient,
            ComplicationKind.SEROMA,
            on=self.ago(15),
            severity=Severity.MILD,
            pump=pump,
            notes="Small seroma over the pump; watch at the first review.",
        )
        # An MRI this morning: the SynchroMed must be checked today.
        patient = self.patient(Indication.POST_LAMINECTOMY)
        pump = self.implant(patient, "synchromed_ii_40", days_ago=years(1.9))
        self.place(pump, regimen("hydromorphone", "5", "1.5", 40), RefillStatus.OK)
        # Recording it books the post-MRI check for today (section 7).
        decisions.record_mri(
            patient=patient,
            scanned_on=self.today,
            today=self.today,
            now=self.at(self.today, 9, 40),
            user=self.nurse,
            notes="Lumbar spine MRI, outside hospital.",
        )

    def boluses_and_corrections(self) -> None:
        # Patient-activated boluses (Prometra PTM): the refill dates assume every allowed
        # bolus is taken (61 days to the alarm rather than 92 on the basal rate alone), and
        # the next residual is expected within a range (sections 2 and 4).
        patient = self.patient(
            Indication.CANCER_PAIN,
            notes="Uses the PTM for breakthrough pain, two or three times most days.",
        )
        pump = self.implant(patient, "prometra_ii_40", days_ago=years(1.5))
        self.place(
            pump,
            regimen("morphine", "10", "4", 40, bolus_dose="0.5", boluses_per_day=4),
            RefillStatus.UPCOMING,
        )
        self.book_refill(pump)
        # A refill saved with the wrong volume, marked entered in error by the nurse
        # and recorded again; and a complication written in the wrong patient's
        # record, marked by the physician (section 9).
        patient = self.patient(Indication.FAILED_BACK)
        pump = self.implant(patient, "synchromed_ii_20", days_ago=years(3.2))
        plan = regimen("hydromorphone", "4", "1.5", 20)
        refill = self.place(
            pump,
            plan,
            RefillStatus.OK,
            mistake=(
                replace(plan, volume_ml=Decimal("12")),
                "Volume typed as 12 mL; the reservoir was filled to 20 mL.",
            ),
        )
        wrong = self.complication(
            patient,
            ComplicationKind.NAUSEA_OR_VOMITING,
            on=refill.refill_date,
            severity=Severity.MODERATE,
            pump=pump,
            notes="Vomiting for two days after the refill.",
        )
        decisions.mark_complication_entered_in_error(
            complication=wrong,
            user=physician_of(patient),
            reason="Written in this record by mistake: it was another patient's.",
            now=self.at(refill.refill_date, 15),
        )
        # An older refill's residual flag still awaits the physician; the refill since
        # was as expected, and the pump keeps its open discrepancy (section 4).
        patient = self.patient(Indication.POST_LAMINECTOMY)
        pump = self.implant(patient, "synchromed_ii_20", days_ago=years(2.9))
        self.place(
            pump,
            regimen("morphine", "10", "2", 20),
            RefillStatus.OK,
            residual_shift=Decimal("1.8"),
            shift_fill=-2,
        )

    def codman_pumps(self) -> None:
        for indication, drug, age, status in (
            (Indication.FAILED_BACK, "morphine", 9.0, RefillStatus.OK),
            (Indication.CANCER_PAIN, "hydromorphone", 11.2, RefillStatus.DUE),
            (Indication.POST_LAMINECTOMY, "bupivacaine", 6.5, RefillStatus.UPCOMING),
        ):
            self.implanted(indication, drug, "codman_3000", age, status)

    def never_filled(self) -> None:
        patient = self.patient(
            Indication.FAILED_BACK,
            notes="Transferred from Riverside Hospital; refill history not yet entered.",
        )
        self.implant(patient, "synchromed_ii_40", days_ago=years(3.3))
        patient = self.patient(Indication.CANCER_PAIN)
        self.implant(patient, "prometra_ii_40", days_ago=0)
        self.screening_trial(patient, "hydromorphone", on=self.ago(42))

    def routine_patients(self) -> None:
        ok, due, upcoming = RefillStatus.OK, RefillStatus.DUE, RefillStatus.UPCOMING
        for drug, model_code, age, status in (
            ("morphine", "synchromed_ii_20", 2.1, ok),
            ("morphine", "synchromed_ii_40", 5.9, ok),
            ("morphine", "prometra_ii_20", 3.4, upcoming),
            ("morphine", "synchromed_ii_20", 0.6, ok),
            ("morphine", "prometra_ii_40", 6.6, ok),
            ("morphine", "synchromed_ii_40", 1.3, due),
            ("hydromorphone", "synchromed_ii_20", 4.0, ok),
            ("hydromorphone", "synchromed_ii_40", 2.8, upcoming),
            ("hydromorphone", "prometra_ii_20", 1.7, ok),
            ("hydromorphone", "synchromed_ii_20", 6.2, ok),
            ("hydromorphone", "prometra_ii_40", 3.9, ok),
            ("baclofen", "synchromed_ii_40", 1.1, ok),
            ("baclofen", "synchromed_ii_20", 3.6, upcoming),
            ("baclofen", "synchromed_ii_40", 5.4, ok),
            ("baclofen", "prometra_ii_40", 2.3, ok),
            ("baclofen", "synchromed_ii_20", 0.4, ok),
            ("baclofen", "synchromed_ii_40", 4.4, upcoming),
            ("bupivacaine", "synchromed_ii_40", 1.8, ok),
            ("bupivacaine", "synchromed_ii_20", 2.6, due),
            ("admixture", "synchromed_ii_40", 3.0, ok),
            ("admixture", "prometra_ii_20", 1.4, upcoming),
            ("clonidine", "synchromed_ii_20", 4.8, ok),
        ):
            indications = SPASTICITY if drug == "baclofen" else PAIN
            indication = self.rng.choice(indications)
            patient, pump, refill = self.implanted(
                indication, drug, model_code, age, status, earlier=self.rng.randint(1, 3)
            )
            if status == due or (status == upcoming and self.rng.random() < 0.6):
                self.book_refill(pump)
            if drug == "morphine" and age == 2.1:
                self.complication(
                    patient,
                    ComplicationKind.CONSTIPATION,
                    on=refill.refill_date,
                    severity=Severity.MILD,
                    notes="Laxatives started.",
                )
            if drug == "hydromorphone" and age == 4.0:
                self.complication(
                    patient,
                    ComplicationKind.PRURITUS,
                    on=self.ago(200),
                    severity=Severity.MILD,
                    outcome=ComplicationOutcome.RESOLVED,
                )

    def explanted_for_infection(self) -> None:
        patient = self.patient(
            Indication.FAILED_BACK,
            status=PatientStatus.DISCHARGED,
            notes="Explanted for a pocket infection; on oral analgesia. Reconsider "
            "re-implant after six months free of infection.",
        )
        pump = self.implant(patient, "prometra_ii_20", days_ago=240)
        plan = regimen("morphine", "20", "3", 20)
        self.record_fills(
            pump, [(pump.implant_date, plan), (pump.implant_date + timedelta(days=45), plan)]
        )
        infected = pump.implant_date + timedelta(days=52)
        self.complication(
            patient,
            ComplicationKind.INFECTION,
            on=infected,
            severity=Severity.SEVERE,
            outcome=ComplicationOutcome.RESOLVED,
            pump=pump,
            notes="Pocket erythema and discharge; Staphylococcus aureus. Explanted, six weeks "
            "of antibiotics.",
        )
        services.explant_pump(
            pump=pump,
            explant_date=infected + timedelta(days=3),
            reason=ExplantReason.INFECTION,
            today=self.today,
        )

    def screening(self) -> None:
        """Patients in screening: trials pending, decided both ways, overridden."""
        pending, confirmed = TrialDecision.PENDING, TrialDecision.CONFIRMED
        overridden = TrialDecision.OVERRIDDEN
        success, failure = TrialOutcome.SUCCESS, TrialOutcome.FAILURE
        nrs, ashworth = TrialScale.PAIN_NRS, TrialScale.ASHWORTH
        screening, referred = PatientStatus.SCREENING, PatientStatus.REFERRED
        discharged = PatientStatus.DISCHARGED
        for (indication, status, days_ago, trial, scale, before, after, decision,
             override_to, reason) in (
            # Awaiting the physician: a success and a failure on each scale.
            (Indication.FAILED_BACK, screening, 3, MORPHINE_BOLUS, nrs, "8", "3",
             pending, "", ""),
            (Indication.OSTEOPOROSIS, screening, 5, HYDROMORPHONE_BOLUS, nrs, "7", "5",
             pending, "", ""),
            (Indication.CEREBRAL_PALSY, screening, 2, BACLOFEN_BOLUS, ashworth, "4", "1+",
             pending, "", ""),
            (Indication.MULTIPLE_SCLEROSIS, screening, 8, BACLOFEN_BOLUS, ashworth, "3", "2",
             pending, "", ""),
            (Indication.OTHER, screening, 1, ZICONOTIDE_INFUSION, nrs, "7", "4",
             pending, "", ""),
            # A confirmed success, referred for implant; a confirmed failure.
            (Indication.CANCER_PAIN, referred, 20, MORPHINE_INFUSION, nrs, "9", "3",
             confirmed, "", ""),
            (Indication.POST_LAMINECTOMY, discharged, 60, MORPHINE_BOLUS, nrs, "6", "5",
             confirmed, "", ""),
            # The computed outcome overridden, each way.
            (Indication.STROKE, discharged, 45, BACLOFEN_BOLUS, ashworth, "3", "1",
             overridden, failure, "Trunk weakness at 50 mcg: could not transfer safely. "
             "His spasticity supports standing."),
            (Indication.FAILED_BACK, referred, 25, MORPHINE_BOLUS, nrs, "8", "5",
             overridden, success, "Walks 30 minutes again and sleeps through the night."),
        ):  # fmt: skip
            # A referred patient was in screening until the physician's decision referred them.
            patient = self.patient(indication, status=screening if status == referred else status)
            drug, method, dose, dose_unit = trial
            self.trial(
                patient,
                on=self.ago(days_ago),
                drug=drug,
                method=method,
                dose=dose,
                dose_unit=dose_unit,
                scale=scale,
                before=before,
                after=after,
                decision=decision,
                override_to=override_to,
                reason=reason,
            )
        # A failed trial, then a second at a higher dose awaiting the physician.
        patient = self.patient(Indication.SPINAL_CORD_INJURY, status=screening)
        drug, method, dose, dose_unit = BACLOFEN_BOLUS
        for days_ago, trial_dose, after, decision in ((30, dose, "2", confirmed),
                                                      (4, "100", "1", pending)):  # fmt: skip
            self.trial(
                patient,
                on=self.ago(days_ago),
                drug=drug,
                method=method,
                dose=trial_dose,
                dose_unit=dose_unit,
                scale=ashworth,
                before="3",
                after=after,
                decision=decision,
            )
        # Referred in; the trial is not done yet.
        self.patient(Indication.FAILED_BACK, status=screening, notes="Trial booked for next week.")


def status_counts(today: date) -> tuple[Counter[str], Counter[str]]:
    """Active pumps by refill status and by battery status on ``today``."""
    lookahead = SchedulePolicy.current().lookahead_days
    rows = Pump.objects.active().with_statuses(today, lookahead)
    refill = Counter(
        {
            row["refill_status"]: row["n"]
            for row in rows.values("refill_status").annotate(n=Count("pk")).order_by()  # type: ignore[misc]
        }
    )
    battery = Counter(
        {
            row["battery_status"]: row["n"]
            for row in rows.values("battery_status").annotate(n=Count("pk")).order_by()  # type: ignore[misc]
        }
    )
    return refill, battery


def build_demo_clinic(*, today: date, seed: int = RANDOM_SEED) -> DemoSummary:
    """Create the demo staff and clinic. Call inside a transaction, on an empty clinic."""
    staff = ensure_demo_staff()
    DemoClinic(today=today, staff=staff, seed=seed).build()
    messages = seed_outreach(today=today, seed=seed)
    refill, battery = status_counts(today)
    return DemoSummary(
        today=today,
        patients=Patient.objects.count(),
        active_pumps=Pump.objects.active().count(),
        explanted_pumps=Pump.objects.filter(explant_date__isnull=False).count(),
        refills=Refill.objects.count(),
        trials=Trial.objects.count(),
        refill_counts={status.value: refill[status.value] for status in RefillStatus},
        battery_counts={status.value: battery[status.value] for status in BatteryStatus},
        messages=messages,
    )


def seed_outreach(*, today: date, seed: int = RANDOM_SEED) -> dict[str, int]:
    """Reminders in the demo (issue 15): most implanted patients consent (SMS or
    email, with the day and source), one replied STOP; the reminders of the coming
    week are queued by the same daily run the worker does, and the last two months'
    visits have their sent reminders (one failed), so the outbox has a history.
    ``make run``'s worker then sends what is due through the console backends."""
    rng = random.Random(seed + 15)
    implanted = list(
        Patient.objects.filter(status=PatientStatus.IMPLANTED).order_by("mrn").only("pk")
    )
    for index, patient in enumerate(implanted):
        if index % 5 == 4:
            continue  # no consent recorded: "awaiting consent" on the board
        by_email = index % 4 == 1
        Patient.objects.filter(pk=patient.pk).update(
            contact_by=ContactBy.EMAIL if by_email else ContactBy.SMS,
            email=f"patient{index}@example.org" if by_email else "",
            consent_to_contact=True,
            consent_recorded_on=today - timedelta(days=rng.randint(30, 700)),
            consent_source=rng.choice([ConsentSource.PAPER_FORM, ConsentSource.VERBAL]),
        )
    stopped = next(
        (p for p in Patient.objects.filter(contact_by=ContactBy.SMS).order_by("-mrn")[:1]), None
    )
    if stopped is not None:
        withdraw_consent(
            stopped, source=ConsentSource.SMS_REPLY, detail=f"SMS reply “STOP” from {stopped.phone}"
        )
    queued = reminders.daily_run(today=today)
    # The last two months' visits of consenting patients: their day-before reminder went.
    now = timezone.now()
    past = (
        Appointment.objects.filter(
            scheduled_at__lt=now,
            scheduled_at__gte=now - timedelta(days=60),
            patient__consent_to_contact=True,
        )
        .select_related("patient")
        .order_by("scheduled_at")
    )
    history = []
    for visit in past:
        channel = str(visit.patient.contact_by)
        rendered = reminders.Renderer()(MessageKind.VISIT_REMINDER, channel, "", visit.scheduled_at)
        due = visit.scheduled_at - timedelta(days=1)
        history.append(
            Message(
                patient=visit.patient,
                kind=MessageKind.VISIT_REMINDER,
                channel=channel,
                appointment=visit,
                pump_id=visit.pump_id,
                subject=rendered.subject,
                text=rendered.text,
                to=visit.patient.phone if channel == Channel.SMS else visit.patient.email,
                due_at=due,
                next_attempt_at=due,
                state=MessageState.SENT,
                attempts=1,
                sent_at=due + timedelta(seconds=rng.randint(2, 90)),
                provider_id=f"console-demo-{visit.pk}",
                dedupe_key=f"{reminders.visit_key(visit, 1)}",
            )
        )
    if history:
        failed = history[len(history) // 2]
        failed.state = MessageState.FAILED
        failed.sent_at = None
        failed.provider_id = ""
        failed.attempts = 5
        failed.last_error = "provider answered 503"
    Message.objects.bulk_create(history, ignore_conflicts=True)
    return {
        "queued": queued["visit_reminders"] + queued["refill_calls"],
        "history": len(history),
    }


def counts_text(values: Iterable[tuple[str, int]]) -> str:
    return ", ".join(f"{name} {count}" for name, count in values)
