"""The pure rules of clinical-rules.md sections 2 to 5, pinned at their boundaries."""

from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest

from pumps import schedule
from pumps.choices import BatteryStatus, LimitedBy, RefillStatus

D = date.fromisoformat


def days(n: int) -> timedelta:
    return timedelta(days=n)


# --- Section 2: units ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("concentration", "concentration_unit", "dose", "dose_unit"),
    [
        ("2", "mg/mL", "0.5", "mg/day"),
        ("2", "mg/mL", "500", "mcg/day"),
        ("2000", "mcg/mL", "0.5", "mg/day"),
        ("2000", "mcg/mL", "500", "mcg/day"),
    ],
)
def test_daily_volume_is_the_same_in_every_unit_combination(
    concentration, concentration_unit, dose, dose_unit
):
    volume = schedule.daily_volume_ml(
        daily_dose=Fraction(dose),
        dose_unit=dose_unit,
        concentration=Fraction(concentration),
        concentration_unit=concentration_unit,
    )
    assert volume == Fraction(1, 4)


def test_a_thousandfold_unit_mix_up_changes_the_daily_volume_a_thousandfold():
    right = schedule.daily_volume_ml(
        daily_dose=500, dose_unit="mcg/day", concentration=2000, concentration_unit="mcg/mL"
    )
    wrong = schedule.daily_volume_ml(
        daily_dose=500, dose_unit="mg/day", concentration=2000, concentration_unit="mcg/mL"
    )
    assert wrong == right * 1000


@pytest.mark.parametrize("unit", ["mg", "mcg/ml", "MG/ML", "ug/mL", "", "mg/day"])
def test_an_unknown_concentration_unit_is_refused(unit):
    with pytest.raises(schedule.UnitError):
        schedule.concentration_mcg_per_ml(1, unit)


@pytest.mark.parametrize("unit", ["mg", "mcg/mL", "mcg/d", "", "MG/DAY"])
def test_an_unknown_dose_unit_is_refused(unit):
    with pytest.raises(schedule.UnitError):
        schedule.dose_mcg_per_day(1, unit)


def test_a_zero_concentration_is_refused():
    with pytest.raises(ValueError, match="concentration"):
        schedule.daily_volume_ml(
            daily_dose=1, dose_unit="mg/day", concentration=0, concentration_unit="mg/mL"
        )


def test_a_third_of_a_millilitre_a_day_stays_exact():
    volume = schedule.daily_volume_ml(
        daily_dose=1, dose_unit="mg/day", concentration=3, concentration_unit="mg/mL"
    )
    assert volume == Fraction(1, 3)


# --- Section 2: stability --------------------------------------------------------------

ZICONOTIDE = schedule.StabilityRule(
    days=40, first_fill_days=14, undiluted_mcg_per_ml=Fraction(100), undiluted_days=84
)


@pytest.mark.parametrize(
    ("concentration_mcg", "is_first_fill", "expected"),
    [
        (Fraction(25), True, 14),
        (Fraction(100), True, 14),  # the first fill rule wins even undiluted
        (Fraction(100), False, 84),
        (Fraction(25), False, 40),
        (Fraction(50), False, 40),
        (Fraction(99), False, 40),
    ],
)
def test_ziconotide_stability(concentration_mcg, is_first_fill, expected):
    assert (
        schedule.stability_days(
            ZICONOTIDE, concentration_mcg=concentration_mcg, is_first_fill=is_first_fill
        )
        == expected
    )


def test_undiluted_ziconotide_entered_in_mg_per_ml_counts_as_undiluted():
    concentration = schedule.concentration_mcg_per_ml(Fraction("0.1"), "mg/mL")
    assert (
        schedule.stability_days(ZICONOTIDE, concentration_mcg=concentration, is_first_fill=False)
        == 84
    )


def test_a_drug_without_special_rules_uses_its_days_on_a_first_fill():
    baclofen = schedule.StabilityRule(days=180)
    assert (
        schedule.stability_days(baclofen, concentration_mcg=Fraction(2000), is_first_fill=True)
        == 180
    )


# --- Section 3: refill dates ------------------------------------------------------


