"""manage.py import_clinic: the spreadsheet contract of docs/interfaces.md.

Problems read ``[FILE:]LINE: COLUMN: PROBLEM`` (FILE only when two files are
imported); every refused import must leave the database exactly as it was.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.utils import timezone

from importer import spreadsheet as importer
from importer.management.commands.import_clinic import Command
from patients.choices import PatientStatus
from patients.models import Patient
from pumps import services
from pumps.choices import ExplantReason
from pumps.models import Pump, Refill
from tests.factories import PatientFactory, fill, make_pump

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[2]

PUMP_COLUMNS = [
    "mrn",
    "family_name",
    "given_name",
    "birth_date",
    "indication",
    "pump_model",
    "serial",
    "implant_date",
    "explant_date",
    "explant_reason",
    "alarm_ml",
]
REFILL_COLUMNS = [
    "serial",
    "refill_date",
    "drug",
    "concentration",
    "concentration_unit",
    "daily_dose",
    "dose_unit",
    "volume_ml",
    "residual_ml",
    "eri",
    "bolus_dose",
    "boluses_per_day",
]


def pump_row(**cells: str) -> dict[str, str]:
    """Patient A1's SynchroMed II 40 mL pump SN1, with ``cells`` changed."""
    row = {
        "mrn": "A1",
        "family_name": "Ames",
        "given_name": "Ann",
        "birth_date": "1960-01-01",
        "indication": "failed_back",
        "pump_model": "synchromed_ii_40",
        "serial": "SN1",
        "implant_date": "2024-01-10",
    }
    return row | cells


def refill_row(**cells: str) -> dict[str, str]:
    """A morphine fill of SN1 (0.2 mL/day), with ``cells`` changed."""
    row = {
        "serial": "SN1",
        "refill_date": "2025-01-10",
        "drug": "morphine",
        "concentration": "20",
        "concentration_unit": "mg/mL",
        "daily_dose": "4",
        "dose_unit": "mg/day",
        "volume_ml": "40",
    }
    return row | cells


