"""Issue 14: phone numbers read once (patients/phones.py), stored in E.164, shown in the
international format with a tel: link where staff work, and the data migration
that converts the numbers recorded before, losing none."""

from __future__ import annotations

from datetime import date, timedelta
from importlib import import_module

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from care.registration import NewPatient, register_patient
from core.roles import PHYSICIAN
from patients.choices import ContactBy
from patients.models import Patient
from patients.phones import (
    MAX_INPUT_CHARS,
    PhoneRefused,
    display_phone,
    normalise_phone,
    phone_refusal,
    tel_uri,
)
from pumps.models import Pump, Refill
from tests.factories import PatientFactory, UserFactory, fill, make_pump
from web.patient_admin import PatientAdminForm

TODAY = date(2026, 6, 1)
MIGRATION = import_module("patients.migrations.0009_phone_international")


# --- Reading a number ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "e164", "shown"),
    [
        # National (the clinic's region, US by default), however it is punctuated.
        ("(312) 555-0123", "+13125550123", "+1 312-555-0123"),
        ("312.555.0123", "+13125550123", "+1 312-555-0123"),
        ("  312 555 0123  ", "+13125550123", "+1 312-555-0123"),
        ("1-312-555-0123", "+13125550123", "+1 312-555-0123"),
        # International: with +, or the region's international prefix (011 in the US).
        ("+44 20 7946 0958", "+442079460958", "+44 20 7946 0958"),
        ("011 44 20 7946 0958", "+442079460958", "+44 20 7946 0958"),
        ("+33 1 42 68 53 00", "+33142685300", "+33 1 42 68 53 00"),
        # Pasted with invisible characters: the digits decide, nothing else is stored.
        ("\u202a+1 312 555 0123\u202c", "+13125550123", "+1 312-555-0123"),
        ("312\u200b555\u200b0123", "+13125550123", "+1 312-555-0123"),
        ("312\n555\t0123", "+13125550123", "+1 312-555-0123"),
        ("\ufeff(312) 555-0123", "+13125550123", "+1 312-555-0123"),
    ],
)
def test_a_number_is_stored_in_e164_and_shown_in_the_international_format(
    typed: str, e164: str, shown: str
) -> None:
    number = normalise_phone(typed, region="US")
    assert (number.e164, number.international) == (e164, shown)
    assert display_phone(number.e164) == shown
    assert tel_uri(number.e164) == f"tel:{e164}"


def test_a_national_number_is_read_in_the_region_setting(settings) -> None:
    settings.PHONENUMBER_DEFAULT_REGION = "GB"
    assert normalise_phone("020 7946 0958").e164 == "+442079460958"
    assert normalise_phone("0044 20 7946 0958").e164 == "+442079460958"
    settings.PHONENUMBER_DEFAULT_REGION = "US"
    assert phone_refusal("020 7946 0958") is not None  # not a US number


@pytest.mark.parametrize(
    ("typed", "words"),
    [
        ("555-0123", "not a valid phone number"),  # no area code
        ("abc", "not a valid phone number"),
        ("+999 123", "not a valid phone number"),
        ("+1 000 000 0000", "not a valid phone number"),
        ("12", "not a valid phone number"),
        ("1" * 60, "too long"),
        ("+1 312 555 0123 " + " " * 30 + "x", "too long"),
        ("+1 312 555 0123 ext 5", "extension"),
    ],
)
def test_text_that_is_not_a_number_is_refused_in_words(typed: str, words: str) -> None:
    with pytest.raises(PhoneRefused, match=words):
        normalise_phone(typed, region="US")
    message = phone_refusal(typed, region="US")
    assert message is not None
    assert words in message


def test_the_refusal_names_the_region_and_shows_an_example() -> None:
    message = phone_refusal("555-0123", region="US")
    assert message is not None
    assert "US number with its area code" in message
    assert "starting with +" in message


def test_no_number_is_no_number() -> None:
    assert normalise_phone("").e164 == ""
    assert normalise_phone("  \u200b ").e164 == ""
    assert phone_refusal("") is None
    assert display_phone("") == ""
    assert tel_uri("") == ""


