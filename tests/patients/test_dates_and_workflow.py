"""Dates that make sense and workflow sense on the patient side (issue 12, items 7 and 8).

clinical-rules.md section 8: every date within 1900-01-01..2100-12-31, an event
not after today, an implant not before birth, an explant not before its
implant; a visit booked from today up to two years ahead, never for an
explanted pump, once per pump, kind and day. Section 9: a visit marked missed
or cancelled by mistake is restored with a reason.
"""

from __future__ import annotations

import importlib
import threading
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from care import decisions, services
from care.choices import TrialDecision, VisitKind, VisitStatus
from care.devices import NewPump, record_explant, record_implant
from care.models import Appointment, Complication, MriScan, Trial
from core.roles import PHYSICIAN
from patients.choices import PatientStatus
from patients.models import Patient
from pumps import services as pump_services
from pumps.models import Drug, Pump, PumpModel
from pumps.schedule import add_years
from tests.factories import PatientFactory, UserFactory, fill, make_pump
from web.patient_admin import (
    AppointmentAdminForm,
    ComplicationAdminForm,
    MriScanAdminForm,
    PatientAdminForm,
    TrialAdminForm,
)

pytestmark = pytest.mark.django_db

repair_migration = importlib.import_module("patients.migrations.0006_date_bounds")
# The migration ran on the tables' names of its day; care.0002 renamed some since.
VISITS = Appointment._meta.db_table
RENAMED = {
    f"patients_{model._meta.model_name}": model._meta.db_table
    for model in (
        Appointment,
        Appointment.history.model,
        Trial,
        Complication,
        MriScan,
    )
}

EARLIEST, LATEST = date(1900, 1, 1), date(2100, 12, 31)
on_postgresql = pytest.mark.skipif(
    "connection.vendor != 'postgresql'", reason="PostgreSQL stores what SQLite cannot"
)


@pytest.fixture
def today() -> date:
    return timezone.localdate()


@pytest.fixture
def physician(db):
    return UserFactory(username="dr_dates", roles=[PHYSICIAN])


@pytest.fixture
def physician_client(client, physician):
    client.force_login(physician)
    return client


@pytest.fixture
def pump(today) -> Pump:
    pump = make_pump(model="synchromed_ii_40", implant_date=today - timedelta(days=700))
    fill(pump, on=today - timedelta(days=20), volume_ml="40")
    pump.refresh_from_db()
    return pump


@pytest.fixture
def old_patient() -> Patient:
    return PatientFactory(birth_date=EARLIEST, status=PatientStatus.SCREENING)


def book(pump: Pump, day: date, today: date, kind: str = VisitKind.REFILL, at: time = time(9)):
    return services.book_visit(
        patient=pump.patient, pump=pump, kind=kind, day=day, at=at, today=today
    )


def refused(call, field: str) -> str:
    """The message a service gives on ``field`` (fails if it saves)."""
    with pytest.raises(ValidationError) as caught:
        call()
    return " ".join(caught.value.message_dict[field])


# --- Dates of events: bounds, today, birth ---------------------------------------------


def trial(patient: Patient, on: date, today: date, dose: str = "0.5") -> Trial:
    return decisions.record_trial(
        patient=patient,
        trial_date=on,
        method="single_bolus",
        drug=Drug.objects.get(code="morphine"),
        dose=Decimal(dose),
        dose_unit="mg",
        scale="pain_nrs",
        score_before="8",
        score_after="3",
        today=today,
    )


def test_a_trial_on_the_first_accepted_day_and_today_is_recorded(old_patient, today):
    assert trial(old_patient, EARLIEST, today).trial_date == EARLIEST
    assert trial(old_patient, today, today).trial_date == today