def write_csv(path: Path, columns: Sequence[str], rows: Sequence[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(columns), restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def files(
    tmp_path: Path,
    pumps: Sequence[dict[str, str]],
    refills: Sequence[dict[str, str]] | None = None,
) -> list[Path]:
    """pumps.csv, and refills.csv unless ``refills`` is None, as command arguments."""
    paths = [write_csv(tmp_path / "pumps.csv", PUMP_COLUMNS, pumps)]
    if refills is not None:
        paths.append(write_csv(tmp_path / "refills.csv", REFILL_COLUMNS, refills))
    return paths


def run(*args: object) -> str:
    """Run the import; its stdout."""
    out = io.StringIO()
    call_command("import_clinic", *map(str, args), stdout=out, stderr=io.StringIO())
    return out.getvalue()


def database_state() -> dict[str, int]:
    """Rows and history rows: any write, even one rolled back half way, shows here."""
    models = (Patient, Pump, Refill)
    state = {model.__name__: model.objects.count() for model in models}
    state |= {f"history of {m.__name__}": m.history.model.objects.count() for m in models}
    return state


def refused(*args: object) -> list[str]:
    """Run an import that must fail; the problems it names, one a line."""
    before = database_state()
    err = io.StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("import_clinic", *map(str, args), stdout=io.StringIO(), stderr=err)
    assert raised.value.returncode == 1
    assert str(raised.value).endswith("found; nothing was imported.")
    assert database_state() == before
    return err.getvalue().splitlines()


# --- Every kind of bad row is named, and nothing is written ----------------------

INDICATIONS = (
    "cancer_pain, cerebral_palsy, failed_back, multiple_sclerosis, osteoporosis, other, "
    "post_laminectomy, spinal_cord_injury, stroke"
)
PUMP_MODELS = "codman_3000, prometra_ii_20, prometra_ii_40, synchromed_ii_20, synchromed_ii_40"
DRUGS = (
    "admixture, baclofen, bupivacaine, clonidine, fentanyl, hydromorphone, morphine, other, "
    "sufentanil, ziconotide"
)
REASONS = (
    "battery_end_of_life, failure_to_relieve_pain, infection, other, patient_misuse, "
    "patient_request"
)
EXPLANTED = {"explant_date": "2025-01-01", "explant_reason": "infection"}

# (pumps rows, refills rows or None for a pumps file alone, the problems named).
# With one file the lines carry no file name; with two they do.
BAD_FILES = {
    "unknown_indication": (
        [pump_row(indication="back_pain")],
        None,
        [f"2: indication: 'back_pain' is not a known indication (one of {INDICATIONS})"],
    ),
    "unknown_pump_model": (
        [pump_row(pump_model="synchromed_iii")],
        [refill_row()],
        [
            "pumps.csv:2: pump_model: 'synchromed_iii' is not a known pump model "
            f"(one of {PUMP_MODELS})"
        ],
    ),
    "unknown_drug": (
        [pump_row()],
        [refill_row(drug="morfine")],
        [f"refills.csv:2: drug: 'morfine' is not a known drug (one of {DRUGS})"],
    ),
    "unknown_concentration_unit": (
        [pump_row()],
        [refill_row(concentration_unit="mg/L")],
        [
            "refills.csv:2: concentration_unit: 'mg/L' is not a known concentration unit "
            "(one of mcg/mL, mg/mL)"
        ],
    ),
    "unknown_dose_unit": (
        [pump_row()],
        [refill_row(dose_unit="mg/hr")],
        ["refills.csv:2: dose_unit: 'mg/hr' is not a known dose unit (one of mcg/day, mg/day)"],
    ),
    "unknown_explant_reason": (
        [pump_row(explant_date="2025-01-01", explant_reason="lost")],
        None,
        [f"2: explant_reason: 'lost' is not a known explant reason (one of {REASONS})"],
    ),
    "date_with_slashes": (
        [pump_row(implant_date="2024/01/10")],
        None,
        ["2: implant_date: '2024/01/10' is not a date in the form YYYY-MM-DD"],
    ),
    "date_without_dashes": (
        [pump_row()],
        [refill_row(refill_date="20250110")],
        ["refills.csv:2: refill_date: '20250110' is not a date in the form YYYY-MM-DD"],
    ),
    "date_that_does_not_exist": (
        [pump_row(birth_date="1960-02-30")],
        None,
        ["2: birth_date: '1960-02-30' is not a date in the form YYYY-MM-DD"],
    ),
    "missing_required_cell": (
        [pump_row(family_name="")],
        None,
        ["2: family_name: missing; this column is required"],
    ),
    "missing_fill_volume": (
        [pump_row()],
        [refill_row(volume_ml="")],
        ["refills.csv:2: volume_ml: missing; this column is required"],
    ),
    "explant_date_without_reason": (
        [pump_row(explant_date="2025-01-01")],
        None,
        ["2: explant_reason: missing; it is required when explant_date is given"],
    ),
    "explant_reason_without_date": (
        [pump_row(explant_reason="infection")],
        None,
        ["2: explant_date: missing; it is required when explant_reason is given"],
    ),
    "explant_before_implant": (
        [pump_row(explant_date="2024-01-09", explant_reason="infection")],
        None,
        ["2: explant_date: 2024-01-09 is before the implant_date (2024-01-10)"],
    ),
    "explant_in_the_future": (
        [pump_row(explant_date="2100-01-01", explant_reason="infection")],
        None,
        ["2: explant_date: 2100-01-01 is after today ({today}): it has not happened yet."],
    ),
    "word_for_a_number": (
        [pump_row()],
        [refill_row(volume_ml="twenty")],
        [
            "refills.csv:2: volume_ml: “twenty” cannot be read as one number: use digits and "
            "one decimal point or comma, without spaces or thousands separators (e.g. 12.5)."
        ],
    ),
    # A decimal comma is a point (12,5 = 12.5), but 2,500 could be 2.5 or 2500.
    "decimal_comma_that_reads_two_ways": (
        [pump_row()],
        [refill_row(concentration="2,500")],
        [
            "refills.csv:2: concentration: “2,500” could mean 2.500 or 2500: "
            "type 2.5 or 2500 without a comma."
        ],
    ),
    "two_decimal_separators": (
        [pump_row()],
        [refill_row(volume_ml="1.234,5")],
        [
            "refills.csv:2: volume_ml: “1.234,5” cannot be read as one number: use digits and "
            "one decimal point or comma, without spaces or thousands separators (e.g. 12.5)."
        ],
    ),
    "negative_dose": (
        [pump_row()],
        [refill_row(daily_dose="-4")],
        ["refills.csv:2: daily_dose: -4 cannot be negative"],
    ),
    "negative_residual": (
        [pump_row()],
        [refill_row(residual_ml="-1")],
        ["refills.csv:2: residual_ml: -1 cannot be negative"],
    ),
    "zero_concentration": (
        [pump_row()],
        [refill_row(concentration="0")],
        ["refills.csv:2: concentration: The concentration must be above zero."],
    ),
    "more_decimals_than_stored": (
        [pump_row()],
        [refill_row(volume_ml="20.125")],
        ["refills.csv:2: volume_ml: Use at most 2 decimal places (20.125 has 3)."],
    ),
    "fill_above_the_reservoir": (
        [pump_row()],
        [refill_row(volume_ml="45")],
        ["refills.csv:2: volume_ml: 45 mL is more than this pump's reservoir holds (40 mL)."],
    ),
    "residual_above_the_reservoir": (
        [pump_row(pump_model="synchromed_ii_20")],
        [
            refill_row(volume_ml="20"),
            refill_row(refill_date="2025-02-01", volume_ml="20", residual_ml="20.5"),
        ],
        ["refills.csv:3: residual_ml: 20.5 mL is more than this pump's reservoir holds (20 mL)."],
    ),
    "eri_neither_yes_nor_no": (
        [pump_row()],
        [refill_row(eri="maybe")],
        ["refills.csv:2: eri: 'maybe' is not yes, no or blank"],
    ),
    "eri_on_a_pump_without_battery": (
        [pump_row(pump_model="codman_3000")],
        [refill_row(volume_ml="30", eri="yes")],
        ["refills.csv:2: eri: A codman_3000 pump has no battery and shows no ERI."],
    ),
    "serial_in_neither_file_nor_database": (
        [pump_row()],
        [refill_row(serial="SN9")],
        ["refills.csv:2: serial: SN9 is in neither the pumps file nor the database"],
    ),
    "serial_twice_in_the_pumps_file": (
        [pump_row(), pump_row(mrn="B2", family_name="Bell")],
        None,
        ["3: serial: SN1 is already on line 2 (serials match ignoring case)"],
    ),
    "refill_twice_in_the_refills_file": (
        [pump_row()],
        [refill_row(), refill_row(volume_ml="30")],
        ["refills.csv:3: refill_date: a refill of SN1 on 2025-01-10 is already on line 2"],
    ),
    "patient_given_twice_with_other_details": (
        [
            pump_row(**EXPLANTED),
            pump_row(serial="SN2", implant_date="2025-01-01", given_name="Anne"),
        ],
        None,
        ["3: given_name: 'Anne' differs from 'Ann' given for patient A1 on line 2"],
    ),
    "two_active_pumps_for_one_patient": (
        [pump_row(), pump_row(serial="SN2", implant_date="2025-01-01")],
        None,
        [
            f"{line}: explant_date: patient A1 would have 2 active pumps: SN1 (line 2), "
            "SN2 (line 3); give the explant_date and explant_reason of each replaced pump"
            for line in (2, 3)
        ],
    ),
    "refill_before_the_implant": (
        [pump_row()],
        [refill_row(refill_date="2024-01-09")],
        ["refills.csv:2: refill_date: The pump was implanted on 2024-01-10, after this date."],
    ),
    "refill_after_the_explant": (
        [pump_row(**EXPLANTED)],
        [refill_row(refill_date="2025-01-02")],
        ["refills.csv:2: refill_date: 2025-01-02 is after pump SN1 was explanted (2025-01-01)"],
    ),
    "refill_in_the_future": (
        [pump_row()],
        [refill_row(refill_date="2100-01-01")],
        [
            "refills.csv:2: refill_date: 2100-01-01 is after today ({today}): "
            "it has not happened yet."
        ],
    ),
    "alarm_not_below_the_reservoir": (
        [pump_row(alarm_ml="40")],
        None,
        ["2: alarm_ml: 40 mL is not below the synchromed_ii_40 reservoir (40 mL)"],
    ),
    "serial_longer_than_allowed": (
        [pump_row(serial="S" * 31)],
        None,
        [
            f"2: serial: “{'S' * 31}” is not a pump serial number: use 3 to 30 letters, "
            "digits and hyphens, as printed on the pump's card."
        ],
    ),
}


@pytest.mark.parametrize(("pumps", "refills", "problems"), BAD_FILES.values(), ids=BAD_FILES)
def test_bad_row_is_named_by_line_and_column_and_nothing_is_written(
    tmp_path, pumps, refills, problems
):
    today = timezone.localdate()

    named = refused(*files(tmp_path, pumps, refills))

    assert named == [problem.format(today=today) for problem in problems]


def test_every_bad_row_is_named_in_one_run_pumps_file_first(tmp_path):
    pumps = [
        pump_row(),
        pump_row(mrn="B2", serial="SN2", indication="back_pain"),
        pump_row(mrn="C3", serial="SN3"),
        pump_row(mrn="D4", serial="SN4", implant_date="yesterday"),
    ]
    refills = [
        refill_row(),
        refill_row(refill_date="2025-02-01", volume_ml="41"),
        refill_row(serial="SN3"),
        refill_row(serial="SN3", refill_date="2025-02-01", drug="morfine", eri="maybe"),
    ]

    named = refused(*files(tmp_path, pumps, refills))

    assert [line.split(": ")[:2] for line in named] == [
        ["pumps.csv:3", "indication"],
        ["pumps.csv:5", "implant_date"],
        ["refills.csv:3", "volume_ml"],
        ["refills.csv:5", "drug"],
        ["refills.csv:5", "eri"],
    ]


def test_a_bad_pump_row_does_not_make_its_refills_unknown(tmp_path):
    named = refused(*files(tmp_path, [pump_row(pump_model="x")], [refill_row()]))

    assert named == [
        f"pumps.csv:2: pump_model: 'x' is not a known pump model (one of {PUMP_MODELS})"
    ]


def test_line_numbers_are_the_editors_counting_blank_lines_and_quoted_line_breaks(tmp_path):
    pumps = tmp_path / "pumps.csv"
    pumps.write_text(
        ",".join(PUMP_COLUMNS) + "\n"
        'A1,Ames,"Ann\nMarie",1960-01-01,failed_back,synchromed_ii_40,SN1,2024-01-10,,,\n'
        "\n"
        "B2,Bell,Bo,1970-01-01,stroke,synchromed_ii_40,SN2,2024-13-01,,,\n",
        encoding="utf-8",
    )

    # The quoted line break is itself refused (a control character), and still
    # counted: the next row's problem is on the editor's line 5.
    assert refused(pumps) == [
        "2: given_name: contains a control or invisible character (U+000A); "
        "type the cell again without it",
        "5: implant_date: '2024-13-01' is not a date in the form YYYY-MM-DD",
    ]


# --- Against what the database already records ----------------------------------------------


def recorded_pump(**kwargs: object) -> Pump:
    """SN1 of patient A1, recorded in the app, filled 2025-01-10 and 2025-03-01."""
    patient = PatientFactory(mrn="A1", family_name="Ames", given_name="Ann")
    pump = make_pump(
        model="synchromed_ii_40", implant_date=date(2024, 1, 10), serial="SN1", patient=patient
    )
    fill(pump, on=date(2025, 1, 10), volume_ml="40")
    fill(pump, on=date(2025, 3, 1), volume_ml="40", residual_ml="30")
    return pump


def test_refill_behind_the_latest_recorded_fill_is_refused(tmp_path):
    recorded_pump()

    named = refused(*files(tmp_path, [pump_row()], [refill_row(refill_date="2025-02-01")]))

    assert named == [
        "refills.csv:2: refill_date: 2025-02-01 is before the latest refill recorded for pump "
        "SN1 (2025-03-01); the import adds refills only after the recorded ones, never behind "
        "them"
    ]


def test_refill_behind_a_recorded_dose_change_is_refused(tmp_path):
    pump = recorded_pump()
    services.adjust_dose(
        pump=pump,
        adjusted_on=date(2025, 4, 1),
        daily_dose=Decimal("5"),
        dose_unit="mg/day",
        today=date(2025, 4, 1),
    )

    named = refused(*files(tmp_path, [pump_row()], [refill_row(refill_date="2025-03-15")]))

    assert named == [
        "refills.csv:2: refill_date: 2025-03-15 is before a dose change recorded for pump SN1 "
        "(2025-04-01); the import adds refills only after recorded history, never behind it"
    ]


def test_serial_recorded_for_another_patient_is_refused(tmp_path):
    recorded_pump()

    named = refused(*files(tmp_path, [pump_row(mrn="Z9")]))

    assert named == ["2: serial: pump SN1 belongs to patient A1 in the database, not Z9"]


def test_refill_recorded_with_other_values_is_a_conflict(tmp_path):
    recorded_pump()

    named = refused(
        *files(tmp_path, [pump_row()], [refill_row(refill_date="2025-03-01", volume_ml="38")])
    )

    assert named == [
        "refills.csv:2: refill_date: a refill of SN1 on 2025-03-01 is already recorded with "
        "other values (volume_ml 38 here, 40 in the database)"
    ]


def test_new_active_pump_beside_a_recorded_active_one_is_refused(tmp_path):
    recorded_pump()

    named = refused(*files(tmp_path, [pump_row(serial="SN2", implant_date="2025-06-01")]))

    assert named == [
        "2: explant_date: patient A1 would have 2 active pumps: SN2 (line 2), SN1 (in the "
        "database); give the explant_date and explant_reason of each replaced pump"
    ]


def test_recorded_pump_model_and_implant_date_are_not_rewritten(tmp_path):
    recorded_pump()

    named = refused(
        *files(tmp_path, [pump_row(pump_model="prometra_ii_40", implant_date="2024-01-11")])
    )

    assert named == [
        "2: pump_model: pump SN1 is recorded as synchromed_ii_40; the import does not change a "
        "recorded pump's model",
        "2: implant_date: pump SN1 is recorded as implanted on 2024-01-10; the import does not "
        "change a recorded pump's implant date",
    ]


def test_explant_before_the_latest_recorded_refill_is_refused(tmp_path):
    recorded_pump()

    named = refused(*files(tmp_path, [pump_row(explant_date="2025-02-01", explant_reason="other")]))

    assert named == [
        "2: explant_date: 2025-02-01 is before the latest refill recorded for pump SN1 (2025-03-01)"
    ]


def test_new_refill_of_a_recorded_explanted_pump_is_refused(tmp_path):
    pump = recorded_pump()
    services.explant_pump(
        pump=pump, explant_date=date(2025, 6, 1), reason="infection", today=date(2025, 6, 1)
    )

    named = refused(*files(tmp_path, [], [refill_row(refill_date="2025-05-01")]))

    assert named == [
        "refills.csv:2: refill_date: pump SN1 is recorded as explanted (2025-06-01); the import "
        "does not add refills to an explanted pump"
    ]


# --- The files themselves ---------------------------------------------------------------


def test_header_missing_a_required_column_names_the_column(tmp_path):
    pumps = write_csv(
        tmp_path / "pumps.csv",
        [c for c in PUMP_COLUMNS if c != "birth_date"],
        [{k: v for k, v in pump_row().items() if k != "birth_date"}],
    )

    assert refused(pumps) == ["1: birth_date: required column is missing from the header"]


def test_header_naming_a_column_twice_is_refused(tmp_path):
    pumps = tmp_path / "pumps.csv"
    pumps.write_text(",".join([*PUMP_COLUMNS, "serial"]) + "\n", encoding="utf-8")

    assert refused(pumps) == ["1: serial: the column appears twice in the header"]


def test_file_that_is_not_utf8_is_refused_as_a_whole(tmp_path):
    pumps = tmp_path / "pumps.csv"
    pumps.write_bytes(
        (",".join(PUMP_COLUMNS) + "\n").encode()
        + "A1,Amès,Ann,1960-01-01,failed_back,synchromed_ii_40,SN1,2024-01-10\n".encode("latin-1")
    )

    assert refused(pumps) == ["pumps.csv: is not UTF-8 text (line 2); save it again as 'CSV UTF-8'"]


def test_missing_file_is_named_as_a_whole(tmp_path):
    named = refused(tmp_path / "nowhere.csv")

    assert named == ["nowhere.csv: cannot be read (No such file or directory)"]


def test_columns_in_another_order_and_extra_columns_are_accepted(tmp_path):
    pumps = write_csv(
        tmp_path / "pumps.csv",
        ["notes", *reversed(PUMP_COLUMNS)],
        [pump_row(notes="likes mornings", alarm_ml="4")],
    )
    refills = write_csv(
        tmp_path / "refills.csv",
        [*reversed(REFILL_COLUMNS), "nurse"],
        [refill_row(nurse="JB", residual_ml="1.5")],
    )

    run(pumps, refills)

    pump = Pump.objects.get(serial="SN1")
    assert pump.patient.given_name == "Ann"
    assert pump.alarm_ml_override == Decimal("4")
    refill = pump.refills.get()
    assert (refill.volume_ml, refill.residual_ml) == (Decimal("40"), Decimal("1.5"))


def test_optional_columns_may_be_left_out_or_blank(tmp_path):
    required_pump_columns = PUMP_COLUMNS[:8]
    pumps = write_csv(tmp_path / "pumps.csv", required_pump_columns, [pump_row()])
    refills = write_csv(
        tmp_path / "refills.csv", REFILL_COLUMNS, [refill_row(residual_ml="", eri="")]
    )

    run(pumps, refills)

    pump = Pump.objects.get(serial="SN1")
    assert (pump.explant_date, pump.explant_reason, pump.alarm_ml_override) == (None, "", None)
    assert pump.eri_reported_on is None
    refill = pump.refills.get()
    assert (refill.residual_ml, refill.eri, refill.expected_residual_ml) == (None, False, None)


def test_byte_order_mark_and_windows_line_endings_are_accepted(tmp_path):
    pumps = tmp_path / "pumps.csv"
    text = ",".join(PUMP_COLUMNS) + "\r\n" + ",".join(pump_row().values()) + ",,,\r\n"
    pumps.write_bytes(b"\xef\xbb\xbf" + text.encode())

    run(pumps)

    assert Pump.objects.get().serial == "SN1"


def test_help_documents_the_problem_format():
    text = Command().create_parser("manage.py", "import_clinic").format_help()

    assert "    LINE: COLUMN: PROBLEM                 (one file)" in text
    assert "    FILE:LINE: COLUMN: PROBLEM            (two files" in text


def test_command_line_run_with_a_bad_row_exits_1_without_a_traceback(tmp_path):
    pumps, refills = files(tmp_path, [pump_row()], [refill_row(volume_ml="45")])
    # A database of its own: the test database is not visible to another process.
    env = os.environ | {"DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    manage = [sys.executable, str(REPO / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], env=env, cwd=REPO, check=True)

    result = subprocess.run(
        [*manage, "import_clinic", str(pumps), str(refills)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
    )

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        "refills.csv:2: volume_ml: 45 mL is more than this pump's reservoir holds (40 mL).",
        "CommandError: 1 problem found; nothing was imported.",
    ]
    assert result.stdout == ""


# --- Writing ------------------------------------------------------------------------------


def test_dry_run_reports_what_it_would_write_and_writes_nothing(tmp_path):
    before = database_state()

    summary = run(*files(tmp_path, [pump_row()], [refill_row()]), "--dry-run")

    assert database_state() == before
    assert summary.splitlines() == [
        "Dry run of pumps.csv and refills.csv: no problems found; nothing was written.",
        "patients: 1 to create, 0 to update, 0 unchanged",
        "pumps: 1 to create, 0 to update, 0 unchanged",
        "refills: 1 to create, 0 unchanged",
    ]


def test_dry_run_of_bad_files_names_the_problems_and_exits_1(tmp_path):
    named = refused(*files(tmp_path, [pump_row()], [refill_row(volume_ml="45")]), "--dry-run")

    assert named == [
        "refills.csv:2: volume_ml: 45 mL is more than this pump's reservoir holds (40 mL)."
    ]


def test_import_creates_patients_pumps_and_refills_and_reports_counts(tmp_path):
    summary = run(*files(tmp_path, [pump_row()], [refill_row()]))

    assert summary.splitlines() == [
        "Imported pumps.csv and refills.csv.",
        "patients: 1 created, 0 updated, 0 unchanged",
        "pumps: 1 created, 0 updated, 0 unchanged",
        "refills: 1 created, 0 unchanged",
    ]
    pump = Pump.objects.select_related("patient", "model", "latest_fill").get()
    assert (pump.patient.mrn, pump.model.code, pump.implant_date) == (
        "A1",
        "synchromed_ii_40",
        date(2024, 1, 10),
    )
    # The stored schedule: morphine 0.2 mL/day from 40 mL, alarm at 2 mL (section 3).
    assert pump.latest_fill is not None
    assert pump.refill_alarm == date(2025, 1, 10) + timedelta(days=190)
    assert pump.refill_deadline == date(2025, 1, 10) + timedelta(days=90)
    assert (pump.battery_window_opens, pump.battery_window_closes) == (
        date(2029, 1, 10),
        date(2031, 1, 10),
    )


def test_reimporting_the_same_files_changes_nothing_not_even_history(tmp_path):
    paths = files(
        tmp_path,
        [pump_row(**EXPLANTED), pump_row(serial="SN2", implant_date="2025-01-01", alarm_ml="3")],
        [
            refill_row(refill_date="2024-12-01"),
            refill_row(serial="SN2", refill_date="2025-02-01", eri="yes"),
            refill_row(serial="SN2", refill_date="2025-03-01", residual_ml="34.4", eri="no"),
        ],
    )
    run(*paths)
    before = database_state()

    summary = run(*paths)

    assert database_state() == before
    assert summary.splitlines()[1:] == [
        "patients: 0 created, 0 updated, 1 unchanged",
        "pumps: 0 created, 0 updated, 2 unchanged",
        "refills: 0 created, 3 unchanged",
    ]


def test_explant_added_on_reimport_is_applied_and_kept_in_history(tmp_path):
    run(*files(tmp_path, [pump_row()], [refill_row()]))
    pump = Pump.objects.get()
    history = pump.history.count()

    summary = run(*files(tmp_path, [pump_row(explant_date="2025-02-01", explant_reason="other")]))

    pump.refresh_from_db()
    assert (pump.explant_date, pump.explant_reason) == (date(2025, 2, 1), ExplantReason.OTHER)
    assert pump.history.count() == history + 1
    assert "pumps: 0 created, 1 updated, 0 unchanged" in summary.splitlines()


def test_changed_patient_details_on_reimport_are_updated(tmp_path):
    run(*files(tmp_path, [pump_row()]))

    summary = run(*files(tmp_path, [pump_row(family_name="Ames-Boyd")]))

    patient = Patient.objects.get()
    assert patient.family_name == "Ames-Boyd"
    assert patient.history.count() == 2
    assert "patients: 0 created, 1 updated, 0 unchanged" in summary.splitlines()


def test_blank_optional_cell_on_reimport_keeps_the_recorded_value(tmp_path):
    run(*files(tmp_path, [pump_row(alarm_ml="4", **EXPLANTED)]))
    before = database_state()

    run(*files(tmp_path, [pump_row()]))

    pump = Pump.objects.get()
    assert pump.alarm_ml_override == Decimal("4")
    assert pump.explant_date == date(2025, 1, 1)
    assert database_state() == before


def test_alarm_override_is_stored_and_brings_the_alarm_date_forward(tmp_path):
    pumps = [
        pump_row(pump_model="synchromed_ii_20", alarm_ml="4"),
        pump_row(mrn="B2", serial="SN2", pump_model="synchromed_ii_20"),
    ]
    refills = [refill_row(volume_ml="20"), refill_row(serial="SN2", volume_ml="20")]

    run(*files(tmp_path, pumps, refills))

    overridden, default = Pump.objects.get(serial="SN1"), Pump.objects.get(serial="SN2")
    assert (overridden.alarm_ml_override, default.alarm_ml_override) == (Decimal("4"), None)
    # 0.2 mL/day from 20 mL: floor((20 - 4) / 0.2) = 80 days; at the model's 2 mL, 90.
    assert overridden.refill_alarm == date(2025, 1, 10) + timedelta(days=80)
    assert default.refill_alarm == date(2025, 1, 10) + timedelta(days=90)


def test_alarm_override_changed_on_reimport_moves_the_stored_alarm_date(tmp_path):
    pumps_with = [pump_row(pump_model="synchromed_ii_20", alarm_ml="4")]
    run(*files(tmp_path, pumps_with, [refill_row(volume_ml="20")]))

    run(*files(tmp_path, [pump_row(pump_model="synchromed_ii_20", alarm_ml="3")]))

    assert Pump.objects.get().refill_alarm == date(2025, 1, 10) + timedelta(days=85)


def test_refills_are_written_in_date_order_whatever_the_file_order(tmp_path):
    refills = [
        refill_row(refill_date="2025-03-31", residual_ml="20"),
        refill_row(refill_date="2025-01-10"),
        refill_row(refill_date="2025-02-19", residual_ml="32.5"),
    ]

    run(*files(tmp_path, [pump_row()], refills))

    written = list(Refill.objects.order_by("refill_date"))
    # 0.2 mL/day for 40 days from 40 mL leaves 32 mL: 32.5 is close, 20 is flagged.
    assert [(r.expected_residual_ml, r.discrepancy) for r in written] == [
        (None, False),
        (Decimal("32"), False),
        (Decimal("32"), True),
    ]
    assert Pump.objects.get().latest_fill == written[-1]


def test_fills_of_a_new_pump_get_the_same_flags_and_schedule_as_record_fill(tmp_path):
    # 3 mg/day at 7 mg/mL is 3/7 mL/day: exact arithmetic and rounding both matter.
    fills = [
        {"refill_date": "2025-01-10", "volume_ml": "40"},
        {"refill_date": "2025-02-19", "volume_ml": "40", "residual_ml": "25"},
        {"refill_date": "2025-03-31", "volume_ml": "38.5", "residual_ml": "24.85", "eri": "yes"},
        {"refill_date": "2025-05-10", "volume_ml": "40", "residual_ml": "19", "eri": "yes"},
        # A bolus allowance: the next fill's expected residual is a range.
        {
            "refill_date": "2025-06-19",
            "volume_ml": "40",
            "residual_ml": "23",
            "bolus_dose": "0.25",
            "boluses_per_day": "4",
        },
        {"refill_date": "2025-07-29", "volume_ml": "40", "residual_ml": "20"},
    ]
    dose = {"concentration": "7", "daily_dose": "3"}
    run(*files(tmp_path, [pump_row()], [refill_row(**f, **dose) for f in fills]))
    # The same visits, one by one through the service the nurse's form uses.
    by_service = make_pump(model="synchromed_ii_40", implant_date=date(2024, 1, 10))
    for f in fills:
        fill(
            by_service,
            on=date.fromisoformat(f["refill_date"]),
            concentration="7",
            daily_dose="3",
            volume_ml=f["volume_ml"],
            residual_ml=f.get("residual_ml"),
            eri=f.get("eri") == "yes",
            bolus_dose=f.get("bolus_dose"),
            boluses_per_day=int(f["boluses_per_day"]) if "boluses_per_day" in f else None,
        )
    imported = Pump.objects.get(serial="SN1")
    by_service.refresh_from_db()

    def flags(pump: Pump) -> list[tuple[object, ...]]:
        return list(
            pump.refills.order_by("refill_date").values_list(
                "expected_residual_ml",
                "discrepancy",
                "eri",
                "expected_residual_low_ml",
                "bolus_dose",
                "boluses_per_day",
            )
        )

    stored = [
        "refill_alarm",
        "refill_deadline",
        "refill_due",
        "refill_limited_by",
        "battery_window_opens",
        "battery_window_closes",
        "eri_reported_on",
        "eri_replace_by",
        "open_discrepancies",
    ]
    assert flags(imported) == flags(by_service)
    # 40 - 40 x 3/7 = 22.857 basal, 40 - 40 x 4/7 = 17.143 with every bolus: 20 mL is
    # 2.857 below the basal figure (beyond the 2 mL threshold) but inside the range.
    assert [row[1] for row in flags(imported)] == [False, True, False, True, False, False]
    assert flags(imported)[-1][3] == Decimal("17.143")
    assert imported.open_discrepancies == 2
    assert imported.eri_replace_by == date(2025, 6, 29)
    assert {f: getattr(imported, f) for f in stored} == {f: getattr(by_service, f) for f in stored}


def test_new_refills_of_a_recorded_pump_follow_its_recorded_fills(tmp_path):
    pump = recorded_pump()

    summary = run(*files(tmp_path, [], [refill_row(refill_date="2025-04-10", residual_ml="20")]))

    new = pump.refills.get(refill_date=date(2025, 4, 10))
    # From the recorded 2025-03-01 fill: 40 - 0.2 x 40 days = 32 mL expected.
    assert (new.expected_residual_ml, new.discrepancy) == (Decimal("32"), True)
    pump.refresh_from_db()
    assert pump.latest_fill == new
    assert "refills: 1 created, 0 unchanged" in summary.splitlines()


def test_recorded_refill_repeated_with_blank_optional_cells_is_unchanged(tmp_path):
    recorded_pump()

    summary = run(*files(tmp_path, [pump_row()], [refill_row(refill_date="2025-03-01")]))

    assert "refills: 0 created, 1 unchanged" in summary.splitlines()


def test_eri_dates_the_pump_from_the_first_refill_that_showed_it(tmp_path):
    refills = [
        refill_row(refill_date="2025-03-01", eri="yes"),
        refill_row(refill_date="2025-01-10", eri="no"),
        refill_row(refill_date="2025-02-01", eri="yes"),
    ]

    run(*files(tmp_path, [pump_row()], refills))

    assert Pump.objects.get().eri_reported_on == date(2025, 2, 1)


def test_replaced_pump_is_explanted_and_the_new_one_active(tmp_path):
    pumps = [
        pump_row(serial="NEW", implant_date="2025-01-01"),
        pump_row(serial="OLD", explant_date="2025-01-01", explant_reason="battery_end_of_life"),
    ]
    refills = [refill_row(serial="OLD", refill_date="2024-12-01"), refill_row(serial="NEW")]

    run(*files(tmp_path, pumps, refills))

    old, new = Pump.objects.get(serial="OLD"), Pump.objects.get(serial="NEW")
    assert (old.is_active, old.refills.count()) == (False, 1)
    assert (new.is_active, new.refills.count()) == (True, 1)
    assert Patient.objects.get().status == PatientStatus.IMPLANTED


def test_new_patient_without_an_active_pump_is_discharged(tmp_path):
    run(*files(tmp_path, [pump_row(**EXPLANTED)]))

    assert Patient.objects.get().status == PatientStatus.DISCHARGED


def test_refusal_by_the_service_at_write_time_is_named_and_rolls_everything_back(
    tmp_path, monkeypatch
):
    recorded_pump()

    def another_writer_got_there_first(**kwargs: object) -> None:
        raise ValidationError({"refill_date": "A later refill is already recorded (2025-05-01)."})

    # record_fill checks the fill again under the pump's lock, after the import's checks.
    monkeypatch.setattr(services, "validate_fill", another_writer_got_there_first)
    pumps = [pump_row(mrn="B2", serial="SN2")]
    refills = [refill_row(refill_date="2025-04-10")]

    named = refused(*files(tmp_path, pumps, refills))

    assert named == ["refills.csv:2: refill_date: A later refill is already recorded (2025-05-01)."]
    assert not Patient.objects.filter(mrn="B2").exists()


def test_serial_recorded_between_check_and_write_is_named_not_a_traceback(tmp_path):
    (pumps,) = files(tmp_path, [pump_row()])
    plan = importer.check_files(pumps, today=date(2026, 4, 6))
    make_pump(serial="SN1")  # another writer, between the two phases

    with pytest.raises(importer.ImportRefused) as refused_import:
        importer.apply_plan(plan, today=date(2026, 4, 6))

    (problem,) = refused_import.value.problems
    assert str(problem).startswith("pumps.csv: the database changed during the import (")
    assert not Patient.objects.filter(mrn="A1").exists()


# --- Progress ------------------------------------------------------------------------------


def test_large_file_reports_progress_on_stderr_every_tenth(tmp_path):
    pumps = [
        pump_row(mrn=f"P{n:03d}", serial=f"SN{n:03d}", pump_model="synchromed_ii_20")
        for n in range(100)
    ]
    refills = [
        refill_row(
            serial=f"SN{n:03d}",
            refill_date=str(date(2024, 2, 1) + timedelta(days=30 * k)),
            volume_ml="20",
        )
        for n in range(100)
        for k in range(12)
    ]
    err = io.StringIO()

    call_command("import_clinic", *map(str, files(tmp_path, pumps, refills)), stderr=err)

    assert Refill.objects.count() == 1200
    # Pumps are written with their refills, 12 rows at a time: 120 rows are 10 %.
    assert err.getvalue().splitlines() == [
        f"refills.csv: {10 * k} % ({120 * k} of 1200 rows)" for k in range(1, 11)
    ]


def test_small_file_reports_no_progress(tmp_path):
    err = io.StringIO()

    call_command(
        "import_clinic", *map(str, files(tmp_path, [pump_row()], [refill_row()])), stderr=err
    )

    assert err.getvalue() == ""


# --- Section 8: the same rules as the staff pages, and the new columns ----------------------


def test_bolus_columns_are_stored_and_date_the_alarm_as_if_every_bolus_is_taken(tmp_path):
    # 4 mg/day + 0.5 mg x 4 boluses = 6 mg/day at 20 mg/mL: 0.3 mL/day, not 0.2.
    run(*files(tmp_path, [pump_row()], [refill_row(bolus_dose="0,5", boluses_per_day="4")]))

    refill = Refill.objects.get()
    assert (refill.bolus_dose, refill.boluses_per_day) == (Decimal("0.5"), 4)
    pump = Pump.objects.get()
    # floor((40 - 2) / 0.3) = 126 days after 2025-01-10.
    assert pump.refill_alarm == date(2025, 1, 10) + timedelta(days=126)


@pytest.mark.parametrize("bolus_dose", ["", "0", "0.00"])
def test_a_blank_or_zero_bolus_dose_means_none(tmp_path, bolus_dose):
    run(*files(tmp_path, [pump_row()], [refill_row(bolus_dose=bolus_dose, boluses_per_day="4")]))

    refill = Refill.objects.get()
    assert (refill.bolus_dose, refill.boluses_per_day) == (None, None)
    # floor((40 - 2) / 0.2) = 190 days: no bolus allowance.
    assert Pump.objects.get().refill_alarm == date(2025, 1, 10) + timedelta(days=190)


def test_a_bolus_dose_without_boluses_per_day_is_refused(tmp_path):
    named = refused(*files(tmp_path, [pump_row()], [refill_row(bolus_dose="0.5")]))

    assert named == [
        "refills.csv:2: boluses_per_day: Enter how many boluses the patient may take a day: "
        "the refill date assumes every allowed bolus is taken."
    ]


@pytest.mark.parametrize(
    ("cell", "problem"),
    [
        ("4.5", "'4.5' is not a whole number (digits only, e.g. 4)"),
        ("-1", "'-1' is not a whole number (digits only, e.g. 4)"),
        ("100", "100 is more than 99"),
    ],
)
def test_boluses_per_day_must_be_a_whole_number_up_to_99(tmp_path, cell, problem):
    rows = [refill_row(bolus_dose="0.1", boluses_per_day=cell)]

    assert refused(*files(tmp_path, [pump_row()], rows)) == [
        f"refills.csv:2: boluses_per_day: {problem}"
    ]


def test_a_decimal_comma_is_read_as_a_decimal_point(tmp_path):
    run(*files(tmp_path, [pump_row()], [refill_row(concentration="12,5", volume_ml="39,5")]))

    refill = Refill.objects.get()
    assert (refill.concentration, refill.volume_ml) == (Decimal("12.5"), Decimal("39.5"))


def test_a_concentration_outside_its_drugs_range_is_refused_in_the_unit_typed(tmp_path):
    # 0.4 mg/mL of morphine: below the accepted 0.5 to 50 mg/mL.
    named = refused(*files(tmp_path, [pump_row()], [refill_row(concentration="0.4")]))

    assert len(named) == 1
    assert named[0].startswith(
        "refills.csv:2: concentration: 0.4 mg/mL is outside the accepted morphine concentrations"
    )


@pytest.mark.parametrize(("volume", "ok"), [("1.99", False), ("2", True)])
def test_a_fill_below_the_alarm_volume_is_refused_at_the_alarm_it_is_accepted(tmp_path, volume, ok):
    # A slow enough dose that 2 mL reaches the alarm no sooner than any other check.
    paths = files(tmp_path, [pump_row()], [refill_row(volume_ml=volume, daily_dose="0")])
    if ok:
        run(*paths)
        assert Refill.objects.get().volume_ml == Decimal(volume)
    else:
        assert refused(*paths)[0].startswith(
            "refills.csv:2: volume_ml: 1.99 mL is below this pump's low-reservoir alarm (2 mL)"
        )


def test_a_daily_volume_above_10_ml_names_the_daily_dose_column(tmp_path):
    # 201 mg/day at 20 mg/mL is 10.05 mL a day.
    named = refused(*files(tmp_path, [pump_row()], [refill_row(daily_dose="201")]))

    assert [line.split(": ")[:2] for line in named] == [["refills.csv:2", "daily_dose"]]


@pytest.mark.parametrize(
    ("column", "value", "ok"),
    [
        ("birth_date", "1899-12-31", False),
        ("birth_date", "1900-01-01", True),
        ("explant_date", "2100-12-31", False),
    ],
)
def test_dates_outside_1900_to_today_are_refused(tmp_path, column, value, ok):
    row = pump_row(**{column: value})
    if column == "explant_date":
        row["explant_reason"] = "infection"
    if ok:
        run(*files(tmp_path, [row]))
        assert Patient.objects.get().birth_date == date.fromisoformat(value)
        return
    named = refused(*files(tmp_path, [row]))
    assert len(named) == 1
    assert named[0].startswith(f"2: {column}: {value} is ")


def test_dates_after_today_are_refused_and_today_is_accepted(tmp_path):
    today = timezone.localdate()
    tomorrow = today + timedelta(days=1)
    named = refused(*files(tmp_path, [pump_row(implant_date=tomorrow.isoformat())]))
    assert named == [
        f"2: implant_date: {tomorrow} is after today ({today}): it has not happened yet."
    ]

    run(*files(tmp_path, [pump_row(implant_date=today.isoformat())]))
    assert Pump.objects.get().implant_date == today


def test_an_implant_before_birth_is_refused(tmp_path):
    named = refused(*files(tmp_path, [pump_row(birth_date="2024-01-11")]))

    assert named == ["2: implant_date: 2024-01-10 is before the birth_date (2024-01-11)"]


def test_an_implant_on_the_day_of_birth_is_accepted(tmp_path):
    run(*files(tmp_path, [pump_row(birth_date="2024-01-10")]))

    assert Pump.objects.get().implant_date == date(2024, 1, 10)


@pytest.mark.parametrize(
    ("column", "text", "code"),
    [
        ("serial", "SN\u200b1", "U+200B"),
        ("family_name", "\u202eAmes", "U+202E"),
        ("given_name", "Ann\u200e", "U+200E"),
        ("mrn", "A\u200f1", "U+200F"),
        ("family_name", "Am\ufeffes", "U+FEFF"),
        ("given_name", "Ann\x07", "U+0007"),
    ],
)
def test_a_cell_with_a_control_or_invisible_character_is_refused(tmp_path, column, text, code):
    named = refused(*files(tmp_path, [pump_row(**{column: text})]))

    assert named == [
        f"2: {column}: contains a control or invisible character ({code}); "
        "type the cell again without it"
    ]


def test_a_byte_order_mark_at_the_start_of_the_file_is_fine(tmp_path):
    (pumps,) = files(tmp_path, [pump_row()])
    pumps.write_bytes(b"\xef\xbb\xbf" + pumps.read_bytes())

    run(pumps)

    assert Pump.objects.get().serial == "SN1"


def test_a_file_above_the_size_limit_is_refused_before_it_is_read(tmp_path, settings):
    (pumps,) = files(tmp_path, [pump_row()])
    size = pumps.stat().st_size

    settings.IMPORT_MAX_BYTES = size - 1
    assert refused(pumps) == [
        f"pumps.csv: is {size:,} bytes, larger than the {size - 1:,} bytes the import "
        "accepts (IMPORT_MAX_BYTES); split it into smaller files"
    ]

    settings.IMPORT_MAX_BYTES = size
    run(pumps)
    assert Pump.objects.count() == 1


def test_the_size_limit_defaults_to_50_mb(settings):
    assert settings.IMPORT_MAX_BYTES == 50 * 1024 * 1024


def test_serials_match_a_recorded_pump_ignoring_case(tmp_path):
    pump = make_pump(
        model="synchromed_ii_40",
        implant_date=date(2024, 1, 10),
        serial="NGP1",
        patient=PatientFactory(mrn="A1"),
    )

    summary = run(*files(tmp_path, [pump_row(serial="ngp1")], [refill_row(serial="ngp1")]))

    assert "pumps: 0 created, 0 updated, 1 unchanged" in summary.splitlines()
    assert Pump.objects.get().serial == "NGP1"  # kept as recorded
    assert pump.refills.count() == 1


def test_two_pump_rows_differing_only_in_case_are_a_duplicate(tmp_path):
    rows = [pump_row(serial="NGP1"), pump_row(serial="ngp1", mrn="B2")]

    assert refused(*files(tmp_path, rows)) == [
        "3: serial: ngp1 is already on line 2 (serials match ignoring case)"
    ]


def test_two_refill_rows_differing_only_in_serial_case_are_a_duplicate(tmp_path):
    rows = [refill_row(serial="SN1"), refill_row(serial="sn1")]

    assert refused(*files(tmp_path, [pump_row()], rows)) == [
        "refills.csv:3: refill_date: a refill of sn1 on 2025-01-10 is already on line 2"
    ]


def run_with_warnings(*args: object) -> tuple[str, list[str]]:
    """Run an import that must succeed; its stdout, and its stderr's lines."""
    out, err = io.StringIO(), io.StringIO()
    call_command("import_clinic", *map(str, args), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue().splitlines()


def test_a_tenfold_change_from_the_previous_fill_in_the_file_is_a_warning_and_imported(
    tmp_path,
):
    rows = [
        refill_row(),
        # 2 mg/mL after 20 mg/mL: a unit slip? 4 mg/day now runs 2 mL a day.
        refill_row(refill_date="2025-02-01", concentration="2", volume_ml="40"),
    ]

    summary, warnings = run_with_warnings(*files(tmp_path, [pump_row()], rows))

    assert warnings == [
        "refills.csv:3: concentration: warning: 2 mg/mL is 2000 mcg/mL; the last fill was "
        "20 mg/mL. A tenfold change looks like a unit slip.",
        "refills.csv:3: daily_dose: warning: The pump would run 2 mL a day; the last fill ran "
        "0.2 mL a day. A tenfold change looks like a unit slip.",
    ]
    assert "refills: 2 created, 0 unchanged" in summary.splitlines()
    assert Refill.objects.filter(concentration=Decimal("2")).exists()


def test_a_tenfold_change_from_the_recorded_fill_is_a_warning(tmp_path):
    recorded_pump()

    _, warnings = run_with_warnings(
        *files(tmp_path, [], [refill_row(refill_date="2025-04-10", daily_dose="40")])
    )

    # Against the recorded 4 mg/day, not a first fill: the dose, the daily volume, and
    # 40 mg/day above morphine's plausible range.
    assert warnings
    assert all(line.startswith("refills.csv:2: daily_dose: warning: ") for line in warnings)
    assert any("the last fill was 4 mg/day" in line for line in warnings)


def test_a_change_under_tenfold_is_no_warning(tmp_path):
    rows = [refill_row(), refill_row(refill_date="2025-02-01", concentration="2.01")]

    _, warnings = run_with_warnings(*files(tmp_path, [pump_row()], rows))

    assert not [line for line in warnings if ": concentration: " in line]


def test_a_dry_run_prints_the_warnings_and_writes_nothing(tmp_path):
    before = database_state()
    rows = [refill_row(), refill_row(refill_date="2025-02-01", concentration="2")]

    summary, warnings = run_with_warnings(*files(tmp_path, [pump_row()], rows), "--dry-run")

    assert database_state() == before
    assert [line.split(": ")[:3] for line in warnings] == [
        ["refills.csv:3", "concentration", "warning"],
        ["refills.csv:3", "daily_dose", "warning"],
    ]
    assert summary.startswith("Dry run of pumps.csv and refills.csv: no problems found")


def test_a_short_fill_is_a_warning_on_the_volume_column(tmp_path):
    # 0.2 mL/day from 4 mL with a 2 mL alarm: 10 days to the alarm.
    _, warnings = run_with_warnings(*files(tmp_path, [pump_row()], [refill_row(volume_ml="4")]))

    assert [line.split(": ")[:3] for line in warnings] == [
        ["refills.csv:2", "volume_ml", "warning"]
    ]


def test_help_documents_the_new_columns_and_warnings():
    text = Command().create_parser("manage.py", "import_clinic").format_help()

    assert "bolus_dose" in text
    assert "boluses_per_day" in text
    assert "FILE:LINE: COLUMN: warning: MESSAGE" in text
    assert "IMPORT_MAX_BYTES" in text
