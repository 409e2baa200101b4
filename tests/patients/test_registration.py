"""Issue 14: staff register a patient and implant, explant or replace a pump without
the admin, and Missed, Cancel, explant and replacement ask once before they act."""

from __future__ import annotations

from datetime import date, time, timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from care.choices import VisitKind, VisitStatus
from care.models import Appointment
from care.registration import NewPatient, mrn_refusal, register_patient
from care.services import local_datetime
from core.roles import ADMINISTRATOR, NURSE, PHYSICIAN
from patients.choices import ContactBy, PatientStatus
from patients.models import Patient
from pumps.models import Pump
from tests.factories import PatientFactory, UserFactory, make_pump

pytestmark = pytest.mark.django_db

REGISTER = reverse("patients:register")


def client_for(*roles: str) -> Client:
    client = Client()
    client.force_login(UserFactory(roles=list(roles)))
    return client


def form_data(**overrides: Any) -> dict[str, Any]:
    data = {
        "mrn": "  MRN-7001 ",
        "family_name": "Haddad",
        "given_name": "Mira",
        "birth_date": "1968-03-14",
        "indication": "multiple_sclerosis",
        "status": PatientStatus.REFERRED,
        "treating_physician": "",
        "phone": "+44 20 7946 0000",
        "email": "",
        "contact_by": ContactBy.SMS,
        "consent_to_contact": "on",
        "consent_recorded_on": "",
        "travel_buffer_days": "3",
        "notes": "",
    }
    data.update(overrides)
    return data


# --- Registering a patient ---------------------------------------------------------


@pytest.mark.parametrize("role", [NURSE, PHYSICIAN])
def test_a_nurse_or_physician_registers_a_patient_and_goes_on_to_the_implant(role: str) -> None:
    client = client_for(role)
    assert client.get(REGISTER).status_code == 200
    response = client.post(REGISTER, form_data())
    patient = Patient.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("pumps:implant", args=[patient.pk])
    assert patient.mrn == "MRN-7001"  # stripped
    assert patient.status == PatientStatus.REFERRED
    assert patient.contact_by == ContactBy.SMS
    assert patient.consent_to_contact
    # Consent ticked without a day: recorded on the day of registration.
    assert patient.consent_recorded_on == timezone.localdate()
    assert patient.travel_buffer_days == 3
    assert patient.history.get().history_user is not None


@pytest.mark.parametrize(("roles", "status"), [([ADMINISTRATOR], 403), ([], 403)])
def test_other_roles_may_not_register(roles: list[str], status: int) -> None:
    client = client_for(*roles)
    assert client.get(REGISTER).status_code == status
    assert client.post(REGISTER, form_data()).status_code == status
    assert not Patient.objects.exists()


def test_anonymous_goes_to_sign_in() -> None:
    response = Client().get(REGISTER)
    assert response.status_code == 302
    assert "login" in response["Location"] or "sign" in response["Location"]


def test_a_duplicate_record_number_links_to_the_existing_patient(nurse_client: Client) -> None:
    existing = PatientFactory(mrn="MRN-7001", family_name="Okafor", given_name="Ada")
    response = nurse_client.post(REGISTER, form_data(mrn="mrn-7001 "))
    assert response.status_code == 200
    html = response.content.decode()
    assert "already registered" in html
    assert f'href="{existing.get_absolute_url()}"' in html
    assert Patient.objects.count() == 1


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"mrn": "MRN\u200b7001"}, "mrn", "invisible"),
        ({"family_name": "Had\u200ddad"}, "family_name", "invisible"),
        ({"birth_date": "1850-01-01"}, "birth_date", "birth date"),
        ({"birth_date": "2099-01-01"}, "birth_date", "birth date"),
        ({"contact_by": ContactBy.EMAIL, "email": ""}, "email", "email address"),
        ({"contact_by": ContactBy.PHONE, "phone": ""}, "phone", "phone number"),
        ({"consent_to_contact": ""}, "consent_to_contact", "not consented"),
        ({"consent_recorded_on": "1960-01-01"}, "consent_recorded_on", "birth"),
        ({"travel_buffer_days": "61"}, "travel_buffer_days", "60"),
    ],
)
def test_each_refusal_is_on_its_field_and_nothing_is_saved(
    nurse_client: Client, overrides: dict[str, str], field: str, message: str
) -> None:
    response = nurse_client.post(REGISTER, form_data(**overrides))
    assert response.status_code == 200
    errors = " ".join(response.context["form"].errors.get(field, []))
    assert message in errors, response.context["form"].errors
    assert not Patient.objects.exists()


def test_not_to_be_contacted_needs_no_consent(nurse_client: Client) -> None:
    response = nurse_client.post(
        REGISTER, form_data(contact_by=ContactBy.NONE, consent_to_contact="", phone="")
    )
    assert response.status_code == 302
    patient = Patient.objects.get()
    assert not patient.consent_to_contact
    assert patient.consent_recorded_on is None


