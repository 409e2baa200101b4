"""Factories for the records; pumps and fills go through the real services."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from patients.choices import Indication
from patients.models import Patient
from pumps import services
from pumps.models import Drug, Pump, PumpModel, Refill

FAR_FUTURE = date(2100, 1, 1)
TEST_PASSWORD = "correct horse battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")

    @factory.post_generation
    def password(user, create, extracted, **kwargs):
        user.set_password(extracted or TEST_PASSWORD)
        if create:
            user.save(update_fields=["password"])

    @factory.post_generation
    def roles(user, create, extracted, **kwargs):
        if create and extracted:
            user.groups.add(*(Group.objects.get(name=name) for name in extracted))


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    mrn = factory.Sequence(lambda n: f"M{n:05d}")
    family_name = factory.Faker("last_name")
    given_name = factory.Faker("first_name")
    birth_date = date(1970, 1, 1)
    indication = Indication.FAILED_BACK


def make_pump(
    *,
    model: str = "synchromed_ii_20",
    implant_date: date = date(2024, 1, 1),
    serial: str | None = None,
    patient: Patient | None = None,
    alarm_ml_override: Decimal | None = None,
) -> Pump:
    """Implant a pump through the service, so its battery window is stored."""
    return services.implant_pump(
        patient=patient or PatientFactory(),
        model=PumpModel.objects.get(code=model),
        serial=serial or f"SN{Pump.objects.count() + 1:06d}",
        implant_date=implant_date,
        today=FAR_FUTURE,
        alarm_ml_override=alarm_ml_override,
    )


def fill(
    pump: Pump,
    *,
    on: date,
    drug: str = "morphine",
    concentration: str = "20",
    concentration_unit: str = "mg/mL",
    daily_dose: str = "4",
    dose_unit: str = "mg/day",
    volume_ml: str = "20",
    residual_ml: str | None = None,
    eri: bool = False,
    bolus_dose: str | None = None,
    boluses_per_day: int | None = None,
) -> Refill:
    """Record a fill through the service, as the nurse's form and the import do."""
    return services.record_fill(
        pump=pump,
        fill=services.Fill(
            refill_date=on,
            drug=Drug.objects.get(code=drug),
            concentration=Decimal(concentration),
            concentration_unit=concentration_unit,
            daily_dose=Decimal(daily_dose),
            dose_unit=dose_unit,
            volume_ml=Decimal(volume_ml),
            residual_ml=Decimal(residual_ml) if residual_ml is not None else None,
            eri=eri,
            bolus_dose=Decimal(bolus_dose) if bolus_dose is not None else None,
            boluses_per_day=boluses_per_day,
        ),
        today=FAR_FUTURE,
    )


def baclofen_pump(*, today: date, implanted_days_ago: int = 500, **fill_values: str) -> Pump:
    """A SynchroMed II 20 mL with baclofen 2000 mcg/mL at 400 mcg/day (0.2 mL/day),
    filled to 20 mL ten days before ``today``: 18 mL expected on ``today``."""
    pump = make_pump(
        model="synchromed_ii_20", implant_date=today - timedelta(days=implanted_days_ago)
    )
    values = {
        "drug": "baclofen",
        "concentration": "2000",
        "concentration_unit": "mcg/mL",
        "daily_dose": "400",
        "dose_unit": "mcg/day",
        "volume_ml": "20",
    } | fill_values
    fill(pump, on=today - timedelta(days=10), **values)  # type: ignore[arg-type]
    return pump
