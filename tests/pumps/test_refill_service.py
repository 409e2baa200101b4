"""Recording fills, reprogramming, ERI, explants: the services and the stored schedule."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from core.roles import PHYSICIAN
from pumps import services
from pumps.choices import BatteryStatus, LimitedBy, RefillStatus
from pumps.models import Drug, Pump, PumpModel, Refill, SchedulePolicy
from tests.factories import FAR_FUTURE, PatientFactory, UserFactory, fill, make_pump

pytestmark = pytest.mark.django_db

D = date.fromisoformat


def stored(pump: Pump) -> Pump:
    return Pump.objects.select_related("latest_fill").get(pk=pump.pk)


# --- Refill dates through the service -------------------------------------------


def test_a_fill_stores_alarm_deadline_due_and_limit():
    pump = make_pump(model="synchromed_ii_40", implant_date=D("2019-06-20"))
    fill(pump, on=D("2025-12-01"), volume_ml="40")
    fill(pump, on=D("2026-01-10"), volume_ml="40", residual_ml="32.1")
    pump = stored(pump)
    assert pump.refill_alarm == D("2026-07-19")
    assert pump.refill_deadline == D("2026-04-10")
    assert pump.refill_due == D("2026-04-05")
    assert pump.refill_limited_by == LimitedBy.STABILITY
    assert pump.latest_fill.refill_date == D("2026-01-10")


def test_a_baclofen_fill_in_mg_per_ml_with_a_dose_in_mcg_per_day():
    pump = make_pump(model="synchromed_ii_20", implant_date=D("2024-02-01"))
    fill(
        pump,
        on=D("2026-03-30"),
        drug="baclofen",
        concentration="1",
        concentration_unit="mg/mL",
        daily_dose="250",
        dose_unit="mcg/day",
        volume_ml="20",
    )
    pump = stored(pump)
    assert pump.refill_alarm == D("2026-06-10")  # 18 mL / 0.25 mL/day = 72 days
    assert pump.refill_limited_by == LimitedBy.RESERVOIR


def test_the_pumps_alarm_override_replaces_the_models_alarm_volume():
    plain = make_pump()
    raised = make_pump(alarm_ml_override=Decimal("4.0"))
    for pump in (plain, raised):
        fill(
            pump,
            on=D("2026-01-01"),
            drug="baclofen",
            concentration="2000",
            concentration_unit="mcg/mL",
            daily_dose="400",
            dose_unit="mcg/day",
        )
    # 0.2 mL/day: (20 - 2) / 0.2 = 90 days; (20 - 4) / 0.2 = 80 days
    assert stored(plain).refill_alarm == D("2026-04-01")
    assert stored(raised).refill_alarm == D("2026-03-22")


def test_prometras_alarm_volume_is_3_ml():
    pump = make_pump(model="prometra_ii_20", implant_date=D("2025-09-01"))
    fill(
        pump,
        on=D("2026-03-20"),
        drug="hydromorphone",
        concentration="5",
        daily_dose="0.6",
        volume_ml="20",
    )
    # 0.12 mL/day: (20 - 3) / 0.12 = 141.67 -> 141 days
    assert stored(pump).refill_alarm == D("2026-08-08")


def test_a_zero_dose_leaves_only_the_stability_limit():
    pump = make_pump()
    fill(pump, on=D("2026-01-01"), daily_dose="0")
    pump = stored(pump)
    assert pump.refill_alarm is None
    assert pump.refill_deadline == D("2026-04-01")
    assert pump.refill_limited_by == LimitedBy.STABILITY


def test_the_patients_travel_buffer_adds_to_the_clinics_margin():
    pump = make_pump(patient=PatientFactory(travel_buffer_days=7))
    fill(pump, on=D("2026-01-01"), daily_dose="0")
    assert stored(pump).refill_due == D("2026-04-01") - timedelta(days=12)


def test_a_new_margin_in_the_policy_moves_stored_due_dates_when_recomputed():
    pump = make_pump()
    fill(pump, on=D("2026-01-01"), daily_dose="0")
    policy = SchedulePolicy.current()
    policy.refill_margin_days = 3
    policy.save()
    assert services.recompute_schedules() == 1
    assert stored(pump).refill_due == D("2026-03-29")


@pytest.mark.parametrize(
    ("first_concentration", "second_concentration", "unit", "stability"),
    [
        ("25", "25", "mcg/mL", 40),
        ("25", "100", "mcg/mL", 84),
        ("25", "0.1", "mg/mL", 84),
    ],
)
def test_ziconotide_after_the_first_fill(
    first_concentration, second_concentration, unit, stability
):
    pump = make_pump(model="synchromed_ii_40")
    zico = {"drug": "ziconotide", "dose_unit": "mcg/day", "daily_dose": "0"}
    fill(
        pump,
        on=D("2026-01-01"),
        concentration=first_concentration,
        concentration_unit="mcg/mL",
        **zico,
    )
    assert stored(pump).refill_deadline == D("2026-01-15")  # first fill: 14 days
    fill(
        pump,
        on=D("2026-01-10"),
        concentration=second_concentration,
        concentration_unit=unit,
        **zico,
    )
    assert stored(pump).refill_deadline == D("2026-01-10") + timedelta(days=stability)


def test_an_undiluted_first_ziconotide_fill_still_has_14_days():
    pump = make_pump(model="synchromed_ii_40")
    fill(
        pump,
        on=D("2026-01-01"),
        drug="ziconotide",
        concentration="100",
        concentration_unit="mcg/mL",
        daily_dose="2.4",
        dose_unit="mcg/day",
    )
    assert stored(pump).refill_deadline == D("2026-01-15")


def test_a_reprogramming_recomputes_the_dates_from_that_day():
    pump = make_pump(model="synchromed_ii_40")
    fill(
        pump,
        on=D("2026-01-10"),
        volume_ml="40",
        concentration="20",
        daily_dose="4",
        drug="morphine",
    )  # 0.2 mL/day (20 mg/mL baclofen is now refused: its accepted range ends at 4 mg/mL)
    services.adjust_dose(
        pump=pump,
        adjusted_on=D("2026-01-30"),
        daily_dose=Decimal("8"),
        dose_unit="mg/day",
        today=FAR_FUTURE,
    )
    # 36 mL left on 30 January, then 0.4 mL/day: floor(34 / 0.4) = 85 days
    assert stored(pump).refill_alarm == D("2026-04-25")


def test_a_reprogramming_before_the_latest_fill_is_refused():
    pump = make_pump()
    fill(pump, on=D("2026-01-10"))
    with pytest.raises(ValidationError) as error:
        services.adjust_dose(
            pump=pump,
            adjusted_on=D("2026-01-10"),
            daily_dose=Decimal("1"),
            dose_unit="mg/day",
            today=FAR_FUTURE,
        )
    assert "adjusted_on" in error.value.message_dict


def test_the_expected_residual_follows_a_reprogramming():
    pump = make_pump()
    fill(pump, on=D("2026-01-01"), concentration="1", daily_dose="0.5", volume_ml="20")
    services.adjust_dose(
        pump=pump,
        adjusted_on=D("2026-01-11"),
        daily_dose=Decimal("1"),
        dose_unit="mg/day",
        today=FAR_FUTURE,
    )
    refill = fill(pump, on=D("2026-01-15"), concentration="1", daily_dose="1", residual_ml="11")
    assert refill.expected_residual_ml == Decimal("11.000")  # 20 - 10 x 0.5 - 4 x 1
    assert refill.discrepancy is False


# --- Residual volume check (section 4) ---------------------------------------------


@pytest.mark.parametrize(
    ("residual", "flagged"),
    [("16.00", False), ("15.99", True), ("20.00", False), ("20.01", True), ("18", False)],
)
def test_a_residual_exactly_2_ml_off_is_not_flagged_and_just_above_is(residual, flagged):
    pump = make_pump(model="synchromed_ii_40")
    fill(pump, on=D("2026-01-01"), volume_ml="20")  # 0.2 mL/day
    refill = fill(pump, on=D("2026-01-11"), volume_ml="20", residual_ml=residual)
    assert refill.expected_residual_ml == Decimal("18.000")
    assert refill.discrepancy is flagged
    assert stored(pump).has_unsigned_discrepancy is flagged


def test_the_threshold_is_the_pump_models_setting():
    """Section 4: the threshold is read from the pump's model when a refill is judged."""
    pump = make_pump(model="synchromed_ii_20")  # 1.0 mL shipped
    fill(pump, on=D("2026-01-01"), volume_ml="20")
    assert fill(pump, on=D("2026-01-11"), volume_ml="20", residual_ml="16.5").discrepancy is True
    PumpModel.objects.filter(code="synchromed_ii_20").update(discrepancy_threshold_ml="3.0")
    pump.refresh_from_db()
    assert fill(pump, on=D("2026-01-21"), residual_ml="15.5").discrepancy is False


