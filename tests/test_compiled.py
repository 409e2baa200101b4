"""core.compiled: a statement compiled once gives what its queryset gives."""

import re
from datetime import date, timedelta
from typing import Any

import pytest
from django.db import connection
from django.db.models import Count, Model, QuerySet
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from care.models import Appointment, Complication, ContactAttempt, MriScan, Trial
from core.compiled import compiled, prepares, read, read_list
from pumps.models import DoseAdjustment, Drug, Pump, Refill
from tests.factories import PatientFactory, UserFactory, fill, make_pump
from web import contact_views, patient_views

pytestmark = pytest.mark.django_db

# The patient page's statements (web/patient_views.py), each a function of an id.
PAGE_STATEMENTS = [
    patient_views._patient,
    patient_views._pumps,
    patient_views._refills,
    patient_views._dose_changes,
    patient_views._mri_scans,
    patient_views._visits,
    patient_views._trials,
    patient_views._complications,
    contact_views.attempts_of,
    patient_views._patient_history,
    patient_views._pump_history,
]


def values(instance: Model) -> dict[str, Any]:
    """Every column of the instance, of the related instances it holds (select_related)
    and its annotations."""
    found = {
        field.attname: getattr(instance, field.attname) for field in instance._meta.concrete_fields
    }
    for name, related in instance._state.fields_cache.items():
        found[name] = values(related) if related is not None else None
    for name in ("refill_count",):
        if hasattr(instance, name):
            found[name] = getattr(instance, name)
    return found


def same(left: list[Any], right: list[Any]) -> None:
    assert len(left) == len(right)
    for mine, theirs in zip(left, right, strict=True):
        if isinstance(theirs, Model):
            assert type(mine) is type(theirs)
            assert values(mine) == values(theirs)
        else:
            assert mine == theirs


@pytest.fixture
def patient() -> Any:
    """A patient with a record of every kind the page reads, two pumps, a history."""
    today = date(2026, 4, 6)
    nurse = UserFactory(username="compiled_nurse")
    old = make_pump(implant_date=today - timedelta(days=2000))
    patient = old.patient
    fill(old, on=today - timedelta(days=1900))
    Pump.objects.filter(pk=old.pk).update(
        explant_date=today - timedelta(days=1000), explant_reason="battery"
    )
    pump = make_pump(
        patient=patient, implant_date=today - timedelta(days=900), serial="SN-COMPILED"
    )
    for days in (300, 200, 100):
        fill(pump, on=today - timedelta(days=days), residual_ml="3" if days == 200 else None)
    Refill.objects.filter(pump=pump).update(recorded_by=nurse)
    DoseAdjustment.objects.create(
        pump=pump, adjusted_on=today - timedelta(days=50), daily_dose="3", dose_unit="mg/day"
    )
    MriScan.objects.create(patient=patient, scanned_on=today - timedelta(days=40))
    Trial.objects.create(
        patient=patient,
        trial_date=today - timedelta(days=950),
        method="single_bolus",
        drug=Drug.objects.get(code="baclofen"),
        dose="50",
        dose_unit="mcg",
        scale="pain_nrs",
        score_before="8",
        score_after="2",
    )
    Complication.objects.create(
        patient=patient,
        pump=pump,
        occurred_on=today - timedelta(days=30),
        kind="seroma",
        severity="mild",
    )
    ContactAttempt.objects.create(
        patient=patient, pump=pump, attempted_at=timezone.now(), channel="call", outcome="reached"
    )
    Appointment.objects.create(
        patient=patient, pump=pump, kind="refill", scheduled_at=timezone.now()
    )
    patient.notes = "changed"
    patient.save()
    PatientFactory()  # another patient, whose records must not come
    return patient


@pytest.mark.parametrize("build", PAGE_STATEMENTS, ids=lambda build: build.__name__)
def test_the_page_statements_give_what_their_querysets_give(build, patient):
    rows = read(build, patient.pk)
    assert rows, "the fixture has a record of every kind"
    same(rows, list(build(patient.pk)))


def pumps_with_refill_counts(pk: int) -> QuerySet[Pump]:
    return (
        Pump.objects.filter(patient_id=pk)
        .select_related("model", "latest_fill__drug")
        .annotate(refill_count=Count("refills"))
        .order_by("pk")
    )