def test_a_stored_value_that_is_not_a_number_is_shown_as_it_is_without_a_link() -> None:
    assert display_phone("ask daughter") == "ask daughter"
    assert tel_uri("ask daughter") == ""


def test_the_longest_input_is_read() -> None:
    typed = "+1 (312) 555-0123".ljust(MAX_INPUT_CHARS)
    assert normalise_phone(typed).e164 == "+13125550123"


# --- Every door that writes a phone reads it the same way -----------------------------


def new_patient(**values: object) -> NewPatient:
    fields: dict[str, object] = {
        "mrn": "PH-1",
        "family_name": "Okafor",
        "given_name": "Ada",
        "birth_date": date(1961, 5, 2),
        "indication": "multiple_sclerosis",
    }
    fields.update(values)
    return NewPatient(**fields)  # type: ignore[arg-type]


@pytest.mark.django_db
def test_registration_stores_the_number_in_e164() -> None:
    patient = register_patient(new=new_patient(phone="(312) 555-0188"), today=TODAY)
    assert Patient.objects.get(pk=patient.pk).phone == "+13125550188"


@pytest.mark.django_db
def test_registration_refuses_a_number_it_cannot_read_on_the_phone_field() -> None:
    with pytest.raises(ValidationError) as refused:
        register_patient(new=new_patient(phone="555-0188"), today=TODAY)
    assert "not a valid phone number" in refused.value.message_dict["phone"][0]
    assert not Patient.objects.exists()


@pytest.mark.django_db
def test_contact_by_text_message_needs_a_number_not_invisible_characters() -> None:
    with pytest.raises(ValidationError) as refused:
        register_patient(
            new=new_patient(phone="\u200b", contact_by=ContactBy.SMS, consent_to_contact=True),
            today=TODAY,
        )
    assert "needs the phone number" in refused.value.message_dict["phone"][0]


@pytest.mark.django_db
def test_the_staff_form_shows_the_refusal_on_the_phone_field() -> None:
    client = Client()
    client.force_login(UserFactory(roles=["Nurse"]))
    response = client.post(
        reverse("patients:register"),
        {
            "mrn": "PH-2",
            "family_name": "Okafor",
            "given_name": "Ada",
            "birth_date": "1961-05-02",
            "indication": "multiple_sclerosis",
            "status": "referred",
            "phone": "1" * 80,
            "contact_by": "none",
            "travel_buffer_days": "0",
        },
    )
    assert response.status_code == 200
    assert "too long to be a phone number" in response.content.decode()
    assert not Patient.objects.exists()


@pytest.mark.django_db
def test_the_admin_reads_the_phone_with_the_same_rule() -> None:
    data = {
        "mrn": "PH-3",
        "family_name": "Okafor",
        "given_name": "Ada",
        "birth_date": "1961-05-02",
        "indication": "multiple_sclerosis",
        "status": "implanted",
        "contact_by": "none",
        "travel_buffer_days": "0",
    }
    refused = PatientAdminForm(data={**data, "phone": "555-0100"})
    assert not refused.is_valid()
    assert "not a valid phone number" in refused.errors["phone"][0]
    accepted = PatientAdminForm(data={**data, "phone": "011 44 20 7946 0958"})
    assert accepted.is_valid(), accepted.errors
    assert accepted.cleaned_data["phone"] == "+442079460958"


def test_the_demo_writes_valid_numbers() -> None:
    from demo.data import normalise_phone as demo_reader

    assert demo_reader is normalise_phone  # the demo's phones go through the one rule


# --- Shown where staff work ---------------------------------------------------------


@pytest.fixture
def staff() -> Client:
    client = Client()
    client.force_login(UserFactory(roles=[PHYSICIAN]))
    return client


@pytest.fixture
def today() -> date:
    # The pages judge statuses on the clinic's real today.
    return timezone.localdate()


@pytest.fixture
def called_patient(today: date) -> Pump:
    """A morphine pump due in 3 days (on the worklist) whose patient has a phone and notes."""
    patient = PatientFactory(phone="+13125550142", notes="Hard of hearing: call the daughter.")
    pump = make_pump(
        model="synchromed_ii_40", implant_date=today - timedelta(days=400), patient=patient
    )
    fill(pump, on=today + timedelta(days=3 - 90), volume_ml="40")
    return pump