@pytest.mark.parametrize(
    ("residual", "flagged"), [("17.00", False), ("16.99", True), ("19.00", False), ("19.01", True)]
)
def test_a_20_ml_pump_flags_just_over_1_ml_off(residual, flagged):
    pump = make_pump(model="synchromed_ii_20")
    fill(pump, on=D("2026-01-01"), volume_ml="20")  # 0.2 mL/day: 18 mL expected after 10 days
    assert fill(pump, on=D("2026-01-11"), residual_ml=residual).discrepancy is flagged


def test_the_first_fill_has_no_expected_residual_and_no_flag():
    refill = fill(make_pump(), on=D("2026-01-01"), residual_ml="7")
    assert refill.expected_residual_ml is None
    assert refill.discrepancy is False


def test_the_flag_stays_until_a_physician_signs_it_off():
    pump = make_pump()
    fill(pump, on=D("2026-01-01"), volume_ml="20")
    refill = fill(pump, on=D("2026-01-11"), residual_ml="10")
    physician = UserFactory(username="dr", roles=[PHYSICIAN])
    with pytest.raises(ValidationError):
        services.sign_off_discrepancy(
            refill=refill,
            user=physician,
            comment=" ",
            now=datetime(2026, 1, 12, tzinfo=UTC),
        )
    assert stored(pump).has_unsigned_discrepancy is True
    services.sign_off_discrepancy(
        refill=refill,
        user=physician,
        comment="Catheter dye study ok",
        now=datetime(2026, 1, 12, tzinfo=UTC),
    )
    assert stored(pump).has_unsigned_discrepancy is False
    assert refill.history.first().discrepancy_comment == "Catheter dye study ok"