def test_the_service_refuses_the_same_way_for_every_door(today: date) -> None:
    PatientFactory(mrn="A-1")
    new = NewPatient(
        mrn="a-1", family_name="X", given_name="Y", birth_date=date(1990, 1, 1), indication="other"
    )
    with pytest.raises(Exception, match="already registered"):
        register_patient(new=new, today=today)
    assert mrn_refusal("A-1\u2060") is not None  # word joiner
    assert mrn_refusal("   ") == "Enter the record number."


def test_the_admin_add_form_uses_the_same_record_number_rule(admin_client: Client) -> None:
    existing = PatientFactory(mrn="ADM-1")
    response = admin_client.post(
        reverse("admin:patients_patient_add"),
        {
            "mrn": "adm-1",
            "family_name": "Z",
            "given_name": "Q",
            "birth_date": "1980-01-01",
            "indication": "other",
            "status": "referred",
            "travel_buffer_days": "0",
            "contact_by": "none",
        },
    )
    assert response.status_code == 200
    assert existing.get_absolute_url() in response.content.decode()
    assert Patient.objects.count() == 1


def test_the_navbar_offers_registration_to_clinical_staff_only() -> None:
    assert REGISTER in client_for(NURSE).get(reverse("pumps:worklist")).content.decode()
    assert REGISTER not in client_for(ADMINISTRATOR).get(reverse("pumps:worklist")).content.decode()


# --- Implant ---------------------------------------------------------------------


def implant_data(**overrides: str) -> dict[str, str]:
    data = {
        "new_model": "synchromed_ii_40",
        "new_serial": "NGP123456",
        "new_implant_date": timezone.localdate().isoformat(),
        "new_alarm_ml_override": "",
    }
    data.update(overrides)
    return data


def test_a_nurse_implants_the_first_pump_with_an_alarm_override(nurse_client: Client) -> None:
    patient = PatientFactory(status=PatientStatus.REFERRED)
    url = reverse("pumps:implant", args=[patient.pk])
    assert nurse_client.get(url).status_code == 200
    response = nurse_client.post(url, implant_data(new_alarm_ml_override="2,5"))
    assert response.status_code == 302
    pump = Pump.objects.get(patient=patient)
    assert pump.serial == "NGP123456"
    assert str(pump.alarm_ml_override) == "2.50"
    patient.refresh_from_db()
    assert patient.status == PatientStatus.IMPLANTED


def test_an_administrator_may_not_implant() -> None:
    patient = PatientFactory(status=PatientStatus.REFERRED)
    url = reverse("pumps:implant", args=[patient.pk])
    assert client_for(ADMINISTRATOR).post(url, implant_data()).status_code == 403
    assert not Pump.objects.exists()


def test_a_duplicate_serial_in_any_case_links_to_its_patient(nurse_client: Client) -> None:
    holder = make_pump(serial="NGP123456")
    patient = PatientFactory(status=PatientStatus.REFERRED)
    response = nurse_client.post(
        reverse("pumps:implant", args=[patient.pk]), implant_data(new_serial="ngp123456")
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "already recorded" in html
    assert f'href="{holder.patient.get_absolute_url()}"' in html
    assert not Pump.objects.filter(patient=patient).exists()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"new_serial": "NG P"}, "new_serial"),
        ({"new_implant_date": "2099-01-01"}, "new_implant_date"),
        ({"new_implant_date": "1960-01-01"}, "new_implant_date"),  # before birth (1970)
        ({"new_alarm_ml_override": "40"}, "new_alarm_ml_override"),  # the reservoir's size
        ({"new_alarm_ml_override": "1.5.2"}, "new_alarm_ml_override"),
    ],
)
def test_implant_refusals(nurse_client: Client, overrides: dict[str, str], field: str) -> None:
    patient = PatientFactory(status=PatientStatus.REFERRED)
    response = nurse_client.post(
        reverse("pumps:implant", args=[patient.pk]), implant_data(**overrides)
    )
    assert response.status_code == 200
    assert response.context["form"].errors.get(field), response.context["form"].errors
    assert not Pump.objects.exists()


# --- Explant and replacement: asked once ---------------------------------------------


def explant_data(**overrides: str) -> dict[str, str]:
    data = {
        "explant_date": timezone.localdate().isoformat(),
        "reason": "infection",
        "replace": "",
        "new_model": "",
        "new_serial": "",
        "new_implant_date": "",
    }
    data.update(overrides)
    return data


def test_an_explant_is_confirmed_before_it_is_recorded(nurse_client: Client) -> None:
    pump = make_pump(implant_date=date(2024, 1, 1))
    url = reverse("pumps:explant", args=[pump.pk])
    response = nurse_client.post(url, explant_data())
    assert response.status_code == 200
    html = response.content.decode()
    assert "What will happen" in html
    assert "no active pump afterwards" in html
    pump.refresh_from_db()
    assert pump.explant_date is None  # asked, not done
    response = nurse_client.post(url, {**explant_data(), "confirmed": "yes"})
    assert response.status_code == 302
    pump.refresh_from_db()
    assert pump.explant_date == timezone.localdate()
    assert pump.explant_reason == "infection"