def test_a_trial_before_1900_after_today_or_before_birth_is_refused(old_patient, today):
    assert refused(lambda: trial(old_patient, date(1899, 12, 31), today), "trial_date") == (
        "The trial date 1899-12-31 is outside the dates this app accepts "
        "(1900-01-01 to 2100-12-31)."
    )
    tomorrow = today + timedelta(days=1)
    assert refused(lambda: trial(old_patient, tomorrow, today), "trial_date") == (
        f"The trial date {tomorrow} is after today ({today}): it has not happened yet."
    )
    young = PatientFactory(birth_date=date(2000, 5, 2))
    assert refused(lambda: trial(young, date(2000, 5, 1), today), "trial_date") == (
        "The trial date 2000-05-01 is before the patient's birth (2000-05-02)."
    )
    assert trial(young, date(2000, 5, 2), today).trial_date == date(2000, 5, 2)
    assert Trial.objects.count() == 1


@pytest.mark.parametrize("dose", ["0", "-0.5"])
def test_a_trial_dose_of_zero_or_less_is_refused(old_patient, today, dose):
    message = refused(lambda: trial(old_patient, today, today, dose=dose), "dose")
    assert message == f"A trial dose of {Decimal(dose).normalize():f} mg is no dose: " + (
        "enter the dose given, above zero."
    )
    assert not Trial.objects.exists()


def test_the_smallest_trial_dose_is_recorded(old_patient, today):
    assert trial(old_patient, today, today, dose="0.001").dose == Decimal("0.001")


def test_the_trial_page_reads_a_decimal_comma_and_refuses_zero(physician_client, today):
    patient = PatientFactory()
    data = {
        "patient": patient.pk,
        "trial_date": today.isoformat(),
        "method": "single_bolus",
        "drug": "morphine",
        "dose": "0,0",
        "dose_unit": "mg",
        "scale": "pain_nrs",
        "score_before": "8",
        "score_after": "3",
    }
    response = physician_client.post(reverse("patients:trials"), data)
    assert response.context["form"].errors["dose"] == [
        "A trial dose of 0 mg is no dose: enter the dose given, above zero."
    ]
    assert (
        physician_client.post(reverse("patients:trials"), {**data, "dose": "0,5"}).status_code
        == 302
    )
    assert Trial.objects.get().dose == Decimal("0.5")


def test_mri_check_and_complication_dates_are_bounded(old_patient, today, physician):
    now = timezone.now()
    tomorrow = today + timedelta(days=1)
    assert refused(
        lambda: decisions.record_mri(
            patient=old_patient, scanned_on=date(1899, 12, 31), today=today, now=now, user=physician
        ),
        "scanned_on",
    ).startswith("The scan date 1899-12-31 is outside the dates this app accepts")
    scan = decisions.record_mri(
        patient=old_patient, scanned_on=EARLIEST, today=today, now=now, user=physician
    )
    assert (
        refused(
            lambda: decisions.mark_mri_checked(scan=scan, checked_on=tomorrow, today=today),
            "checked_on",
        )
        == f"The pump check date {tomorrow} is after today ({today}): it has not happened yet."
    )
    assert decisions.mark_mri_checked(scan=scan, checked_on=today, today=today).pump_checked_on

    def complication(on: date) -> Complication:
        return decisions.record_complication(
            patient=old_patient,
            occurred_on=on,
            kind="seroma",
            severity="mild",
            outcome="resolved",
            today=today,
            user=physician,
        )

    assert refused(lambda: complication(tomorrow), "occurred_on") == (
        f"The complication date {tomorrow} is after today ({today}): it has not happened yet."
    )
    assert complication(today).occurred_on == today


# --- Trial decisions: against the computed outcome needs a reason -------------------------