def dates(**overrides):
    arguments = {
        "fill_date": D("2026-01-10"),
        "volume_ml": 40,
        "alarm_ml": 2,
        "daily_volume": Fraction(1, 5),
        "stability_days": 90,
        "margin_days": 5,
    }
    arguments.update(overrides)
    return schedule.refill_dates(**arguments)


def test_alarm_date_is_fill_date_plus_floor_of_volume_above_alarm_over_rate():
    # (40 - 2) / 0.3 = 126.67 -> 126 days
    result = dates(daily_volume=Fraction(3, 10), stability_days=365)
    assert result.alarm == D("2026-01-10") + days(126)
    assert result.deadline == result.alarm
    assert result.limited_by == LimitedBy.RESERVOIR


def test_deadline_is_the_stability_limit_when_it_comes_first():
    result = dates()  # alarm after 190 days, stability 90
    assert result.alarm == D("2026-07-19")
    assert result.deadline == D("2026-04-10")
    assert result.limited_by == LimitedBy.STABILITY


def test_a_tie_between_alarm_and_stability_is_named_reservoir():
    # (20 - 2) / 0.2 = 90 days, stability 90 days
    result = dates(volume_ml=20)
    assert result.alarm == D("2026-04-10")
    assert result.deadline == D("2026-04-10")
    assert result.limited_by == LimitedBy.RESERVOIR


def test_one_day_less_of_stability_than_the_alarm_is_named_stability():
    result = dates(volume_ml=20, stability_days=89)
    assert result.deadline == D("2026-04-09")
    assert result.limited_by == LimitedBy.STABILITY


def test_due_is_the_deadline_less_the_margin():
    assert dates().due == D("2026-04-05")
    assert dates(margin_days=12).due == D("2026-03-29")
    assert dates(margin_days=0).due == D("2026-04-10")


def test_a_higher_alarm_volume_brings_the_alarm_date_forward():
    # (40 - 4) / 0.2 = 180 days instead of 190
    assert dates(alarm_ml=4, stability_days=365).alarm == D("2026-01-10") + days(180)


def test_a_zero_rate_has_no_alarm_and_only_the_stability_limit():
    result = dates(daily_volume=Fraction(0))
    assert result.alarm is None
    assert result.deadline == D("2026-04-10")
    assert result.limited_by == LimitedBy.STABILITY


def test_a_fill_below_the_alarm_volume_alarms_before_the_fill_date():
    result = dates(volume_ml=1, daily_volume=Fraction(1, 2), stability_days=365)
    assert result.alarm == D("2026-01-08")  # floor(-1 / 0.5) = -2 days
    assert result.limited_by == LimitedBy.RESERVOIR


def test_reprogramming_carries_the_remaining_volume_to_the_new_rate():
    # 40 mL at 0.2 mL/day from 10 Jan; on 30 Jan (20 days) 36 mL remain;
    # from then 0.4 mL/day: floor((36 - 2) / 0.4) = 85 days -> 25 April.
    change = schedule.RateChange(on=D("2026-01-30"), daily_volume_ml=Fraction(2, 5))
    result = dates(stability_days=365, rate_changes=[change])
    assert result.alarm == D("2026-01-30") + days(85)


def test_reprogramming_to_zero_stops_the_reservoir_clock():
    change = schedule.RateChange(on=D("2026-01-30"), daily_volume_ml=Fraction(0))
    result = dates(stability_days=365, rate_changes=[change])
    assert result.alarm is None
    assert result.limited_by == LimitedBy.STABILITY


def test_reprogramming_after_the_alarm_was_reached_keeps_the_earlier_alarm():
    change = schedule.RateChange(on=D("2026-12-01"), daily_volume_ml=Fraction(1, 10))
    assert dates(stability_days=365, rate_changes=[change]).alarm == D("2026-07-19")


def test_reprogramming_on_the_alarm_day_recomputes_from_that_day():
    # Alarm on 19 July at 0.2 mL/day; on that day 2 mL remain; floor(0 / r) = 0.
    change = schedule.RateChange(on=D("2026-07-19"), daily_volume_ml=Fraction(1, 10))
    assert dates(stability_days=365, rate_changes=[change]).alarm == D("2026-07-19")


def test_reprogramming_dated_before_the_fill_is_ignored():
    change = schedule.RateChange(on=D("2026-01-01"), daily_volume_ml=Fraction(5))
    assert dates(stability_days=365, rate_changes=[change]).alarm == D("2026-07-19")