def test_a_replacement_says_what_will_happen_and_can_go_back() -> None:
    physician_client = client_for(PHYSICIAN)
    pump = make_pump(implant_date=date(2024, 1, 1))
    url = reverse("pumps:explant", args=[pump.pk])
    data = explant_data(
        reason="battery_end_of_life",
        new_model="synchromed_ii_40",
        new_serial="NEW-1",
        new_implant_date=timezone.localdate().isoformat(),
    )
    html = physician_client.post(url, data).content.decode()
    assert "Replace pump" in html
    assert "NEW-1" in html
    assert "battery window" in html
    assert not Pump.objects.filter(serial="NEW-1").exists()
    # "Change the details" goes back to the form with what was typed.
    back = physician_client.post(url, {**data, "confirmed": "yes", "change": "1"})
    assert back.context["form"].data["new_serial"] == "NEW-1"
    assert not Pump.objects.filter(serial="NEW-1").exists()
    assert physician_client.post(url, {**data, "confirmed": "yes"}).status_code == 302
    assert Pump.objects.get(serial="NEW-1").patient_id == pump.patient_id


def test_a_replacement_with_a_used_serial_is_refused_before_the_confirmation(
    nurse_client: Client,
) -> None:
    holder = make_pump(serial="TAKEN-1")
    pump = make_pump(implant_date=date(2024, 1, 1))
    response = nurse_client.post(
        reverse("pumps:explant", args=[pump.pk]),
        explant_data(
            reason="battery_end_of_life",
            new_model="synchromed_ii_40",
            new_serial="taken-1",
            new_implant_date=timezone.localdate().isoformat(),
        ),
    )
    html = response.content.decode()
    assert "What will happen" not in html
    assert f'href="{holder.patient.get_absolute_url()}"' in html
    pump.refresh_from_db()
    assert pump.explant_date is None  # the dry run left nothing behind


def test_an_administrator_may_not_explant() -> None:
    pump = make_pump()
    response = client_for(ADMINISTRATOR).post(
        reverse("pumps:explant", args=[pump.pk]), {**explant_data(), "confirmed": "yes"}
    )
    assert response.status_code == 403


# --- Missed and Cancel: asked once -----------------------------------------------------


@pytest.fixture
def visit() -> Appointment:
    pump = make_pump()
    return Appointment.objects.create(
        patient=pump.patient,
        pump=pump,
        kind=VisitKind.REFILL,
        scheduled_at=local_datetime(timezone.localdate() + timedelta(days=1), time(10, 0)),
    )


@pytest.mark.parametrize(
    ("status", "says"),
    [(VisitStatus.MISSED, "Missed visits"), (VisitStatus.CANCELLED, "cancelled visits")],
)
def test_missed_and_cancel_ask_first(
    nurse_client: Client, visit: Appointment, status: str, says: str
) -> None:
    url = reverse("patients:set_visit_status", args=[visit.pk])
    response = nurse_client.get(url, {"status": status, "next": "/patients/visits/"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "What will happen" in html
    assert says in html
    assert "is not booked any more" in html
    visit.refresh_from_db()
    assert visit.status == VisitStatus.BOOKED  # GET changes nothing
    response = nurse_client.post(url, {"status": status, "next": "/patients/visits/"})
    assert response["Location"] == "/patients/visits/"
    visit.refresh_from_db()
    assert visit.status == status


def test_the_lists_link_missed_and_cancel_to_the_question(
    nurse_client: Client, visit: Appointment
) -> None:
    day = timezone.localdate() + timedelta(days=1)
    html = nurse_client.get(
        reverse("patients:appointments_day"), {"day": day.isoformat()}
    ).content.decode()
    confirm = reverse("patients:set_visit_status", args=[visit.pk])
    assert f'href="{confirm}?status=missed' in html
    assert f'href="{confirm}?status=cancelled' in html


def test_the_question_ignores_an_outside_next_and_an_unknown_status(
    nurse_client: Client, visit: Appointment
) -> None:
    url = reverse("patients:set_visit_status", args=[visit.pk])
    response = nurse_client.get(url, {"status": "missed", "next": "https://evil.example/"})
    assert "evil.example" not in response.content.decode()
    assert nurse_client.get(url, {"status": "done"}).status_code == 405
    assert nurse_client.get(url).status_code == 405


def test_a_visit_no_longer_booked_is_not_asked_about(
    nurse_client: Client, visit: Appointment
) -> None:
    visit.status = VisitStatus.DONE
    visit.save()
    url = reverse("patients:set_visit_status", args=[visit.pk])
    response = nurse_client.get(url, {"status": "missed"})
    assert response.status_code == 302


def test_an_administrator_is_not_asked(visit: Appointment) -> None:
    url = reverse("patients:set_visit_status", args=[visit.pk])
    assert client_for(ADMINISTRATOR).get(url, {"status": "missed"}).status_code == 403
