"""The benchmark's machinery at a tiny size: its registry is what the app computes.

The synthetic registry is bulk-inserted with the stored schedule and residual
flags computed in memory; here a sample of pumps is recomputed through the
app's own service (store_schedule, check_residual) and must not change. No
timing is asserted: speed lives in the benchmark, not in the tests.
"""

from __future__ import annotations

import io
import json
from datetime import date

import pytest
from django.core.management import call_command

from bench import csvfiles, measure, registry, synthetic
from bench.__main__ import rows
from importer import spreadsheet as importer
from pumps import services
from pumps.models import Pump, Refill

pytestmark = pytest.mark.django_db

SIZE = 50
TODAY = date(2026, 4, 6)
STORED = (
    "latest_fill_id",
    "refill_alarm",
    "refill_deadline",
    "refill_due",
    "refill_limited_by",
    "battery_window_opens",
    "battery_window_closes",
    "eri_reported_on",
    "eri_replace_by",
    "open_discrepancies",
)


@pytest.fixture
def built():
    return registry.build(synthetic.registry(SIZE, today=TODAY), today=TODAY)


def test_the_registry_has_the_realistic_shape(built):
    assert built.pumps == Pump.objects.count() == SIZE
    active = Pump.objects.active()
    assert active.count() < SIZE  # some pumps were replaced or explanted
    assert 15 <= built.refills / SIZE <= 25  # about twenty refills a pump
    assert Refill.objects.values("drug").distinct().count() >= 3
    assert Pump.objects.values("model").distinct().count() >= 3
    statuses = {pump.refill_status(TODAY, 14) for pump in active}
    assert "ok" in statuses
    assert len(statuses) >= 3  # pumps at several points of their refill cycle


def test_stored_dates_are_what_the_app_computes(built):
    sample = list(Pump.objects.order_by("pk")[::5])
    stored = {pump.pk: [getattr(pump, name) for name in STORED] for pump in sample}
    services.recompute_schedules(sample)  # the app's own path, under a row lock
    for pump in Pump.objects.filter(pk__in=stored):
        assert [getattr(pump, name) for name in STORED] == stored[pump.pk], pump.serial


def test_stored_residual_flags_are_what_the_app_computes(built):
    refills = Refill.objects.select_related("pump__model").order_by("pk")[::7]
    for refill in refills:
        check = services.check_residual(
            pump=refill.pump, refill_date=refill.refill_date, residual_ml=refill.residual_ml
        )
        columns = (
            services.residual_columns(
                refill.residual_ml,
                check.expected,
                threshold_ml=refill.pump.model.discrepancy_threshold_ml,
            )
            if check.expected is not None
            else {"expected_residual_ml": None, "expected_residual_low_ml": None}
        )
        assert (
            refill.expected_residual_ml,
            refill.expected_residual_low_ml,
            refill.discrepancy,
        ) == (
            columns["expected_residual_ml"],
            columns["expected_residual_low_ml"],
            check.discrepancy,
        )


def test_the_registry_has_bolus_pumps_and_open_discrepancies(built):
    # The sample above must exercise a bolus range and a stored count, or it proves little.
    assert Refill.objects.filter(bolus_dose__gt=0).exists()
    assert Refill.objects.filter(expected_residual_low_ml__isnull=False).exists()
    assert Pump.objects.filter(open_discrepancies__gt=0).exists()


def test_the_pages_and_the_due_list_are_measured(built, tmp_path, capsys):
    client = measure.nurse_client()
    result = {
        "size": SIZE,
        "built": registry.Built(built.patients, built.pumps, built.refills).__dict__,
        "build_s": 0.1,
        "worklist": measure.worklist_page(client, runs=1).__dict__,
        "worklist_sql": measure.worklist_sql(runs=1).__dict__,
        "single_query_ms": measure.single_query_ms(runs=1),
        "worklist_last": measure.worklist_last_page(client, runs=1).__dict__,
        "worklist_deep_key": measure.worklist_deep_page_by_key(client, runs=1).__dict__,
        "patient": measure.patient_page(client, runs=1).__dict__,
        "due_list_s": measure.due_list_seconds(),
        "db_bytes": measure.database_bytes(),
        "import_s": 1.0,
    }
    json.dumps(result)  # what the worker hands to the table, as JSON
    table = rows([result, result])
    assert [row[0] for row in table] == [
        "pumps / refills",
        "build the registry",
        "worklist first page (median)",
        "worklist statements, bare SQL",
        "page / bare SQL",
        "page / page at 1,000 pumps",
        "(before: one CASE-ordered query)",
        "worklist last page, by number",
        "... as deep, by key (Next link)",
        "patient page (median)",
        "due_list, all pumps, JSON",
        "import_clinic (pumps + refills)",
        "database size",
    ]
    assert all(len(row) == 3 and all(cell != "" for cell in row) for row in table)
    assert result["worklist"]["queries"] <= 10
    assert result["worklist_last"]["queries"] == result["worklist"]["queries"]
    assert result["worklist_deep_key"]["queries"] == result["worklist"]["queries"]


def test_the_csv_files_import_with_the_dates_the_app_computes(tmp_path):
    pumps_csv, refills_csv = tmp_path / "pumps.csv", tmp_path / "refills.csv"
    specs = list(synthetic.registry(SIZE, today=TODAY))
    refills = sum(len(spec.fills) for spec in specs)
    assert csvfiles.write(specs, pumps_csv, refills_csv) == (SIZE, refills)

    call_command("import_clinic", str(pumps_csv), str(refills_csv), stdout=io.StringIO())

    assert (Pump.objects.count(), Refill.objects.count()) == (SIZE, refills)
    stored = {pump.pk: [getattr(pump, name) for name in STORED] for pump in Pump.objects.all()}
    services.recompute_schedules(Pump.objects.all())
    assert {
        pump.pk: [getattr(pump, name) for name in STORED] for pump in Pump.objects.all()
    } == stored


def test_the_csv_columns_are_the_importers():
    assert (*importer.PUMP_REQUIRED, *importer.PUMP_OPTIONAL) == csvfiles.PUMP_COLUMNS
    assert (*importer.REFILL_REQUIRED, *importer.REFILL_OPTIONAL) == csvfiles.REFILL_COLUMNS
