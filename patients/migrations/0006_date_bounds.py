"""Date bounds held by the database (clinical-rules.md 8), after repairing what breaks them.

PostgreSQL can hold a timestamp in year 10000 (a visit booked for 9999-12-31
23:59 local is stored in UTC), which psycopg cannot read: every page listing
it failed. Such visits are cancelled and parked on 2100-12-31 12:00 UTC with a
note keeping the original text, so staff see them and rebook. Other dates out
of bounds have no safe automatic repair: the migration stops and names them.
"""

import datetime

from django.conf import settings
from django.db import migrations, models

# The stored moment's bounds (patients.models.EARLIEST_MOMENT, AFTER_LATEST_MOMENT).
EARLIEST = "1899-12-31 00:00:00+00"
AFTER_LATEST = "2101-01-02 00:00:00+00"
PARKED_AT = "2100-12-31 12:00:00+00"
DATE_COLUMNS = [
    ("patients_patient", "birth_date"),
    ("patients_trial", "trial_date"),
    ("patients_complication", "occurred_on"),
    ("patients_mriscan", "scanned_on"),
    ("patients_mriscan", "pump_checked_on"),
]


def repair_impossible_visit_dates(connection, renamed=None) -> int:
    """Cancel visits whose moment lies outside the bounds; return how many.

    ``renamed``: the tables' names today where they moved since (care.0002),
    for the tests that run this on today's schema.

    Raw SQL that never reads the timestamp into Python (psycopg cannot); the
    original is kept as text in the note, ahead of what the note said. The
    history table gets the same repair: the admin's history page reads it too.
    """
    if connection.vendor != "postgresql":
        return 0  # SQLite stores what Python wrote, and Python stops at year 9999
    note = (
        "left('date was impossible (' || scheduled_at::text || '); rebook'"
        " || CASE WHEN notes <> '' THEN ' · ' || notes ELSE '' END, 300)"
    )
    outside = "scheduled_at < %s::timestamptz OR scheduled_at >= %s::timestamptz"
    renamed = renamed or {}
    visits = renamed.get("patients_appointment", "patients_appointment")
    history = renamed.get("patients_historicalappointment", "patients_historicalappointment")
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {visits} SET status = 'cancelled', notes = {note}, "
            f"scheduled_at = %s::timestamptz WHERE {outside}",
            [PARKED_AT, EARLIEST, AFTER_LATEST],
        )
        repaired = cursor.rowcount
        cursor.execute(
            f"UPDATE {history} SET notes = {note}, "
            f"scheduled_at = %s::timestamptz WHERE {outside}",
            [PARKED_AT, EARLIEST, AFTER_LATEST],
        )
    return repaired


def refuse_other_impossible_dates(connection, renamed=None) -> None:
    """Stop with the rows to fix when a clinical date lies outside the bounds."""
    found = []
    renamed = renamed or {}
    with connection.cursor() as cursor:
        for old_table, column in DATE_COLUMNS:
            table = renamed.get(old_table, old_table)
            cursor.execute(
                f"SELECT id, CAST({column} AS TEXT) FROM {table} "
                f"WHERE {column} < %s OR {column} > %s ORDER BY id",
                ["1900-01-01", "2100-12-31"],
            )
            found += [f"{table}.{column} id {pk}: {text}" for pk, text in cursor.fetchall()]
    if found:
        raise RuntimeError(
            "Dates outside 1900-01-01..2100-12-31 must be corrected before this "
            "migration (in the admin or the shell): " + "; ".join(found[:50])
        )


def repair(apps, schema_editor) -> None:
    repair_impossible_visit_dates(schema_editor.connection)
    refuse_other_impossible_dates(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("patients", "0005_entered_in_error_and_entry_safety"),
        ("pumps", "0007_ship_thresholds_ranges_backfill"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(repair, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="appointment",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    (
                        "scheduled_at__gte",
                        datetime.datetime(1899, 12, 31, 0, 0, tzinfo=datetime.timezone.utc),
                    ),
                    (
                        "scheduled_at__lt",
                        datetime.datetime(2101, 1, 2, 0, 0, tzinfo=datetime.timezone.utc),
                    ),
                ),
                name="appointment_scheduled_at_in_bounds",
                violation_error_message="The visit date must lie between 1900-01-01 and 2100-12-31.",
            ),
        ),
        migrations.AddConstraint(
            model_name="complication",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("occurred_on__gte", datetime.date(1900, 1, 1)),
                    ("occurred_on__lte", datetime.date(2100, 12, 31)),
                ),
                name="complication_occurred_on_in_bounds",
                violation_error_message="The complication date must lie between 1900-01-01 and 2100-12-31.",
            ),
        ),
        migrations.AddConstraint(
            model_name="mriscan",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("scanned_on__gte", datetime.date(1900, 1, 1)),
                    ("scanned_on__lte", datetime.date(2100, 12, 31)),
                ),
                name="mriscan_scanned_on_in_bounds",
                violation_error_message="The scan date must lie between 1900-01-01 and 2100-12-31.",
            ),
        ),
        migrations.AddConstraint(
            model_name="mriscan",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("pump_checked_on__isnull", True),
                    models.Q(
                        ("pump_checked_on__gte", datetime.date(1900, 1, 1)),
                        ("pump_checked_on__lte", datetime.date(2100, 12, 31)),
                    ),
                    _connector="OR",
                ),
                name="mriscan_pump_checked_on_in_bounds",
                violation_error_message="The pump check date must lie between 1900-01-01 and 2100-12-31.",
            ),
        ),
        migrations.AddConstraint(
            model_name="patient",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("birth_date__gte", datetime.date(1900, 1, 1)),
                    ("birth_date__lte", datetime.date(2100, 12, 31)),
                ),
                name="patient_birth_date_in_bounds",
                violation_error_message="The birth date must lie between 1900-01-01 and 2100-12-31.",
            ),
        ),
        migrations.AddConstraint(
            model_name="trial",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("trial_date__gte", datetime.date(1900, 1, 1)),
                    ("trial_date__lte", datetime.date(2100, 12, 31)),
                ),
                name="trial_date_in_bounds",
                violation_error_message="The trial date must lie between 1900-01-01 and 2100-12-31.",
            ),
        ),
        migrations.AddConstraint(
            model_name="trial",
            constraint=models.CheckConstraint(
                condition=models.Q(("dose__gt", 0)),
                name="trial_dose_above_zero",
                violation_error_message="The trial dose must be above zero.",
            ),
        ),
    ]
