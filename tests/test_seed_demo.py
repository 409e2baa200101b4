"""seed_demo builds a live-looking clinic with every status, and never harms data."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction
from io import StringIO

import pytest
from django.conf import global_settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.test.utils import override_settings
from django.utils import timezone

from care.choices import TrialDecision, TrialOutcome
from care.models import Appointment, Complication, MriScan, Trial
from core.roles import ADMINISTRATOR, NURSE, PHYSICIAN, user_roles
from demo.data import SPASTICITY
from demo.management.commands.seed_demo import DEMO_PASSWORD
from patients.choices import Indication
from patients.models import IN_FORCE, Patient
from pumps import entry_safety, schedule, services
from pumps.choices import BatteryStatus, ExplantReason, RefillStatus
from pumps.models import DoseAdjustment, Pump, PumpModel, Refill, SchedulePolicy

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def seed_output(django_db_setup, django_db_blocker) -> Iterator[str]:
    """The demo clinic, built once for this module and rolled back after it.

    Each test runs in a savepoint inside this transaction (pytest-django's
    ``db``), so what a test writes is undone and the clinic stays as seeded.
    """
    with django_db_blocker.unblock(), transaction.atomic():
        out = StringIO()
        with override_settings(DEBUG=True):
            call_command("seed_demo", stdout=out)
        yield out.getvalue()
        transaction.set_rollback(True)


@pytest.fixture
def lookahead(seed_output: str) -> int:
    return SchedulePolicy.current().lookahead_days


def active_pumps() -> list[Pump]:
    return list(Pump.objects.active().select_related("model", "patient", "latest_fill__drug"))


def snapshot() -> dict[str, object]:
    """What a refused run must leave exactly as it was."""
    user_model = get_user_model()
    return {
        "patients": list(Patient.objects.order_by("pk").values_list("pk", "mrn", "family_name")),
        "pumps": list(Pump.objects.order_by("pk").values_list("pk", "serial", "refill_due")),
        "refills": Refill.objects.count(),
        "trials": Trial.objects.count(),
        "history": Patient.history.count() + Refill.history.count(),
        "passwords": list(user_model.objects.order_by("pk").values_list("username", "password")),
    }


@pytest.mark.parametrize("status", list(RefillStatus))
def test_every_refill_status_is_shown_today(seed_output, lookahead, status):
    today = timezone.localdate()
    assert any(pump.refill_status(today, lookahead) == status for pump in active_pumps())


@pytest.mark.parametrize("status", list(BatteryStatus))
def test_every_battery_status_is_shown_today(seed_output, status):
    today = timezone.localdate()
    assert any(pump.battery_status(today) == status for pump in active_pumps())


def test_about_sixty_patients_with_active_pumps_and_screening(seed_output):
    assert 55 <= Patient.objects.count() <= 65
    assert Pump.objects.active().count() >= 40
    assert Patient.objects.filter(pumps__isnull=True).exists()


def test_urgent_baclofen_is_due_or_overdue(seed_output, lookahead):
    today = timezone.localdate()
    urgent = [
        pump
        for pump in active_pumps()
        if pump.latest_fill is not None
        and pump.latest_fill.drug.urgent_when_due
        and pump.refill_status(today, lookahead) in (RefillStatus.DUE, RefillStatus.OVERDUE)
    ]
    assert {pump.latest_fill.drug.code for pump in urgent} == {"baclofen"}


def days_to_alarm(refill: Refill, pump: Pump) -> timedelta:
    """Section 3's N for ``refill``, every allowed bolus taken."""
    usable = Fraction(refill.volume_ml - pump.alarm_ml)
    return timedelta(days=math.floor(usable / refill.allowed_daily_volume_ml))


def test_residual_discrepancies_await_sign_off_and_one_is_signed(seed_output):
    # Issue 12: a pump's flag stays open while any refill in force carries an
    # unsigned one, so two pumps show it: one flagged at its latest refill, one
    # at an older refill (test_an_older_unsigned_flag_stays_open...).
    open_flags = [pump for pump in active_pumps() if pump.has_unsigned_discrepancy]
    assert len(open_flags) == 2
    assert sorted(pump.latest_fill.discrepancy for pump in open_flags) == [False, True]
    for pump in Pump.objects.all():
        assert pump.open_discrepancies == services.count_open_discrepancies(pump), pump
    signed = Refill.objects.get(discrepancy=True, discrepancy_signed_off_at__isnull=False)
    assert signed.discrepancy_signed_off_by.username == "physician"
    assert signed.discrepancy_comment