def test_a_decision_against_the_computed_outcome_needs_a_reason(old_patient, today, physician):
    made = trial(old_patient, today, today)  # 8 -> 3: computed success
    error = refused(
        lambda: decisions.decide_trial(
            trial=made,
            decision=TrialDecision.OVERRIDDEN,
            final_outcome="failure",
            reason="  ",
            user=physician,
            now=timezone.now(),
        ),
        "reason",
    )
    assert error == "Say why the computed outcome is overridden."
    made.refresh_from_db()
    assert (made.decision, made.final_outcome) == (TrialDecision.PENDING, "")
    decided = decisions.decide_trial(
        trial=made,
        decision=TrialDecision.OVERRIDDEN,
        final_outcome="failure",
        reason="Relief came from the test bolus of local anaesthetic.",
        user=physician,
        now=timezone.now(),
    )
    assert (decided.final_outcome, decided.referred_for_implant) == ("failure", False)


def test_confirming_the_computed_outcome_needs_no_reason(old_patient, today, physician):
    made = trial(old_patient, today, today)
    decided = decisions.decide_trial(
        trial=made, decision=TrialDecision.CONFIRMED, user=physician, now=timezone.now()
    )
    assert (decided.final_outcome, decided.decision_reason) == ("success", "")


# --- Implant, explant and replacement --------------------------------------------------


def implant(**kwargs: Any) -> Any:
    """``record_implant`` by the physician (the decision is theirs: core.roles)."""
    return record_implant(user=UserFactory(username="dr_dates", roles=[PHYSICIAN]), **kwargs)


def explant(**kwargs: Any) -> Any:
    return record_explant(user=UserFactory(username="dr_dates", roles=[PHYSICIAN]), **kwargs)


def new_pump(serial: str, on: date) -> NewPump:
    return NewPump(
        model=PumpModel.objects.get(code="synchromed_ii_20"), serial=serial, implant_date=on
    )


@pytest.mark.parametrize(
    ("serial", "accepted"),
    [("ab", False), ("abc", True), ("SN 12", False), ("A" * 30, True), ("A" * 31, False)],
)
def test_an_implant_serial_is_3_to_30_letters_digits_and_hyphens(today, serial, accepted):
    patient = PatientFactory(status=PatientStatus.REFERRED)
    if accepted:
        assert implant(patient=patient, new_pump=new_pump(serial, today), today=today)
    else:
        assert "is not a pump serial number" in refused(
            lambda: implant(patient=patient, new_pump=new_pump(serial, today), today=today),
            "new_serial",
        )


def test_a_duplicate_serial_in_other_case_names_the_patient_who_holds_it(pump, today):
    patient = PatientFactory(status=PatientStatus.REFERRED)
    holder = pump.patient
    message = refused(
        lambda: implant(
            patient=patient, new_pump=new_pump(pump.serial.lower(), today), today=today
        ),
        "new_serial",
    )
    assert message == (
        f"Serial {pump.serial.lower()} is already recorded, for pump {pump.serial} of "
        f"{holder.full_name} ({holder.mrn}): check the pump's card."
    )


def test_an_implant_before_birth_or_after_today_is_refused(today):
    patient = PatientFactory(birth_date=date(1990, 3, 1), status=PatientStatus.REFERRED)
    assert (
        refused(
            lambda: implant(
                patient=patient, new_pump=new_pump("NEW-1", date(1990, 2, 28)), today=today
            ),
            "new_implant_date",
        )
        == "The implant date 1990-02-28 is before the patient's birth (1990-03-01)."
    )
    tomorrow = today + timedelta(days=1)
    assert "has not happened yet" in refused(
        lambda: implant(patient=patient, new_pump=new_pump("NEW-1", tomorrow), today=today),
        "new_implant_date",
    )
    assert implant(
        patient=patient, new_pump=new_pump("NEW-1", date(1990, 3, 1)), today=today
    ).implant_date == date(1990, 3, 1)


def test_a_replacement_reports_every_refusal_at_once_and_changes_nothing(pump, today):
    with pytest.raises(ValidationError) as caught:
        explant(
            pump=pump,
            explant_date=today + timedelta(days=1),
            reason="battery_end_of_life",
            today=today,
            new_pump=new_pump("x", today - timedelta(days=3)),
        )
    errors = caught.value.message_dict
    assert set(errors) == {"explant_date", "new_serial", "new_implant_date"}
    pump.refresh_from_db()
    assert pump.is_active