# --- Section 3: refill status on a day -----------------------------------------

DUE, DEADLINE = D("2026-04-05"), D("2026-04-10")


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (DUE - days(15), RefillStatus.OK),
        (DUE - days(14), RefillStatus.UPCOMING),
        (DUE - days(1), RefillStatus.UPCOMING),
        (DUE, RefillStatus.DUE),
        (DEADLINE - days(1), RefillStatus.DUE),
        (DEADLINE, RefillStatus.DUE),
        (DEADLINE + days(1), RefillStatus.OVERDUE),
        (DEADLINE + days(400), RefillStatus.OVERDUE),
    ],
)
def test_refill_status_at_each_boundary(today, expected):
    assert (
        schedule.refill_status(due=DUE, deadline=DEADLINE, today=today, lookahead_days=14)
        == expected
    )


def test_the_lookahead_is_a_setting():
    assert (
        schedule.refill_status(due=DUE, deadline=DEADLINE, today=DUE - days(20), lookahead_days=20)
        == RefillStatus.UPCOMING
    )


def test_a_pump_never_filled_is_unknown():
    assert (
        schedule.refill_status(due=None, deadline=None, today=DUE, lookahead_days=14)
        == RefillStatus.UNKNOWN
    )


# --- Section 4: discrepancy -------------------------------------------------------


@pytest.mark.parametrize(
    ("actual", "expected", "flagged"),
    [
        ("10.0", "12.0", False),  # exactly 2.0 less: not flagged
        ("14.0", "12.0", False),  # exactly 2.0 more: not flagged
        ("9.99", "12.0", True),
        ("14.01", "12.0", True),
        ("12.0", "12.0", False),
    ],
)
def test_discrepancy_is_flagged_only_above_the_threshold(actual, expected, flagged):
    assert (
        schedule.is_discrepancy(
            actual_ml=Fraction(actual), expected_ml=Fraction(expected), threshold_ml=Fraction(2)
        )
        is flagged
    )


@pytest.mark.parametrize(
    ("actual", "flagged"),
    [
        ("6.0", False),  # inside the range [7, 12] less the threshold of 1.0
        ("5.99", True),  # more than 1.0 below the low end (every bolus taken)
        ("9.5", False),  # inside the range
        ("13.0", False),  # exactly 1.0 above the high end (no bolus taken)
        ("13.01", True),
    ],
)
def test_with_boluses_the_expected_residual_is_a_range_judged_from_its_nearer_end(actual, flagged):
    assert (
        schedule.is_discrepancy(
            actual_ml=Fraction(actual),
            expected_ml=Fraction(12),
            expected_low_ml=Fraction(7),
            threshold_ml=Fraction(1),
        )
        is flagged
    )


def test_the_daily_volume_of_the_alarm_date_includes_every_allowed_bolus():
    # 1.5 mg/day + 0.25 mg x 4 boluses = 2.5 mg/day at 4 mg/mL = 0.625 mL/day.
    basal = schedule.daily_volume_ml(
        daily_dose=Decimal("1.5"), dose_unit="mg/day", concentration=4, concentration_unit="mg/mL"
    )
    allowed = schedule.daily_volume_ml(
        daily_dose=Decimal("1.5"),
        dose_unit="mg/day",
        concentration=4,
        concentration_unit="mg/mL",
        bolus_dose=Decimal("0.25"),
        boluses_per_day=4,
    )
    assert (basal, allowed) == (Fraction(3, 8), Fraction(5, 8))


def test_a_bolus_in_mcg_counts_in_the_daily_dose_unit():
    allowed = schedule.daily_volume_ml(
        daily_dose=400,
        dose_unit="mcg/day",
        concentration=2,
        concentration_unit="mg/mL",
        bolus_dose=50,
        boluses_per_day=2,
    )
    assert allowed == Fraction(500, 2000)


@pytest.mark.parametrize(
    ("seen", "replace_by"),
    [(D("2026-02-26"), D("2026-05-27")), (D("2026-03-30"), D("2026-06-28")), (None, None)],
)
def test_eri_replace_by_is_the_first_eri_plus_90_days(seen, replace_by):
    assert schedule.eri_replace_by(seen) == replace_by


