"""Section 8's rules as pure functions: numbers as typed, dates, serials, fills.

No database: each rule is checked at its exact boundaries.
"""

from datetime import date
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from pumps import entry_safety
from pumps.entry_safety import (
    EARLIEST_DATE,
    LATEST_DATE,
    FillNumbers,
    UnreadableNumber,
    booking_refusal,
    concentration_refusal,
    daily_volume_refusal,
    date_refusal,
    days_to_alarm,
    parse_decimal,
    serial_refusal,
    short_fill_warning,
    unit_slip_warnings,
)
from pumps.schedule import ConcentrationRange

TODAY = date(2026, 4, 6)

# --- parse_decimal ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("12,5", Decimal("12.5")),
        ("12.5", Decimal("12.5")),
        ("12", Decimal("12")),
        (" 12,5 ", Decimal("12.5")),
        (",5", Decimal("0.5")),
        (".5", Decimal("0.5")),
        ("0,25", Decimal("0.25")),
        ("-1,5", Decimal("-1.5")),
        ("1,2345", Decimal("1.2345")),  # four decimals cannot be a thousands group
        ("1,23", Decimal("1.23")),
        ("0,500", Decimal("0.5")),  # a leading zero is never grouped
        ("1000", Decimal("1000")),
    ],
)
def test_a_number_that_reads_one_way_is_read(text, value):
    assert parse_decimal(text) == value


@pytest.mark.parametrize(
    "text",
    [
        "1.234,5",
        "1,234.5",
        "12.5.1",
        "12,,5",
        "1 234",
        "12 5",
        "12\u200b5",  # zero-width space
        "\u200b12",
        "12\u00a05",  # no-break space
        "\u0661\u0662",  # Arabic-Indic digits
        "\uff11\uff12",  # full-width digits
        "1e3",
        "NaN",
        "Infinity",
        "0x10",
        "12.",
        "12,",
        "+12",
        "--1",
        "\t12",
        "12\n",
        "",
        " ",
        "abc",
    ],
)
def test_text_that_is_not_one_number_is_refused(text):
    with pytest.raises(UnreadableNumber):
        parse_decimal(text)


@pytest.mark.parametrize("text", ["12,500", "1,000", "999,999", "-12,500"])
def test_a_comma_that_may_group_thousands_is_refused_naming_both_readings(text):
    with pytest.raises(UnreadableNumber) as error:
        parse_decimal(text)
    whole, fraction = text.split(",")
    assert f"could mean {whole}.{fraction} or {whole}{fraction}" in str(error.value)


def test_an_invisible_character_is_named_by_its_code_point():
    with pytest.raises(UnreadableNumber) as error:
        parse_decimal("12\u200b5")
    assert "“12U+200B5” cannot be read as one number" in str(error.value)


def test_more_decimal_places_than_the_field_keeps_is_refused_not_rounded():
    assert parse_decimal("12.34", decimal_places=2) == Decimal("12.34")
    assert parse_decimal("12,3400", decimal_places=4) == Decimal("12.34")
    with pytest.raises(UnreadableNumber) as error:
        parse_decimal("12.345", decimal_places=2)
    assert str(error.value) == "Use at most 2 decimal places (12.345 has 3)."


# --- Dates --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "refused"),
    [
        (date(1899, 12, 31), True),
        (EARLIEST_DATE, False),
        (TODAY, False),
        (date(2026, 4, 7), True),  # happened: cannot be after today
    ],
)
def test_an_event_date_runs_from_1900_to_today(day, refused):
    assert (date_refusal(day, today=TODAY, happened=True) is not None) is refused


def test_a_future_event_says_it_has_not_happened():
    assert date_refusal(date(2026, 4, 7), today=TODAY, happened=True) == (
        "2026-04-07 is after today (2026-04-06): it has not happened yet."
    )


@pytest.mark.parametrize(
    ("day", "refused"), [(LATEST_DATE, False), (date(2101, 1, 1), True), (date(9999, 12, 31), True)]
)
def test_any_date_ends_at_2100(day, refused):
    assert (date_refusal(day, today=TODAY, happened=False) is not None) is refused


@pytest.mark.parametrize(
    ("day", "refused"),
    [
        (date(2026, 4, 5), True),
        (TODAY, False),
        (date(2028, 4, 6), False),
        (date(2028, 4, 7), True),
    ],
)
def test_a_visit_is_booked_from_today_up_to_two_years_ahead(day, refused):
    assert (booking_refusal(day, today=TODAY) is not None) is refused


# --- Serials ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("serial", "refused"),
    [
        ("NGP123456H", False),
        ("ab-1", False),
        ("abc", False),
        ("ab", True),
        ("A" * 30, False),
        ("A" * 31, True),
        ("NGP 123", True),
        ("NGP_123", True),
        ("NGP\u200b123", True),
        ("", True),
    ],
)
def test_a_serial_is_3_to_30_letters_digits_and_hyphens(serial, refused):
    assert (serial_refusal(serial) is not None) is refused


# --- Concentration range --------------------------------------------------------------------------

BACLOFEN = ConcentrationRange(low_mcg=Fraction(50), high_mcg=Fraction(4000))


@pytest.mark.parametrize(
    ("concentration", "unit", "mcg", "refused"),
    [
        ("50", "mcg/mL", 50, False),
        ("49.9", "mcg/mL", Fraction("49.9"), True),
        ("4", "mg/mL", 4000, False),
        ("4.001", "mg/mL", Fraction("4001"), True),
    ],
)
def test_a_concentration_is_accepted_inside_its_drugs_range(concentration, unit, mcg, refused):
    message = concentration_refusal(
        drug_name="baclofen",
        concentration=Decimal(concentration),
        unit=unit,
        concentration_mcg=Fraction(mcg),
        accepted=BACLOFEN,
    )
    assert (message is not None) is refused


