"""The data the migrations ship are the tables of clinical-rules.md, sections 1 to 4.

Written out here from the document, not from the migration, so that a changed
default in either place fails this test.
"""

from decimal import Decimal

import pytest

from pumps.models import Drug, PumpModel, SchedulePolicy

pytestmark = pytest.mark.django_db

# code: reservoir mL, alarm mL, battery, window opens, closes (years) -- section 1
PUMP_MODELS = {
    "synchromed_ii_20": ("20", "2.0", True, 5, 7),
    "synchromed_ii_40": ("40", "2.0", True, 5, 7),
    "prometra_ii_20": ("20", "3.0", True, 9, 10),
    "prometra_ii_40": ("40", "3.0", True, 9, 10),
    "codman_3000": ("30", "2.0", False, None, None),
}

# code: stability days -- section 2
STABILITY_DAYS = {
    "morphine": 90,
    "hydromorphone": 90,
    "baclofen": 180,
    "ziconotide": 40,
    "bupivacaine": 90,
    "clonidine": 90,
    "fentanyl": 90,
    "sufentanil": 90,
    "admixture": 90,
    "other": 90,
}


def test_the_pump_catalogue_is_section_1() -> None:
    shipped = {
        model.code: (
            model.reservoir_ml,
            model.alarm_ml,
            model.has_battery,
            model.battery_window_opens_years,
            model.battery_window_closes_years,
        )
        for model in PumpModel.objects.all()
    }
    expected = {
        code: (Decimal(reservoir), Decimal(alarm), battery, opens, closes)
        for code, (reservoir, alarm, battery, opens, closes) in PUMP_MODELS.items()
    }
    assert shipped == expected


def test_prometra_battery_window_is_marked_a_manufacturer_figure() -> None:
    for code in ("prometra_ii_20", "prometra_ii_40"):
        note = PumpModel.objects.get(code=code).battery_note.lower()
        assert "manufacturer figure" in note
        assert "review locally" in note
    assert PumpModel.objects.get(code="synchromed_ii_20").battery_note == ""


def test_the_drug_table_is_section_2() -> None:
    assert dict(Drug.objects.values_list("code", "stability_days")) == STABILITY_DAYS
    ziconotide = Drug.objects.get(code="ziconotide")
    assert ziconotide.first_fill_stability_days == 14
    assert ziconotide.undiluted_mcg_per_ml == Decimal("100")
    assert ziconotide.undiluted_stability_days == 84
    assert ziconotide.first_fill_dose_warn_above_mcg_per_day == Decimal("2.4")
    assert list(Drug.objects.filter(urgent_when_due=True).values_list("code", flat=True)) == [
        "baclofen"
    ]
    baclofen = Drug.objects.get(code="baclofen")
    assert (baclofen.dose_warn_below_mcg_per_day, baclofen.dose_warn_above_mcg_per_day) == (
        Decimal("20"),
        Decimal("2000"),
    )
    morphine = Drug.objects.get(code="morphine")  # warn above 20 mg/day only
    assert morphine.dose_warn_below_mcg_per_day is None
    assert morphine.dose_warn_above_mcg_per_day == Decimal("20000")


def test_the_policy_defaults_are_sections_3_and_4() -> None:
    policy = SchedulePolicy.current()
    assert policy.refill_margin_days == 5
    assert policy.lookahead_days == 14
    assert policy.dose_change_warn_percent == 30


def test_the_discrepancy_threshold_is_per_model_5_percent_of_the_reservoir() -> None:
    thresholds = dict(PumpModel.objects.values_list("code", "discrepancy_threshold_ml"))
    assert thresholds == {
        "synchromed_ii_20": Decimal("1.0"),
        "synchromed_ii_40": Decimal("2.0"),
        "prometra_ii_20": Decimal("1.0"),
        "prometra_ii_40": Decimal("2.0"),
        "codman_3000": Decimal("1.5"),
    }


def test_the_accepted_concentrations_are_section_2s_in_mcg_per_ml() -> None:
    ranges = {
        code: (low, high)
        for code, low, high in Drug.objects.values_list(
            "code", "concentration_min_mcg_per_ml", "concentration_max_mcg_per_ml"
        )
    }
    assert ranges == {
        "baclofen": (Decimal("50"), Decimal("4000")),
        "morphine": (Decimal("500"), Decimal("50000")),  # 0.5 to 50 mg/mL
        "hydromorphone": (Decimal("500"), Decimal("100000")),  # 0.5 to 100 mg/mL
        "ziconotide": (Decimal("1"), Decimal("100")),
        "bupivacaine": (Decimal("500"), Decimal("40000")),  # 0.5 to 40 mg/mL
        "clonidine": (Decimal("50"), Decimal("3000")),
        "fentanyl": (Decimal("5"), Decimal("5000")),
        "sufentanil": (Decimal("5"), Decimal("500")),
        "admixture": (None, None),
        "other": (None, None),
    }