def test_a_new_pump_cannot_go_in_before_the_old_one_came_out(pump, today):
    message = refused(
        lambda: explant(
            pump=pump,
            explant_date=today,
            reason="battery_end_of_life",
            today=today,
            new_pump=new_pump("NEW-2", today - timedelta(days=1)),
        ),
        "new_implant_date",
    )
    assert message == (
        f"The new pump cannot go in ({today - timedelta(days=1)}) before the old one "
        f"came out ({today})."
    )


def test_an_explant_before_its_implant_is_refused(pump, today):
    assert (
        refused(
            lambda: explant(
                pump=pump,
                explant_date=pump.implant_date - timedelta(days=1),
                reason="infection",
                today=today,
                new_pump=None,
            ),
            "explant_date",
        )
        == "The explant date cannot be before the implant date."
    )


# --- The admin checks the same ----------------------------------------------------------


def test_the_admin_refuses_a_birth_out_of_bounds_or_after_the_first_implant(pump, today):
    data = {
        "mrn": pump.patient.mrn,
        "family_name": "Doe",
        "given_name": "Jo",
        "indication": pump.patient.indication,
        "status": pump.patient.status,
        "travel_buffer_days": 0,
    }
    form = PatientAdminForm({**data, "birth_date": "1899-12-31"}, instance=pump.patient)
    assert form.errors["birth_date"] == [
        "The birth date 1899-12-31 is outside the dates this app accepts "
        "(1900-01-01 to 2100-12-31)."
    ]
    after = pump.implant_date + timedelta(days=1)
    form = PatientAdminForm({**data, "birth_date": after.isoformat()}, instance=pump.patient)
    assert form.errors["birth_date"] == [
        f"The birth date {after} is after the patient's first implant ({pump.implant_date})."
    ]
    form = PatientAdminForm({**data, "birth_date": "1900-01-01"}, instance=pump.patient)
    assert form.is_valid(), form.errors


def test_the_admin_refuses_event_dates_the_pages_refuse(pump, today):
    patient = pump.patient
    tomorrow = (today + timedelta(days=1)).isoformat()
    complication = ComplicationAdminForm(
        {
            "patient": patient.pk,
            "occurred_on": tomorrow,
            "kind": "seroma",
            "severity": "mild",
            "outcome": "resolved",
        }
    )
    assert "has not happened yet" in complication.errors["occurred_on"][0]
    mri = MriScanAdminForm({"patient": patient.pk, "scanned_on": "1899-12-31"})
    assert "outside the dates this app accepts" in mri.errors["scanned_on"][0]
    trial_form = TrialAdminForm(
        {
            "patient": patient.pk,
            "trial_date": "1969-12-31",  # the factory's patient was born 1970-01-01
            "method": "single_bolus",
            "drug": Drug.objects.get(code="morphine").pk,
            "dose": "0",
            "dose_unit": "mg",
            "scale": "pain_nrs",
            "score_before": "8",
            "score_after": "3",
            "decision": TrialDecision.PENDING,
        }
    )
    assert trial_form.errors["trial_date"] == [
        "The trial date 1969-12-31 is before the patient's birth (1970-01-01)."
    ]
    assert "dose" in trial_form.errors


def test_the_admin_refuses_a_visit_the_booking_page_refuses(pump, today):
    first = book(pump, today + timedelta(days=3), today)
    data = {"patient": pump.patient.pk, "pump": pump.pk, "kind": "refill", "status": "booked"}

    def form(day: date, at: str = "10:00") -> AppointmentAdminForm:
        return AppointmentAdminForm({**data, "scheduled_at": f"{day.isoformat()} {at}"})

    assert "outside the dates this app accepts" in form(date(2101, 1, 1)).errors["scheduled_at"][0]
    assert "more than 2 years ahead" in form(date(2100, 12, 31)).errors["scheduled_at"][0]
    assert "is already booked" in form(today + timedelta(days=3)).errors["scheduled_at"][0]
    assert form(today + timedelta(days=4)).is_valid()
    # Editing the note of a booked visit does not re-judge its date.
    edit = AppointmentAdminForm(
        {
            **data,
            "scheduled_at": f"{timezone.localtime(first.scheduled_at):%Y-%m-%d %H:%M}",
            "notes": "Bring the card.",
        },
        instance=first,
    )
    assert edit.is_valid(), edit.errors