@pytest.mark.django_db
def test_the_worklist_row_has_the_phone_as_a_link(staff: Client, called_patient: Pump) -> None:
    html = staff.get(reverse("pumps:worklist")).content.decode()
    row = html[html.index(f'data-serial="{called_patient.serial}"') :]
    row = row[: row.index("</tr>")]
    assert 'href="tel:+13125550142"' in row
    assert "+1 312-555-0142" in row


@pytest.mark.django_db
def test_the_patient_page_shows_phone_notes_and_what_the_pump_holds(
    staff: Client, today: date
) -> None:
    patient = PatientFactory(
        phone="+442079460958", email="ada@example.org", notes="Prefers mornings."
    )
    pump = make_pump(patient=patient, implant_date=today - timedelta(days=100))
    refill = fill(
        pump,
        on=today - timedelta(days=10),
        drug="admixture",
        concentration="5",
        concentration_unit="mg/mL",
        daily_dose="1.5",
        dose_unit="mg/day",
        volume_ml="20",
    )
    Refill.objects.filter(pk=refill.pk).update(
        notes="Hydromorphone with bupivacaine 15 mg/mL and clonidine 50 mcg/mL."
    )
    html = staff.get(reverse("patients:detail", args=[patient.pk])).content.decode()
    assert 'href="tel:+442079460958"' in html
    assert "+44 20 7946 0958" in html
    assert "Prefers mornings." in html
    assert "ada@example.org" in html
    assert "Hydromorphone with bupivacaine 15 mg/mL and clonidine 50 mcg/mL." in html

    refill_form = staff.get(reverse("pumps:log_refill", args=[pump.pk])).content.decode()
    assert 'href="tel:+442079460958"' in refill_form
    assert "Prefers mornings." in refill_form
    composition = refill_form[refill_form.index("data-composition") :]
    assert "Admixture 5 mg/mL" in composition
    assert "clonidine 50 mcg/mL" in composition


@pytest.mark.django_db
def test_a_number_kept_as_recorded_is_shown_marked_on_the_page_and_the_worklist(
    staff: Client, called_patient
) -> None:
    Patient.objects.filter(pk=called_patient.patient_id).update(
        phone="", phone_as_recorded="555-0142 (daughter)"
    )
    page = staff.get(reverse("patients:detail", args=[called_patient.patient_id]))
    html = page.content.decode()
    assert "555-0142 (daughter)" in html
    assert "not a valid number" in html
    assert "tel:" not in html
    worklist = staff.get(reverse("pumps:worklist")).content.decode()
    row = worklist[worklist.index(f'data-serial="{called_patient.serial}"') :]
    row = row[: row.index("</tr>")]
    assert "555-0142 (daughter)" in row
    assert "not a valid number" in row
    assert "tel:" not in row


@pytest.mark.django_db
def test_the_print_out_formats_the_phone_as_the_screen_does(staff: Client, called_patient) -> None:
    html = staff.get(reverse("pumps:worklist_print")).content.decode()
    assert "+1 312-555-0142" in html
    summary = staff.get(reverse("patients:summary", args=[called_patient.patient_id]))
    assert "+1 312-555-0142" in summary.content.decode()


# --- The data migration ---------------------------------------------------------------

RECORDED = {
    "US-1": ("(312) 555-0101", "+13125550101", ""),
    "US-2": ("312.555.0102", "+13125550102", ""),
    "GB-1": ("+44 20 7946 0958", "+442079460958", ""),
    "E164": ("+13125550103", "+13125550103", ""),
    "SHORT": ("555-0104", "", "555-0104"),  # no area code: kept as recorded
    "WORDS": ("ask daughter", "", "ask daughter"),
    "EXT": ("312 555 0105 ext 12", "", "312 555 0105 ext 12"),
    "NONE": ("", "", ""),
}


