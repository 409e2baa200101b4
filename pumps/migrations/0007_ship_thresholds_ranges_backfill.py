"""Ship the per-model discrepancy thresholds and the accepted concentration
ranges of docs/clinical-rules.md (sections 1, 2 and 4, as extended), and fill
the pumps' new stored columns (replace-by, open discrepancies) from their
records, so existing clinics read the same lists as new ones."""

from datetime import timedelta
from decimal import Decimal

from django.db import migrations
from django.db.models import Count, Q

THRESHOLDS = {
    "synchromed_ii_20": "1.0",
    "synchromed_ii_40": "2.0",
    "prometra_ii_20": "1.0",
    "prometra_ii_40": "2.0",
    "codman_3000": "1.5",
}

# mcg/mL, low and high (section 2); admixture and other: no range.
CONCENTRATION_RANGES = {
    "baclofen": ("50", "4000"),
    "morphine": ("500", "50000"),
    "hydromorphone": ("500", "100000"),
    "ziconotide": ("1", "100"),
    "bupivacaine": ("500", "40000"),
    "clonidine": ("50", "3000"),
    "fentanyl": ("5", "5000"),
    "sufentanil": ("5", "500"),
}

ERI_STOP_DAYS = 90  # pumps.schedule.ERI_STOP_DAYS, frozen here as migrations must be


def ship(apps, schema_editor):
    PumpModel = apps.get_model("pumps", "PumpModel")
    Drug = apps.get_model("pumps", "Drug")
    Pump = apps.get_model("pumps", "Pump")
    for code, threshold in THRESHOLDS.items():
        PumpModel.objects.filter(code=code).update(discrepancy_threshold_ml=Decimal(threshold))
    for code, (low, high) in CONCENTRATION_RANGES.items():
        Drug.objects.filter(code=code).update(
            concentration_min_mcg_per_ml=Decimal(low), concentration_max_mcg_per_ml=Decimal(high)
        )
    for pump in Pump.objects.filter(eri_reported_on__isnull=False).only("pk", "eri_reported_on"):
        Pump.objects.filter(pk=pump.pk).update(
            eri_replace_by=pump.eri_reported_on + timedelta(days=ERI_STOP_DAYS)
        )
    open_flags = (
        Pump.objects.annotate(
            n=Count(
                "refills",
                filter=Q(
                    refills__discrepancy=True,
                    refills__discrepancy_signed_off_at__isnull=True,
                    refills__entered_in_error_at__isnull=True,
                ),
            )
        )
        .filter(n__gt=0)
        .values_list("pk", "n")
    )
    for pk, n in open_flags:
        Pump.objects.filter(pk=pk).update(open_discrepancies=n)


class Migration(migrations.Migration):
    dependencies = [("pumps", "0006_entered_in_error_and_entry_safety")]

    operations = [migrations.RunPython(ship, migrations.RunPython.noop)]