# --- Query parameters never take a page down ------------------------------------------------


@pytest.mark.parametrize(
    "day",
    [
        "9999-12-31",
        "0001-01-01",
        "1899-12-31",
        "2101-01-01",
        "2026-02-30",
        "soon",
        "2026-01-01T00:00",
        "9" * 500,
    ],
)
@pytest.mark.parametrize("page", ["patients:appointments_day", "patients:appointments_week"])
def test_an_impossible_day_shows_today(nurse_client, today, page, day):
    response = nurse_client.get(reverse(page), {"day": day})
    assert response.status_code == 200
    shown = response.context.get("day") or response.context["monday"]
    assert shown == today or shown == today - timedelta(days=today.weekday())


@pytest.mark.parametrize("page", ["patients:appointments_day", "patients:appointments_week"])
def test_a_control_character_in_the_day_is_a_bad_request_not_an_error(nurse_client, page):
    assert nurse_client.get(reverse(page), {"day": "2026-01-01\x00"}).status_code in (200, 400)


@pytest.mark.parametrize("day", [EARLIEST, LATEST])
def test_the_first_and_last_accepted_days_are_shown(nurse_client, day):
    response = nurse_client.get(reverse("patients:appointments_day"), {"day": day.isoformat()})
    assert (response.status_code, response.context["day"]) == (200, day)
    week = nurse_client.get(reverse("patients:appointments_week"), {"day": day.isoformat()})
    assert week.status_code == 200


@pytest.mark.parametrize("day", ["9999-12-31", "garbage", "2101-01-01"])
def test_the_booking_page_suggests_today_for_an_impossible_day(nurse_client, pump, today, day):
    response = nurse_client.get(
        reverse("patients:book_visit", args=[pump.patient_id]), {"day": day, "kind": "<x>"}
    )
    assert response.status_code == 200
    assert response.context["form"].initial == {"day": today, "kind": VisitKind.REFILL}


# --- Booking ----------------------------------------------------------------------------


def test_a_visit_two_years_ahead_is_booked_and_a_day_later_refused(pump, today):
    limit = add_years(today, 2)
    assert book(pump, limit, today).pk
    assert refused(lambda: book(pump, limit + timedelta(days=1), today), "day") == (
        f"The visit date {limit + timedelta(days=1)} is more than 2 years ahead: "
        f"book no later than {limit}."
    )


def test_a_visit_is_booked_today(pump, today):
    assert book(pump, today, today).status == VisitStatus.BOOKED


def test_a_visit_for_an_explanted_pump_is_refused(pump, today):
    pump_services.explant_pump(pump=pump, explant_date=today, reason="infection", today=today)
    pump.refresh_from_db()
    assert refused(lambda: book(pump, today, today), "pump") == (
        f"Pump {pump.serial} was explanted on {today}: book visits for the patient's active pump."
    )
    assert not Appointment.objects.exists()


def test_a_second_visit_of_the_kind_for_the_pump_that_day_is_refused(pump, today):
    day = today + timedelta(days=5)
    first = book(pump, day, today, at=time(9, 30))
    message = refused(lambda: book(pump, day, today, at=time(15)), "day")
    assert message == (
        f"A refill visit is already booked for pump {pump.serial} on {day:%a %d %b %Y} at 09:30: "
        "change or cancel that one instead of booking a second."
    )
    # Another kind that day, the kind the next day, and after a cancellation: accepted.
    assert book(pump, day, today, kind=VisitKind.PHYSICIAN_REVIEW).pk
    assert book(pump, day + timedelta(days=1), today).pk
    services.set_visit_status(appointment=first, status=VisitStatus.CANCELLED)
    assert book(pump, day, today, at=time(15)).pk