def test_every_residual_is_judged_with_its_pump_models_threshold(seed_output):
    for refill in Refill.objects.filter(IN_FORCE).select_related("pump__model"):
        check = services.check_residual(
            pump=refill.pump, refill_date=refill.refill_date, residual_ml=refill.residual_ml
        )
        assert refill.discrepancy == check.discrepancy, refill
    # Each demo flag is clearly beyond the threshold, and only 2 are unsigned.
    for refill in Refill.objects.filter(IN_FORCE, discrepancy=True).select_related("pump__model"):
        difference = abs(refill.residual_ml - refill.expected_residual_ml)
        assert difference > refill.pump.model.discrepancy_threshold_ml + Decimal("0.5"), refill


def test_an_older_unsigned_flag_stays_open_after_a_clean_refill(seed_output):
    (pump,) = [p for p in active_pumps() if p.open_discrepancies and not p.latest_fill.discrepancy]
    assert pump.open_discrepancies == 1
    assert pump.has_unsigned_discrepancy
    flagged = pump.refills.get(discrepancy=True)
    assert flagged.discrepancy_signed_off_at is None
    assert flagged.refill_date < pump.latest_fill.refill_date
    assert not flagged.is_entered_in_error


def test_every_fill_passes_the_refusals_of_section_8(seed_output):
    for pump in Pump.objects.select_related("model"):
        assert entry_safety.serial_refusal(pump.serial) is None, pump.serial
    for refill in Refill.objects.select_related("drug", "pump__model"):
        pump = refill.pump
        concentration = schedule.concentration_mcg_per_ml(
            refill.concentration, refill.concentration_unit
        )
        assert refill.drug.concentration_range.accepts(concentration), refill
        assert pump.alarm_ml <= refill.volume_ml <= pump.model.reservoir_ml, refill
        assert refill.allowed_daily_volume_ml <= entry_safety.MAX_DAILY_VOLUME_ML, refill
        assert refill.daily_dose == 0 or days_to_alarm(refill, pump).days >= 1, refill
        assert pump.implant_date <= refill.refill_date <= timezone.localdate(), refill
        assert pump.explant_date is None or refill.refill_date <= pump.explant_date, refill
        if refill.bolus_dose:
            assert refill.boluses_per_day, refill


def test_a_prometra_allows_boluses_and_its_residual_is_expected_in_a_range(seed_output):
    ranged = list(Refill.objects.filter(IN_FORCE, expected_residual_low_ml__isnull=False))
    assert len(ranged) >= 2
    for refill in ranged:
        assert refill.pump.model.code.startswith("prometra")
        assert refill.expected_residual_low_ml + 5 < refill.expected_residual_ml
        assert not refill.discrepancy
    pump = ranged[0].pump
    latest = pump.latest_fill
    assert latest.bolus_dose > 0
    assert latest.boluses_per_day > 0
    # The refill dates assume every allowed bolus is taken (section 2): here
    # the reservoir, not the 90-day stability, sets the deadline.
    assert pump.refill_alarm == latest.refill_date + days_to_alarm(latest, pump)
    assert latest.allowed_daily_volume_ml > latest.daily_volume_ml
    assert pump.refill_limited_by == "reservoir"
    assert pump.refill_deadline < latest.refill_date + timedelta(days=90)
    expected = services.check_residual(
        pump=pump, refill_date=latest.refill_date, residual_ml=None
    ).expected
    assert services.expected_residual_text(expected).startswith("between ")


def test_an_eri_pump_stops_before_its_refill_is_due(seed_output):
    today = timezone.localdate()
    pumps = [
        pump
        for pump in active_pumps()
        if pump.eri_replace_by is not None
        and today <= pump.eri_replace_by <= today + timedelta(days=90)
        and pump.refill_due > pump.eri_replace_by
    ]
    assert len(pumps) == 1
    (pump,) = pumps
    assert pump.eri_replace_by == pump.eri_reported_on + timedelta(days=90)
    assert pump.battery_status(today) == BatteryStatus.ERI
    booked = Appointment.objects.booked().filter(pump=pump, kind="refill").get()
    assert booked.scheduled_at.date() > pump.eri_replace_by