def test_eri_pumps_rank_by_their_replace_by_date_not_their_window():
    def key(serial, closes, replace_by):
        return schedule.due_list_sort_key(
            refill=RefillStatus.OK,
            battery=BatteryStatus.ERI,
            refill_deadline=D("2026-09-01"),
            window_closes=closes,
            replace_by=replace_by,
            serial=serial,
        )

    keys = [
        key("A", D("2027-01-01"), D("2026-06-28")),
        key("B", D("2031-01-01"), D("2026-05-27")),
    ]
    assert [k[2] for k in sorted(keys)] == ["B", "A"]


def test_expected_residual_is_volume_less_rate_times_days():
    remaining = schedule.volume_on(
        fill_date=D("2025-12-01"), volume_ml=40, daily_volume=Fraction(1, 5), on=D("2026-01-10")
    )
    assert remaining == 32


def test_expected_residual_is_never_below_zero():
    remaining = schedule.volume_on(
        fill_date=D("2026-01-05"), volume_ml=20, daily_volume=Fraction(1, 4), on=D("2026-03-30")
    )
    assert remaining == 0


def test_expected_residual_follows_a_reprogramming():
    change = schedule.RateChange(on=D("2026-01-11"), daily_volume_ml=Fraction(1))
    remaining = schedule.volume_on(
        fill_date=D("2026-01-01"),
        volume_ml=20,
        daily_volume=Fraction(1, 2),
        on=D("2026-01-15"),
        rate_changes=[change],
    )
    assert remaining == 20 - 5 - 4


# --- Section 5: battery ----------------------------------------------------------


def test_battery_window_is_in_calendar_years():
    assert schedule.battery_window(implant_date=D("2019-06-20"), opens_years=5, closes_years=7) == (
        D("2024-06-20"),
        D("2026-06-20"),
    )


def test_an_implant_on_29_february_moves_to_28_february_in_a_common_year():
    assert schedule.battery_window(implant_date=D("2024-02-29"), opens_years=5, closes_years=7) == (
        D("2029-02-28"),
        D("2031-02-28"),
    )


def test_an_implant_on_29_february_stays_on_29_february_in_a_leap_year():
    assert schedule.add_years(D("2024-02-29"), 4) == D("2028-02-29")


OPENS, CLOSES = D("2024-06-20"), D("2026-06-20")


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (OPENS - days(1), BatteryStatus.OK),
        (OPENS, BatteryStatus.WINDOW),
        (CLOSES - days(1), BatteryStatus.WINDOW),
        (CLOSES, BatteryStatus.OVERDUE),
        (CLOSES + days(1), BatteryStatus.OVERDUE),
    ],
)
def test_battery_status_at_each_boundary(today, expected):
    assert (
        schedule.battery_status(window_opens=OPENS, window_closes=CLOSES, eri=False, today=today)
        == expected
    )


@pytest.mark.parametrize("today", [OPENS - days(1000), OPENS, CLOSES + days(1)])
def test_eri_wins_whatever_the_age(today):
    assert (
        schedule.battery_status(window_opens=OPENS, window_closes=CLOSES, eri=True, today=today)
        == BatteryStatus.ERI
    )


def test_a_pump_without_battery_is_not_applicable_even_with_eri():
    assert (
        schedule.battery_status(window_opens=None, window_closes=None, eri=True, today=OPENS)
        == BatteryStatus.NOT_APPLICABLE
    )


# --- The due list's order ----------------------------------------------------------


@pytest.mark.parametrize(
    ("refill", "battery", "rank"),
    [
        (RefillStatus.OVERDUE, BatteryStatus.ERI, 0),
        (RefillStatus.OK, BatteryStatus.ERI, 1),
        (RefillStatus.DUE, BatteryStatus.OVERDUE, 2),
        (RefillStatus.UPCOMING, BatteryStatus.OVERDUE, 3),
        (RefillStatus.UPCOMING, BatteryStatus.WINDOW, 4),
        (RefillStatus.OK, BatteryStatus.WINDOW, 5),
        (RefillStatus.UNKNOWN, BatteryStatus.WINDOW, 5),
        (RefillStatus.UNKNOWN, BatteryStatus.OK, 6),
        (RefillStatus.OK, BatteryStatus.OK, 7),
        (RefillStatus.OK, BatteryStatus.NOT_APPLICABLE, 7),
    ],
)
def test_a_pump_ranks_by_the_more_urgent_of_its_two_statuses(refill, battery, rank):
    assert schedule.due_list_rank(refill, battery) == rank