def test_the_booking_page_shows_the_duplicate_on_the_date(nurse_client, pump, today):
    day = (today + timedelta(days=2)).isoformat()
    url = reverse("patients:book_visit", args=[pump.patient_id])
    assert nurse_client.post(url, {"kind": "refill", "day": day, "at": "09:00"}).status_code == 302
    response = nurse_client.post(url, {"kind": "refill", "day": day, "at": "11:00"})
    assert "is already booked" in response.context["form"].errors["day"][0]
    assert Appointment.objects.count() == 1


# --- ERI: the battery stops before this date ------------------------------------------------


@pytest.fixture
def eri_pump(pump, today) -> Pump:
    pump_services.record_eri(pump=pump, seen_on=today - timedelta(days=10), today=today)
    pump.refresh_from_db()
    assert pump.eri_replace_by == today + timedelta(days=80)
    return pump


def test_a_booking_after_the_battery_stops_asks_for_confirmation(nurse_client, eri_pump, today):
    url = reverse("patients:book_visit", args=[eri_pump.patient_id])
    after = eri_pump.eri_replace_by + timedelta(days=1)
    data = {"kind": "refill", "day": after.isoformat(), "at": "09:00"}
    response = nurse_client.post(url, data)
    assert response.status_code == 200
    warning = (
        f"The battery stops before this date (replace by {eri_pump.eri_replace_by:%a %d %b %Y}): "
        "book the replacement, not only the refill."
    )
    assert response.context["form"].errors["day"] == [warning]
    assert 'name="confirm_battery"' in response.content.decode()
    assert not Appointment.objects.exists()
    confirmed = nurse_client.post(url, {**data, "confirm_battery": "on"}, follow=True)
    assert warning in confirmed.content.decode()
    assert Appointment.objects.count() == 1
    day_page = nurse_client.get(reverse("patients:appointments_day"), {"day": after.isoformat()})
    assert "The battery stops before this date" in day_page.content.decode()


def test_a_booking_on_the_replace_by_day_needs_no_confirmation(nurse_client, eri_pump):
    url = reverse("patients:book_visit", args=[eri_pump.patient_id])
    day = eri_pump.eri_replace_by.isoformat()
    response = nurse_client.post(url, {"kind": "refill", "day": day, "at": "09:00"})
    assert response.status_code == 302
    assert Appointment.objects.count() == 1


# --- Restoring a visit marked missed or cancelled by mistake (section 9) ---------------------


def status_url(visit: Appointment) -> str:
    return reverse("patients:set_visit_status", args=[visit.pk])


@pytest.mark.parametrize("mistake", [VisitStatus.MISSED, VisitStatus.CANCELLED])
def test_a_visit_marked_by_mistake_is_restored_with_a_reason(nurse_client, pump, today, mistake):
    visit = book(pump, today, today)
    services.set_visit_status(appointment=visit, status=mistake)
    response = nurse_client.post(
        status_url(visit), {"status": "booked", "reason": " Wrong row clicked. "}, follow=True
    )
    assert f"Visit for {pump.patient.full_name} restored." in response.content.decode()
    visit.refresh_from_db()
    assert visit.status == VisitStatus.BOOKED
    latest = visit.history.latest()
    assert latest.history_change_reason == (
        f"Restored to booked (was {VisitStatus(mistake).label.lower()}): Wrong row clicked."
    )
    assert latest.history_user.username == "nurse"