def test_an_unsigned_flag_stays_after_a_newer_clean_refill_until_signed_off():
    """Section 4 (changed by issue 12): a later clean refill no longer clears the flag."""
    pump = make_pump()
    fill(pump, on=D("2026-01-01"), volume_ml="20")
    flagged = fill(pump, on=D("2026-01-11"), volume_ml="20", residual_ml="10")
    fill(pump, on=D("2026-01-21"), volume_ml="20", residual_ml="18")
    assert stored(pump).open_discrepancies == 1
    services.sign_off_discrepancy(
        refill=flagged,
        user=UserFactory(roles=[PHYSICIAN]),
        comment="Pocket checked",
        now=datetime.now(UTC),
    )
    assert stored(pump).has_unsigned_discrepancy is False


# --- Refused fills -----------------------------------------------------------------


def refused(pump, field, **changes):
    before = Refill.objects.count()
    with pytest.raises(ValidationError) as error:
        fill(pump, **changes)
    assert field in error.value.message_dict, error.value.message_dict
    assert Refill.objects.count() == before
    return error.value.message_dict[field][0]


def test_a_fill_above_the_reservoir_is_refused():
    message = refused(
        make_pump(model="synchromed_ii_20"), "volume_ml", on=D("2026-01-01"), volume_ml="20.01"
    )
    assert message == "20.01 mL is more than this pump's reservoir holds (20 mL)."


def test_a_fill_of_exactly_the_reservoir_is_accepted():
    fill(make_pump(model="synchromed_ii_20"), on=D("2026-01-01"), volume_ml="20")


def test_a_residual_above_the_reservoir_is_refused():
    refused(make_pump(), "residual_ml", on=D("2026-01-01"), residual_ml="21")


def test_a_fill_before_the_previous_fill_is_refused():
    pump = make_pump()
    fill(pump, on=D("2026-01-10"))
    assert "later refill" in refused(pump, "refill_date", on=D("2026-01-09"))


def test_a_second_fill_on_the_same_day_is_refused():
    pump = make_pump()
    fill(pump, on=D("2026-01-10"))
    assert "already recorded" in refused(pump, "refill_date", on=D("2026-01-10"))


def test_a_fill_before_the_implant_is_refused():
    refused(make_pump(implant_date=D("2026-01-10")), "refill_date", on=D("2026-01-09"))


def test_a_fill_in_the_future_is_refused():
    pump = make_pump()
    with pytest.raises(ValidationError) as error:
        services.record_fill(
            pump=pump,
            fill=services.Fill(
                refill_date=D("2026-04-07"),
                drug=Drug.objects.get(code="morphine"),
                concentration=Decimal(1),
                concentration_unit="mg/mL",
                daily_dose=Decimal(1),
                dose_unit="mg/day",
                volume_ml=Decimal(10),
            ),
            today=D("2026-04-06"),
        )
    assert error.value.message_dict["refill_date"] == [
        "2026-04-07 is after today (2026-04-06): it has not happened yet."
    ]


@pytest.mark.parametrize("concentration", ["0", "-1"])
def test_a_zero_or_negative_concentration_is_refused(concentration):
    refused(make_pump(), "concentration", on=D("2026-01-01"), concentration=concentration)


def test_a_negative_dose_is_refused():
    refused(make_pump(), "daily_dose", on=D("2026-01-01"), daily_dose="-1")