@pytest.mark.django_db
def test_the_migration_converts_what_it_can_read_and_keeps_the_rest(capsys) -> None:
    for mrn, (phone, _, _) in RECORDED.items():
        PatientFactory(mrn=mrn, phone=phone)
    MIGRATION.normalise_phones(apps, None)
    for mrn, (_, phone, as_recorded) in RECORDED.items():
        patient = Patient.objects.get(mrn=mrn)
        assert (patient.phone, patient.phone_as_recorded) == (phone, as_recorded), mrn
    assert "3 phone number(s) stored in E.164; 3 could not be read" in capsys.readouterr().out
    # Run again (a restored backup, say): nothing changes, nothing is lost.
    MIGRATION.normalise_phones(apps, None)
    assert Patient.objects.get(mrn="WORDS").phone_as_recorded == "ask daughter"
    # Backwards: the text kept returns to the phone.
    MIGRATION.restore_phones(apps, None)
    assert Patient.objects.get(mrn="WORDS").phone == "ask daughter"
    assert Patient.objects.get(mrn="US-1").phone == "+13125550101"


@pytest.mark.django_db(transaction=True)
def test_the_migration_runs_forwards_and_backwards_on_the_schema() -> None:
    executor = MigrationExecutor(connection)
    before = [("patients", "0008_contact_preferences")]
    latest = executor.loader.graph.leaf_nodes()  # every app: going back unapplies their dependents
    executor.migrate(before)
    try:
        old_apps = executor.loader.project_state(before).apps
        OldPatient = old_apps.get_model("patients", "Patient")
        for mrn, (phone, _, _) in RECORDED.items():
            OldPatient.objects.create(
                mrn=mrn,
                family_name="Old",
                given_name=mrn,
                birth_date=date(1950, 1, 1),
                indication="other",
                phone=phone,
            )
        executor = MigrationExecutor(connection)
        executor.migrate(latest)
        for mrn, (_, phone, as_recorded) in RECORDED.items():
            patient = Patient.objects.get(mrn=mrn)
            assert (patient.phone, patient.phone_as_recorded) == (phone, as_recorded), mrn
        executor = MigrationExecutor(connection)
        executor.migrate(before)
        with connection.cursor() as cursor:
            cursor.execute("SELECT mrn, phone FROM patients_patient ORDER BY mrn")
            phones = dict(cursor.fetchall())
        assert phones["WORDS"] == "ask daughter"  # nothing lost on the way back
        assert phones["US-1"] == "+13125550101"
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(latest)
        Patient.objects.all().delete()


# --- Visit notes on the timeline ------------------------------------------------------


@pytest.mark.django_db
def test_the_timeline_keeps_every_visit_note(staff: Client) -> None:
    from datetime import time

    from care import services as care_services
    from care.choices import VisitKind, VisitStatus
    from care.timeline import build_timeline

    pump = make_pump(implant_date=date(2025, 1, 1))
    patient = pump.patient

    def visit(kind: str, day: int, notes: str, status: str) -> None:
        booked = care_services.book_visit(
            patient=patient,
            pump=pump,
            kind=kind,
            day=date(2026, 2, day),
            at=time(9),
            today=date(2026, 1, 1),
            notes=notes,
        )
        care_services.set_visit_status(appointment=booked, status=status)

    visit(VisitKind.REFILL, 2, "Cancelled: patient in hospital.", VisitStatus.CANCELLED)
    visit(VisitKind.REFILL, 3, "", VisitStatus.CANCELLED)
    visit(VisitKind.REFILL, 4, "Came with the daughter; pump site red.", VisitStatus.DONE)
    visit(VisitKind.REFILL, 5, "", VisitStatus.DONE)
    events = [
        (event.day, event.title, event.detail, event.flag)
        for event in build_timeline(patient).events
        if event.kind == "visit"
    ]
    assert events == [
        (date(2026, 2, 2), "Refill visit", "Cancelled: patient in hospital.", "cancelled"),
        (date(2026, 2, 4), "Refill visit", "Came with the daughter; pump site red.", ""),
    ]
    html = staff.get(reverse("patients:timeline", args=[patient.pk])).content.decode()
    assert "Came with the daughter; pump site red." in html
    assert "Cancelled: patient in hospital." in html