def test_related_models_and_annotations_are_made_as_the_queryset_makes_them(patient):
    rows = read(pumps_with_refill_counts, patient.pk)
    same(rows, list(pumps_with_refill_counts(patient.pk)))
    assert [pump.refill_count for pump in rows] == [1, 3]
    assert rows[1].latest_fill.drug.code == "morphine"


def test_an_id_of_nothing_or_beyond_any_id_reads_nothing():
    assert read(patient_views._patient, 999999) == []
    assert read(patient_views._patient, 2**64) == []


def prefetching(pk: int) -> QuerySet[Pump]:
    return Pump.objects.filter(patient_id=pk).prefetch_related("dose_adjustments")


def flat(pk: int) -> QuerySet[Any]:
    return Pump.objects.filter(patient_id=pk).values_list("pk", flat=True)


def no_id(pk: int) -> QuerySet[Pump]:
    return Pump.objects.all()


@pytest.mark.parametrize("build", [prefetching, flat, no_id], ids=lambda build: build.__name__)
def test_what_it_cannot_run_as_the_queryset_would_is_refused(build):
    with pytest.raises(ValueError, match=build.__name__):
        compiled(build)


def prepared_statements() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements: PostgreSQL")
@pytest.mark.parametrize("build", PAGE_STATEMENTS, ids=lambda build: build.__name__)
def test_on_postgresql_each_statement_is_prepared_from_its_second_run(build, patient):
    """clinic/settings.py sets psycopg's prepare_threshold: the server plans the statement
    once per connection; the rows stay the queryset's, run after run."""
    assert prepares(connection.alias)
    statement = compiled(build)
    assert statement.prepared_sql is not None
    text = statement.prepared_sql.split(" WHERE ")[0]
    expected = list(build(patient.pk))
    for _ in range(3):
        same(read(build, patient.pk), expected)
    assert any(prepared.startswith(text) for prepared in prepared_statements())
    # Another patient's id runs the same prepared statement.
    other = PatientFactory()
    same(read(build, other.pk), list(build(other.pk)))


@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements: PostgreSQL")
def test_a_prepared_statement_is_logged_with_its_id(patient):
    """Django's query log (tests, DEBUG) shows what ran, the id written in."""
    with CaptureQueriesContext(connection) as queries:
        read(patient_views._refills, patient.pk)
    (logged,) = [query["sql"] for query in queries]
    assert logged.startswith('SELECT "pumps_refill"')
    assert re.search(rf'"pumps_pump"\."patient_id" = +{patient.pk} ORDER BY', logged)
    assert "%s" not in logged


def test_nothing_is_prepared_where_the_database_has_no_threshold(settings):
    """SQLite, or PostgreSQL with DB_PREPARE_THRESHOLD=off: statements run as before."""
    if connection.vendor == "postgresql":
        options = connection.settings_dict["OPTIONS"]
        saved = options.pop("prepare_threshold")
        try:
            assert not prepares(connection.alias)
        finally:
            options["prepare_threshold"] = saved
    else:
        assert not prepares(connection.alias)
        assert compiled(patient_views._refills).prepared_sql is None


def every_drug() -> QuerySet[Drug]:
    return Drug.objects.values_list("code", "name")  # type: ignore[return-value]


def drugs_by_name() -> QuerySet[Drug]:
    return Drug.objects.order_by("name")


@pytest.mark.parametrize("build", [every_drug, drugs_by_name], ids=lambda build: build.__name__)
def test_a_list_of_no_id_gives_what_its_queryset_gives_and_reads_fresh_rows(build):
    for _ in range(3):  # (prepared from the second run, on PostgreSQL)
        same(read_list(build), list(build()))
    Drug.objects.create(code="test_drug", name="Test 100% drug", stability_days=30)
    rows = read_list(build)
    same(rows, list(build()))
    assert len(rows) == Drug.objects.count()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements: PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_a_dropped_connection_is_replaced_when_a_prepared_statement_comes_first():
    """With persistent connections and health checks (production), a request's first
    statement may be a prepared one: it checks the connection as Django's cursor does."""
    # (Made here: a test of whole transactions may have flushed the seeded catalogue.)
    drug = Drug.objects.create(code="test_drop", name="Dropped connection", stability_days=30)
    read_list(every_drug)  # the connection is open
    connection.connection.close()  # the server dropped it between requests
    connection.health_check_enabled, connection.health_check_done = True, False
    try:
        assert (drug.code, drug.name) in read_list(every_drug)
    finally:
        connection.health_check_enabled = False