def test_a_refill_entered_in_error_stands_beside_its_correction(seed_output):
    wrong = Refill.objects.get(entered_in_error_at__isnull=False)
    assert wrong.entered_in_error_by.username == "nurse"
    assert "12 mL" in wrong.entered_in_error_reason
    assert wrong.history.filter(history_change_reason__startswith="Entered in error").exists()
    corrected = Refill.objects.filter(IN_FORCE).get(pump=wrong.pump, refill_date=wrong.refill_date)
    assert corrected.volume_ml > wrong.volume_ml
    pump = Pump.objects.get(pk=wrong.pump_id)
    # The dates come from the corrected fill, not the one in error.
    assert pump.latest_fill == corrected
    assert pump.refill_alarm == corrected.refill_date + days_to_alarm(corrected, pump)
    assert days_to_alarm(wrong, pump) < days_to_alarm(corrected, pump)


def test_a_complication_entered_in_error_stays_in_the_record(seed_output):
    wrong = Complication.objects.get(entered_in_error_at__isnull=False)
    assert wrong.is_entered_in_error
    assert wrong.entered_in_error_by == wrong.patient.treating_physician
    assert "another patient" in wrong.entered_in_error_reason
    assert wrong.history.filter(history_change_reason__startswith="Entered in error").exists()


def test_eri_is_recorded_at_a_refill_and_at_an_interrogation(seed_output):
    eri_pumps = Pump.objects.active().filter(eri_reported_on__isnull=False)
    assert eri_pumps.count() == 2
    assert Refill.objects.filter(eri=True, pump__in=eri_pumps).count() == 1


def test_a_pump_replaced_at_battery_end_of_life_and_one_explanted_for_infection(seed_output):
    old = Pump.objects.get(explant_reason=ExplantReason.BATTERY_END_OF_LIFE)
    assert old.eri_reported_on is not None
    new = Pump.objects.active().get(patient=old.patient)
    assert new.implant_date == old.explant_date
    assert new.refills.exists()
    infected = Pump.objects.get(explant_reason=ExplantReason.INFECTION)
    assert not Pump.objects.active().filter(patient=infected.patient).exists()
    assert Complication.objects.filter(pump=infected, kind="infection").exists()


def test_trials_succeed_fail_await_the_physician_and_lead_to_a_referral(seed_output):
    trials = list(Trial.objects.all())
    assert {trial.computed_outcome for trial in trials} == set(TrialOutcome)
    assert {trial.scale for trial in trials} == {"pain_nrs", "ashworth"}
    assert {trial.decision for trial in trials} == set(TrialDecision)
    assert Trial.objects.filter(
        decision=TrialDecision.CONFIRMED,
        final_outcome=TrialOutcome.SUCCESS,
        referred_for_implant=True,
        patient__status="referred",
    ).exists()
    for trial in Trial.objects.filter(decision=TrialDecision.CONFIRMED):
        assert trial.final_outcome == trial.computed_outcome
    for trial in Trial.objects.filter(decision=TrialDecision.OVERRIDDEN):
        assert trial.final_outcome != trial.computed_outcome
        assert trial.decision_reason


def test_the_other_clinical_stories_are_there(seed_output):
    assert Complication.objects.count() >= 5
    assert MriScan.objects.filter(pump_checked_on__isnull=True).exists()
    assert MriScan.objects.filter(pump_checked_on__isnull=False).exists()
    assert DoseAdjustment.objects.exists()
    assert Patient.objects.filter(travel_buffer_days__gt=0, pumps__isnull=False).exists()
    assert any(
        pump.latest_fill is not None and pump.latest_fill.daily_dose == 0 for pump in active_pumps()
    )
    assert Pump.objects.active().filter(model__code="codman_3000").exists()
    assert Appointment.objects.missed_not_rebooked().exists()
    assert Appointment.objects.booked().filter(kind="post_mri_check").exists()