def test_the_refusal_names_the_range_in_the_unit_typed():
    assert concentration_refusal(
        drug_name="baclofen",
        concentration=Decimal("2000"),
        unit="mg/mL",
        concentration_mcg=Fraction(2_000_000),
        accepted=BACLOFEN,
    ) == (
        "2000 mg/mL is outside the accepted baclofen concentrations (from 0.05 to 4 mg/mL). "
        "2000 mg/mL is 2000000 mcg/mL: check the unit (mg/mL or mcg/mL)."
    )


def test_a_drug_without_a_range_accepts_any_concentration():
    assert (
        concentration_refusal(
            drug_name="admixture",
            concentration=Decimal("99999"),
            unit="mg/mL",
            concentration_mcg=Fraction(99_999_000),
            accepted=ConcentrationRange(),
        )
        is None
    )


# --- Daily volume and days to alarm ---------------------------------------------------


@pytest.mark.parametrize(
    ("volume", "alarm", "rate", "days"),
    [
        ("20", "2", Fraction(1, 5), 90),
        ("20", "2", Fraction(0), None),
        ("3", "2", Fraction(1), 1),
        ("3", "2", Fraction(1001, 1000), 0),
    ],
)
def test_days_to_alarm_is_the_floor_of_section_3(volume, alarm, rate, days):
    assert (
        days_to_alarm(volume_ml=Decimal(volume), alarm_ml=Decimal(alarm), daily_volume=rate) == days
    )


@pytest.mark.parametrize(
    ("rate", "days", "refused"),
    [
        (Fraction(10), 1, False),
        (Fraction(10001, 1000), 1, True),
        (Fraction(1), 1, False),
        (Fraction(1), 0, True),
        (Fraction(0), None, False),
    ],
)
def test_a_daily_volume_above_10_ml_or_emptying_within_a_day_is_refused(rate, days, refused):
    message = daily_volume_refusal(daily_volume=rate, days=days, with_boluses=False)
    assert (message is not None) is refused


def test_the_daily_volume_refusal_says_when_boluses_are_counted():
    message = daily_volume_refusal(daily_volume=Fraction(51, 5), days=1, with_boluses=True)
    assert message == (
        "The daily volume with every allowed bolus would be 10.2 mL a day, above the 10 mL a "
        "day any pump programme runs: check the dose, the concentration and their units."
    )


@pytest.mark.parametrize(("days", "warned"), [(None, False), (0, True), (13, True), (14, False)])
def test_fewer_than_14_days_to_alarm_asks_for_confirmation(days, warned):
    assert (short_fill_warning(days) is not None) is warned


def test_one_day_to_alarm_is_singular():
    assert short_fill_warning(1).startswith("This fill reaches the low-reservoir alarm in 1 day,")


# --- Unit slips --------------------------------------------------------------------------------


def numbers(
    concentration: str, unit: str, dose: str, dose_unit: str, drug: str = "baclofen"
) -> FillNumbers:
    concentration_mcg = Fraction(concentration) * (1000 if unit == "mg/mL" else 1)
    dose_mcg = Fraction(dose) * (1000 if dose_unit == "mg/day" else 1)
    return FillNumbers(
        drug_code=drug,
        concentration=Decimal(concentration),
        concentration_unit=unit,
        concentration_mcg=concentration_mcg,
        daily_dose=Decimal(dose),
        dose_unit=dose_unit,
        dose_mcg=dose_mcg,
        daily_volume_ml=dose_mcg / concentration_mcg,
    )


def test_a_slip_is_shown_in_both_units_with_the_last_fill_in_the_unit_typed():
    warnings = unit_slip_warnings(
        numbers("0.5", "mg/mL", "400", "mcg/day"), numbers("50", "mcg/mL", "400", "mcg/day")
    )
    assert warnings["concentration"] == (
        "0.5 mg/mL is 500 mcg/mL; the last fill was 0.05 mg/mL. "
        "A tenfold change looks like a unit slip."
    )
    assert warnings["daily_volume"] == (
        "The pump would run 0.8 mL a day; the last fill ran 8 mL a day. "
        "A tenfold change looks like a unit slip."
    )
    assert "daily_dose" not in warnings


@pytest.mark.parametrize(
    ("dose", "warned"), [("4000", True), ("3999", False), ("40", True), ("41", False)]
)
def test_a_tenfold_dose_change_is_a_slip_and_less_is_not(dose, warned):
    warnings = unit_slip_warnings(
        numbers("2000", "mcg/mL", dose, "mcg/day"), numbers("2000", "mcg/mL", "400", "mcg/day")
    )
    assert ("daily_dose" in warnings) is warned


def test_the_same_amount_in_the_other_unit_is_no_slip():
    assert (
        unit_slip_warnings(
            numbers("2", "mg/mL", "0.4", "mg/day"), numbers("2000", "mcg/mL", "400", "mcg/day")
        )
        == {}
    )


def test_another_drug_or_no_previous_fill_is_never_a_slip():
    current = numbers("20", "mg/mL", "4", "mg/day", drug="morphine")
    assert unit_slip_warnings(current, None) == {}
    assert unit_slip_warnings(current, numbers("50", "mcg/mL", "400", "mcg/day")) == {}


def test_the_module_has_no_database_or_clock():
    source = Path(entry_safety.__file__).read_text()
    assert "django" not in source
    assert "today()" not in source
    assert "now()" not in source