@pytest.mark.parametrize("unit", ["mg", "MG/ML", "ug/mL"])
def test_an_unknown_concentration_unit_is_refused(unit):
    refused(make_pump(), "concentration_unit", on=D("2026-01-01"), concentration_unit=unit)


def test_the_database_refuses_a_refill_without_a_valid_unit_whatever_the_door():
    pump = make_pump()
    good = fill(pump, on=D("2026-01-01"))
    with pytest.raises(IntegrityError), transaction.atomic():
        Refill.objects.filter(pk=good.pk).update(dose_unit="mg")


def test_a_fill_of_an_explanted_pump_is_refused():
    pump = make_pump()
    services.explant_pump(
        pump=pump, explant_date=D("2026-01-01"), reason="infection", today=FAR_FUTURE
    )
    assert "explanted" in refused(pump, "refill_date", on=D("2026-01-02"))


def test_eri_on_a_pump_without_battery_is_refused():
    refused(make_pump(model="codman_3000"), "eri", on=D("2026-01-01"), eri=True)


# --- Battery and ERI (section 5) -------------------------------------------------------


def test_a_refill_with_eri_gives_battery_status_eri_and_it_stays():
    pump = make_pump(implant_date=D("2024-02-01"))
    fill(pump, on=D("2026-01-05"))
    fill(pump, on=D("2026-03-30"), eri=True)
    fill(pump, on=D("2026-04-05"))
    pump = stored(pump)
    assert pump.eri_reported_on == D("2026-03-30")
    assert pump.battery_status(D("2026-04-06")) == BatteryStatus.ERI


def test_record_eri_keeps_the_earliest_day():
    pump = make_pump()
    services.record_eri(pump=pump, seen_on=D("2026-02-01"), today=FAR_FUTURE)
    services.record_eri(pump=pump, seen_on=D("2026-03-01"), today=FAR_FUTURE)
    assert stored(pump).eri_reported_on == D("2026-02-01")


def test_a_codman_pump_has_no_battery_window():
    pump = stored(make_pump(model="codman_3000", implant_date=D("2012-05-05")))
    assert pump.battery_window_opens is None
    assert pump.battery_status(D("2030-01-01")) == BatteryStatus.NOT_APPLICABLE


def test_a_prometra_window_opens_at_9_and_closes_at_10_years():
    pump = stored(make_pump(model="prometra_ii_40", implant_date=D("2016-02-29")))
    assert (pump.battery_window_opens, pump.battery_window_closes) == (
        D("2025-02-28"),
        D("2026-02-28"),
    )
    assert PumpModel.objects.get(code="prometra_ii_40").battery_note


def test_a_replacement_pump_starts_a_new_battery_window():
    patient = PatientFactory()
    old = make_pump(patient=patient, implant_date=D("2018-02-10"), serial="OLD")
    assert old.battery_status(D("2026-01-01")) == BatteryStatus.OVERDUE
    services.explant_pump(
        pump=old, explant_date=D("2024-02-01"), reason="battery_end_of_life", today=FAR_FUTURE
    )
    new = make_pump(patient=patient, implant_date=D("2024-02-01"), serial="NEW")
    assert (new.battery_window_opens, new.battery_window_closes) == (
        D("2029-02-01"),
        D("2031-02-01"),
    )
    assert new.battery_status(D("2026-01-01")) == BatteryStatus.OK


def test_a_second_active_pump_for_one_patient_is_refused():
    patient = PatientFactory()
    make_pump(patient=patient)
    with pytest.raises(ValidationError) as error:
        make_pump(patient=patient)
    assert "patient" in error.value.message_dict


def test_an_explant_needs_a_known_reason_and_a_sensible_date():
    pump = make_pump(implant_date=D("2024-01-01"))
    with pytest.raises(ValidationError) as error:
        services.explant_pump(
            pump=pump, explant_date=D("2023-12-31"), reason="boredom", today=FAR_FUTURE
        )
    assert set(error.value.message_dict) == {"explant_date", "reason"}
    assert stored(pump).is_active


def test_every_change_to_a_pump_is_in_its_history():
    pump = make_pump()
    fill(pump, on=D("2026-01-01"))
    services.explant_pump(
        pump=pump, explant_date=D("2026-02-01"), reason="infection", today=FAR_FUTURE
    )
    history = list(stored(pump).history.order_by("history_date"))
    assert history[0].history_type == "+"
    assert history[-1].explant_reason == "infection"
    assert len(history) >= 3


def test_refill_status_of_a_never_filled_pump_is_unknown():
    assert stored(make_pump()).refill_status(D("2026-04-06"), 14) == RefillStatus.UNKNOWN