def test_a_restore_without_a_reason_changes_nothing(nurse_client, pump, today):
    visit = book(pump, today, today)
    services.set_visit_status(appointment=visit, status=VisitStatus.MISSED)
    versions = visit.history.count()
    response = nurse_client.post(status_url(visit), {"status": "booked", "reason": ""}, follow=True)
    assert "Say why the visit is restored" in response.content.decode()
    visit.refresh_from_db()
    assert (visit.status, visit.history.count()) == (VisitStatus.MISSED, versions)


def test_a_done_or_booked_visit_is_not_restored(pump, today):
    visit = book(pump, today, today)
    assert "This visit is already booked" in refused(
        lambda: services.set_visit_status(appointment=visit, status="booked", reason="x"), "status"
    )
    services.set_visit_status(appointment=visit, status=VisitStatus.DONE)
    assert "This visit is done" in refused(
        lambda: services.set_visit_status(appointment=visit, status="booked", reason="x"), "status"
    )


def test_a_restore_that_would_double_book_the_day_is_refused(pump, today):
    visit = book(pump, today, today)
    services.set_visit_status(appointment=visit, status=VisitStatus.CANCELLED)
    book(pump, today, today, at=time(14))
    assert "is already booked" in refused(
        lambda: services.set_visit_status(appointment=visit, status="booked", reason="x"), "status"
    )


def test_the_day_page_offers_restore_for_missed_and_cancelled_visits(nurse_client, pump, today):
    missed = book(pump, today, today)
    services.set_visit_status(appointment=missed, status=VisitStatus.MISSED)
    cancelled = book(pump, today, today, kind=VisitKind.PHYSICIAN_REVIEW)
    services.set_visit_status(appointment=cancelled, status=VisitStatus.CANCELLED)
    html = nurse_client.get(reverse("patients:appointments_day")).content.decode()
    assert f'data-restore="{missed.pk}"' in html
    assert f'data-restore="{cancelled.pk}"' in html
    assert 'id="cancelled-visits"' in html


# --- The missed-visit banner clears when the pump is refilled ---------------------------------


def missed_refill(pump: Pump, day: date, today: date) -> Appointment:
    visit = book(pump, day, day)
    services.set_visit_status(appointment=visit, status=VisitStatus.MISSED)
    return visit


def test_a_refill_on_the_missed_day_clears_the_banner(pump, today):
    day = today - timedelta(days=5)
    visit = missed_refill(pump, day, today)
    assert list(Appointment.objects.missed_not_rebooked()) == [visit]
    fill(pump, on=day - timedelta(days=1), volume_ml="40")  # the day before: still missed
    assert list(Appointment.objects.missed_not_rebooked()) == [visit]
    refill = fill(pump, on=day, volume_ml="40")
    assert list(Appointment.objects.missed_not_rebooked()) == []
    pump_services.mark_refill_entered_in_error(
        refill=refill, user=UserFactory(roles=[PHYSICIAN]), reason="Wrong pump.", now=timezone.now()
    )
    assert list(Appointment.objects.missed_not_rebooked()) == [visit]


def test_a_refill_of_another_pump_leaves_the_banner(pump, today):
    day = today - timedelta(days=5)
    visit = missed_refill(pump, day, today)
    other = make_pump(implant_date=today - timedelta(days=100))
    fill(other, on=day + timedelta(days=1))
    assert list(Appointment.objects.missed_not_rebooked()) == [visit]


def test_a_later_done_visit_clears_the_banner(pump, today):
    day = today - timedelta(days=5)
    missed_refill(pump, day, today)
    later = book(pump, today, today)
    services.set_visit_status(appointment=later, status=VisitStatus.DONE)
    assert list(Appointment.objects.missed_not_rebooked()) == []


# --- The database holds the bounds; the migration repairs year 10000 ---------------------------