def test_within_a_battery_rank_pumps_sort_by_window_closing_then_serial():
    def key(serial, closes, deadline):
        return schedule.due_list_sort_key(
            refill=RefillStatus.OK,
            battery=BatteryStatus.WINDOW,
            refill_deadline=deadline,
            window_closes=closes,
            replace_by=None,
            serial=serial,
        )

    keys = [
        key("B", D("2026-06-01"), D("2026-01-01")),
        key("A", D("2026-06-01"), D("2026-02-01")),
        key("C", D("2026-05-01"), D("2026-12-01")),
    ]
    assert [k[2] for k in sorted(keys)] == ["C", "A", "B"]


# --- Section 2: plausibility warnings ----------------------------------------------

BACLOFEN_LIMITS = schedule.DoseLimits(warn_below_mcg=Fraction(20), warn_above_mcg=Fraction(2000))
MORPHINE_LIMITS = schedule.DoseLimits(warn_above_mcg=Fraction(20000))
ZICONOTIDE_LIMITS = schedule.DoseLimits(first_fill_warn_above_mcg=Fraction("2.4"))


def warnings_for(dose, limits, previous=None, first=False):
    return schedule.dose_warnings(
        drug_name="drug",
        dose_mcg=Fraction(dose),
        limits=limits,
        previous_dose_mcg=Fraction(previous) if previous is not None else None,
        is_first_fill=first,
        change_warn_percent=30,
    )


@pytest.mark.parametrize(
    ("dose", "warns"),
    [("19.99", True), ("20", False), ("500", False), ("2000", False), ("2000.01", True)],
)
def test_baclofen_warns_outside_20_to_2000_mcg_per_day(dose, warns):
    assert bool(warnings_for(dose, BACLOFEN_LIMITS)) is warns


@pytest.mark.parametrize(("dose_mcg", "warns"), [("20000", False), ("20001", True)])
def test_morphine_warns_above_20_mg_per_day(dose_mcg, warns):
    assert bool(warnings_for(dose_mcg, MORPHINE_LIMITS)) is warns


@pytest.mark.parametrize(
    ("dose", "first", "warns"),
    [("2.4", True, False), ("2.41", True, True), ("5", False, False)],
)
def test_ziconotide_starts_at_or_below_2_4_mcg_per_day(dose, first, warns):
    assert bool(warnings_for(dose, ZICONOTIDE_LIMITS, first=first)) is warns


@pytest.mark.parametrize(
    ("previous", "dose", "warns"),
    [("100", "130", False), ("100", "130.01", True), ("100", "70", False), ("100", "69.99", True)],
)
def test_a_dose_change_of_more_than_30_percent_warns(previous, dose, warns):
    assert bool(warnings_for(dose, schedule.DoseLimits(), previous=previous)) is warns


def test_a_change_from_a_zero_dose_does_not_divide_by_zero():
    assert warnings_for("100", schedule.DoseLimits(), previous="0") == []


def test_a_dose_change_names_both_doses_in_one_unit():
    (message,) = warnings_for("0", schedule.DoseLimits(), previous="9000")
    assert "(9 mg/day to 0 mg/day)" in message


@pytest.mark.parametrize("rate", [Fraction(1, 10**12), Fraction(1, 10**40)])
def test_a_near_zero_rate_never_reaches_the_alarm_and_never_overflows(rate):
    dates = schedule.refill_dates(
        fill_date=D("2026-01-01"),
        volume_ml=20,
        alarm_ml=2,
        daily_volume=rate,
        stability_days=90,
        margin_days=5,
    )
    assert dates.alarm is None
    assert (dates.deadline, dates.limited_by) == (D("2026-04-01"), "stability")


def test_an_alarm_on_the_last_accepted_day_is_still_a_date():
    # 18 mL above the alarm at 18/N mL a day, N days to 2100-12-31.
    days = (schedule.LAST_DATE - D("2026-01-01")).days
    alarm = schedule.alarm_date(
        fill_date=D("2026-01-01"), volume_ml=20, alarm_ml=2, daily_volume=Fraction(18, days)
    )
    assert alarm == schedule.LAST_DATE