def test_every_model_and_the_usual_drugs_in_realistic_doses(seed_output):
    used_models = set(Pump.objects.values_list("model__code", flat=True))
    assert used_models == set(PumpModel.objects.values_list("code", flat=True))
    drugs = set(Refill.objects.values_list("drug__code", flat=True))
    assert {"morphine", "hydromorphone", "baclofen", "ziconotide", "bupivacaine"} <= drugs
    ranges = {
        # drug: (concentration range, daily dose range), in the units the seed records
        "baclofen": ((500, 2000), (100, 800)),
        "morphine": ((10, 25), (0, 10)),
        "hydromorphone": ((2, 10), (0.5, 10)),
        "ziconotide": ((25, 100), (1.2, 10)),
    }
    for refill in Refill.objects.select_related("drug"):
        if refill.drug.code in ranges:
            (c_low, c_high), (d_low, d_high) = ranges[refill.drug.code]
            assert Decimal(c_low) <= refill.concentration <= Decimal(c_high), refill
            assert Decimal(str(d_low)) <= refill.daily_dose <= Decimal(str(d_high)), refill
        if refill.drug.code == "ziconotide":
            assert refill.concentration in (Decimal(25), Decimal(100))
        if refill.drug.code == "baclofen":
            assert refill.pump.patient.indication in SPASTICITY
        else:
            assert refill.pump.patient.indication not in SPASTICITY
    assert all(
        trial.patient.indication in SPASTICITY
        for trial in Trial.objects.filter(drug__code="baclofen")
    )
    assert Patient.objects.exclude(indication__in=list(Indication)).count() == 0


def test_demo_staff_sign_in_with_the_demo_password_in_their_groups(seed_output, client, settings):
    # The clinic was seeded with the real hashers, which a fixture swaps out per test.
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS
    user_model = get_user_model()
    for username, role in (("nurse", NURSE), ("physician", PHYSICIAN), ("admin", ADMINISTRATOR)):
        user = user_model.objects.get(username=username)
        assert list(user.groups.values_list("name", flat=True)) == [role]
        assert client.login(username=username, password=DEMO_PASSWORD)
        client.logout()
    # Separated duties: the administrator runs the system (staff: the Django
    # admin) and is no clinician; nobody is a superuser.
    admin = user_model.objects.get(username="admin")
    assert admin.is_staff
    assert not admin.is_superuser
    assert user_roles(admin) == {ADMINISTRATOR}
    assert not user_model.objects.filter(is_superuser=True).exists()
    nurse = user_model.objects.get(username="nurse")
    assert nurse.get_full_name() == "Grace Adeyemi"
    assert not nurse.is_staff
    physicians = set(
        Patient.objects.exclude(treating_physician=None).values_list(
            "treating_physician__username", flat=True
        )
    )
    assert {"physician", "dr_okafor"} <= physicians
    assert Patient.objects.filter(treating_physician=None).count() == 0


def test_the_summary_names_the_logins_and_the_password(seed_output):
    port = os.environ.get("PORT", "8000")
    assert (
        f"Sign in at http://127.0.0.1:{port}/ as nurse, physician or admin "
        f"with password {DEMO_PASSWORD}"
    ) in seed_output
    assert "Refill status today: overdue " in seed_output
    assert DEMO_PASSWORD == "pump-demo-2026"


def test_if_empty_leaves_an_existing_clinic_alone(seed_output, settings):
    settings.DEBUG = True
    before = snapshot()
    out = StringIO()
    call_command("seed_demo", "--if-empty", stdout=out)
    assert "leaving the database as it is" in out.getvalue()
    assert snapshot() == before


def test_a_second_run_without_reset_is_refused_and_changes_nothing(seed_output, settings):
    settings.DEBUG = True
    before = snapshot()
    with pytest.raises(CommandError, match="--reset"):
        call_command("seed_demo", stdout=StringIO())
    assert snapshot() == before


def test_refused_with_debug_off(seed_output, settings):
    settings.DEBUG = False
    before = snapshot()
    with pytest.raises(CommandError, match="DEBUG off"):
        call_command("seed_demo", "--reset", stdout=StringIO())
    assert snapshot() == before


def test_reset_rebuilds_the_same_clinic_from_the_fixed_seed(seed_output, settings, lookahead):
    settings.DEBUG = False  # --force is the only way past DEBUG off
    today = timezone.localdate()

    def clinic() -> tuple[object, ...]:
        pumps = sorted(
            (p.serial, p.patient.mrn, p.refill_status(today, lookahead), p.battery_status(today))
            for p in active_pumps()
        )
        names = sorted(Patient.objects.values_list("mrn", "family_name", "given_name"))
        return pumps, names, Refill.objects.count()

    before = clinic()
    call_command("seed_demo", "--reset", "--force", stdout=StringIO())
    assert clinic() == before
    # No history of the deleted records survives the reset.
    # (A referred patient has two rows: screening, then referred by the trial's decision.)
    patients = set(Patient.objects.values_list("pk", flat=True))
    assert set(Patient.history.values_list("id", flat=True)) == patients
    assert Patient.history.filter(history_type="+").count() == len(patients)