def test_the_database_refuses_a_visit_beyond_the_bounds(pump):
    beyond = datetime(2101, 1, 2, tzinfo=UTC)
    with pytest.raises(IntegrityError), transaction.atomic():
        Appointment.objects.create(
            patient=pump.patient, pump=pump, kind="refill", scheduled_at=beyond
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        PatientFactory(birth_date=date(1899, 12, 31))
    with pytest.raises(IntegrityError), transaction.atomic():
        MriScan.objects.create(patient=pump.patient, scanned_on=date(2101, 1, 1))


@on_postgresql
def test_the_service_and_postgresql_refuse_a_booking_in_year_9999(pump, today):
    assert "more than 2 years ahead" in refused(
        lambda: book(pump, date(9999, 12, 31), today, at=time(23, 59)), "day"
    )
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {VISITS} (patient_id, pump_id, kind, scheduled_at, status, "
            "notes, room, created_at) VALUES (%s, %s, 'refill', '10000-01-01 05:59:00+00', "
            "'booked', '', '', now())",
            [pump.patient_id, pump.pk],
        )


@on_postgresql
def test_the_migration_repairs_a_visit_stored_in_year_10000(pump):
    with connection.cursor() as cursor:
        # As it stood before the migration: the constraint is dropped inside the
        # test's transaction, which rolls it back afterwards.
        cursor.execute(f"ALTER TABLE {VISITS} DROP CONSTRAINT appointment_scheduled_at_in_bounds")
        cursor.execute(
            f"INSERT INTO {VISITS} (patient_id, pump_id, kind, scheduled_at, status, "
            "notes, room, created_at) VALUES (%s, %s, 'refill', '10000-01-01 05:59:00+00', "
            "'booked', 'Bring the card.', '', now()) RETURNING id",
            [pump.patient_id, pump.pk],
        )
        (pk,) = cursor.fetchone()
    assert repair_migration.repair_impossible_visit_dates(connection, RENAMED) == 1
    visit = Appointment.objects.get(pk=pk)  # readable again
    assert visit.status == VisitStatus.CANCELLED
    assert visit.scheduled_at == datetime(2100, 12, 31, 12, tzinfo=UTC)
    assert visit.notes == (
        "date was impossible (10000-01-01 05:59:00+00); rebook · Bring the card."
    )
    assert repair_migration.repair_impossible_visit_dates(connection, RENAMED) == 0


@on_postgresql
def test_the_migration_names_other_dates_it_cannot_repair(pump):
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # ALTER waits for no pending check
        cursor.execute("ALTER TABLE patients_patient DROP CONSTRAINT patient_birth_date_in_bounds")
        cursor.execute(
            "UPDATE patients_patient SET birth_date = '1850-01-01' WHERE id = %s",
            [pump.patient_id],
        )
    with pytest.raises(RuntimeError, match=rf"patients_patient.birth_date id {pump.patient_id}"):
        repair_migration.refuse_other_impossible_dates(connection, RENAMED)


@on_postgresql
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_bookings_of_one_pump_and_day_at_once_keep_one(today):
    """Real parallel connections: the pump's row lock queues them, so the second
    sees the first and is refused in words (SQLite has one writer: nothing to race)."""
    from django.apps import apps

    importlib.import_module("pumps.migrations.0002_catalogue").ship(apps, None)
    pump = make_pump(implant_date=today - timedelta(days=300))
    for offset in range(1, 11):
        day = today + timedelta(days=offset)
        barrier = threading.Barrier(2)
        results: list[object] = [None, None]

        def job(
            index: int,
            day: date = day,
            barrier: threading.Barrier = barrier,
            results: list[object] = results,
        ) -> None:
            try:
                barrier.wait(timeout=10)
                results[index] = book(Pump.objects.get(pk=pump.pk), day, today)
            except Exception as error:  # judged below
                results[index] = error
            finally:
                connection.close()

        threads = [threading.Thread(target=job, args=(index,)) for index in (0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        booked = [result for result in results if isinstance(result, Appointment)]
        told = [result for result in results if isinstance(result, ValidationError)]
        assert (len(booked), len(told)) == (1, 1), results
        assert "is already booked" in told[0].message_dict["day"][0]
    assert Appointment.objects.count() == 10
