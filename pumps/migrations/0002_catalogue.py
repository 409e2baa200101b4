"""Ship the pump catalogue, the drug table and the policy defaults of
docs/clinical-rules.md (sections 1 to 4) as data an administrator can edit."""

from decimal import Decimal

from django.db import migrations

PROMETRA_NOTE = "Manufacturer figure (over 10 years), review locally."
COMPOUNDED_NOTE = "Compounded: local policy, thin sources."

PUMP_MODELS = [
    # code, manufacturer, name, reservoir, alarm, battery, opens, closes, note
    ("synchromed_ii_20", "Medtronic", "SynchroMed II", "20", "2.0", True, 5, 7, ""),
    ("synchromed_ii_40", "Medtronic", "SynchroMed II", "40", "2.0", True, 5, 7, ""),
    ("prometra_ii_20", "Flowonix", "Prometra II", "20", "3.0", True, 9, 10, PROMETRA_NOTE),
    ("prometra_ii_40", "Flowonix", "Prometra II", "40", "3.0", True, 9, 10, PROMETRA_NOTE),
    ("codman_3000", "Codman", "3000 (gas-driven, constant flow)", "30", "2.0", False, None, None, ""),
]

# code, name, stability days, extra fields
DRUGS = [
    ("morphine", "Morphine", 90, {"dose_warn_above_mcg_per_day": Decimal("20000"),
                                  "policy_note": "Preservative-free morphine label."}),
    ("hydromorphone", "Hydromorphone", 90, {
        "policy_note": "Studies show at least 4 months stable; 3 months is usual practice."}),
    ("baclofen", "Baclofen", 180, {
        "urgent_when_due": True,
        "dose_warn_below_mcg_per_day": Decimal("20"),
        "dose_warn_above_mcg_per_day": Decimal("2000"),
        "policy_note": "Overdue baclofen is urgent: withdrawal can kill within days."}),
    ("ziconotide", "Ziconotide", 40, {
        "first_fill_stability_days": 14,
        "undiluted_mcg_per_ml": Decimal("100"),
        "undiluted_stability_days": 84,
        "first_fill_dose_warn_above_mcg_per_day": Decimal("2.4")}),
    ("bupivacaine", "Bupivacaine", 90, {"policy_note": COMPOUNDED_NOTE}),
    ("clonidine", "Clonidine", 90, {"policy_note": COMPOUNDED_NOTE}),
    ("fentanyl", "Fentanyl", 90, {"policy_note": COMPOUNDED_NOTE}),
    ("sufentanil", "Sufentanil", 90, {"policy_note": COMPOUNDED_NOTE}),
    ("admixture", "Admixture", 90, {"policy_note": COMPOUNDED_NOTE}),
    ("other", "Other", 90, {"policy_note": COMPOUNDED_NOTE}),
]


def ship(apps, schema_editor):
    PumpModel = apps.get_model("pumps", "PumpModel")
    Drug = apps.get_model("pumps", "Drug")
    SchedulePolicy = apps.get_model("pumps", "SchedulePolicy")
    for code, maker, name, reservoir, alarm, battery, opens, closes, note in PUMP_MODELS:
        PumpModel.objects.update_or_create(
            code=code,
            defaults={
                "manufacturer": maker,
                "name": name,
                "reservoir_ml": Decimal(reservoir),
                "alarm_ml": Decimal(alarm),
                "has_battery": battery,
                "battery_window_opens_years": opens,
                "battery_window_closes_years": closes,
                "battery_note": note,
            },
        )
    for code, name, days, extra in DRUGS:
        Drug.objects.update_or_create(
            code=code, defaults={"name": name, "stability_days": days, **extra}
        )
    SchedulePolicy.objects.get_or_create(pk=1)


class Migration(migrations.Migration):
    dependencies = [("pumps", "0001_initial")]

    operations = [migrations.RunPython(ship, migrations.RunPython.noop)]
