"""The physician's decisions: who may make them, what they write, and who the history names."""

from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from care.choices import TrialDecision, VisitKind, VisitStatus
from care.models import Appointment, Complication, MriScan, Trial
from patients.choices import PatientStatus
from patients.models import Patient
from pumps.models import Drug, Pump, Refill
from tests.factories import PatientFactory, fill, make_pump

pytestmark = pytest.mark.django_db


@pytest.fixture
def flagged(today) -> Refill:
    pump = make_pump(implant_date=today - timedelta(days=300))
    fill(pump, on=today - timedelta(days=20))
    return fill(pump, on=today - timedelta(days=10), residual_ml="1")  # 16 mL expected


def make_trial(patient: Patient | None = None, before: str = "8", after: str = "3", **kwargs):
    return Trial.objects.create(
        patient=patient or PatientFactory(status=PatientStatus.SCREENING),
        trial_date=date(2026, 1, 5),
        method="single_bolus",
        drug=Drug.objects.get(code="morphine"),
        dose="0.5",
        dose_unit="mg",
        scale=kwargs.pop("scale", "pain_nrs"),
        score_before=before,
        score_after=after,
        **kwargs,
    )


# --- Discrepancy sign-off -----------------------------------------------------------


def sign_off_url(refill: Refill) -> str:
    return reverse("pumps:sign_off", args=[refill.pk])


def test_a_physician_signs_off_and_the_history_names_them(physician_client, physician, flagged):
    response = physician_client.post(sign_off_url(flagged), {"comment": " Catheter patent. "})
    assert response.status_code == 302
    assert response["Location"] == reverse("patients:review_queue")
    flagged.refresh_from_db()
    assert flagged.discrepancy_signed_off_by == physician
    assert flagged.discrepancy_signed_off_at is not None
    assert flagged.discrepancy_comment == "Catheter patent."
    latest = flagged.history.latest()
    assert (latest.history_user, latest.history_type) == (physician, "~")
    assert latest.discrepancy_signed_off_by_id == physician.pk


def test_a_sign_off_needs_a_comment_and_writes_nothing_without_one(physician_client, flagged):
    versions = flagged.history.count()
    response = physician_client.post(sign_off_url(flagged), {"comment": "   "})
    assert response.status_code == 200
    assert response.context["form"].errors["comment"] == ["This field is required."]
    flagged.refresh_from_db()
    assert flagged.discrepancy_signed_off_at is None
    assert flagged.history.count() == versions


def test_a_second_submission_keeps_the_first_sign_off(physician_client, physician, flagged):
    physician_client.post(sign_off_url(flagged), {"comment": "First."})
    response = physician_client.post(sign_off_url(flagged), {"comment": "Second."}, follow=True)
    assert response.status_code == 200
    assert "already signed off" in response.content.decode()
    flagged.refresh_from_db()
    assert flagged.discrepancy_comment == "First."


@pytest.mark.parametrize("client_fixture", ["nurse_client", "admin_client_role"])
def test_nurses_and_administrators_cannot_sign_off(request, client_fixture, flagged):
    client = request.getfixturevalue(client_fixture)
    assert client.post(sign_off_url(flagged), {"comment": "Looks fine."}).status_code == 403
    assert client.get(sign_off_url(flagged)).status_code == 403
    flagged.refresh_from_db()
    assert flagged.discrepancy_signed_off_at is None


def test_a_refill_without_a_discrepancy_has_no_sign_off_page(physician_client, today):
    pump = make_pump(implant_date=today - timedelta(days=30))
    plain = fill(pump, on=today - timedelta(days=1))
    assert physician_client.get(sign_off_url(plain)).status_code == 404


def test_nurses_see_no_decision_buttons(nurse_client, physician_client, flagged):
    queue = reverse("patients:review_queue")
    assert sign_off_url(flagged) in physician_client.get(queue).content.decode()
    assert sign_off_url(flagged) not in nurse_client.get(queue).content.decode()
    detail = flagged.pump.patient.get_absolute_url()
    assert 'id="physician-actions"' in physician_client.get(detail).content.decode()
    assert 'id="physician-actions"' not in nurse_client.get(detail).content.decode()


# --- Trial decisions ----------------------------------------------------------------


def decide_url(trial: Trial) -> str:
    return reverse("patients:decide_trial", args=[trial.pk])


def test_confirming_a_success_refers_the_patient(physician_client, physician):
    trial = make_trial()
    response = physician_client.post(decide_url(trial), {"decision": "confirmed"})
    assert response.status_code == 302
    trial.refresh_from_db()
    assert (trial.decision, trial.final_outcome, trial.referred_for_implant) == (
        TrialDecision.CONFIRMED,
        "success",
        True,
    )
    assert trial.decided_by == physician
    assert trial.history.latest().history_user == physician
    trial.patient.refresh_from_db()
    assert trial.patient.status == PatientStatus.REFERRED
    assert trial.patient.history.latest().history_user == physician
    referrals = physician_client.get(reverse("patients:trials")).context["referred"]
    assert referrals == [trial]


def test_confirming_a_failure_refers_nobody(physician_client):
    trial = make_trial(before="8", after="5")  # 37.5 % less pain: failure
    physician_client.post(decide_url(trial), {"decision": "confirmed"})
    trial.refresh_from_db()
    assert (trial.final_outcome, trial.referred_for_implant) == ("failure", False)
    assert trial.patient.status == PatientStatus.SCREENING


def test_an_override_needs_a_reason_and_writes_nothing_without_one(physician_client):
    trial = make_trial(before="8", after="5")
    response = physician_client.post(
        decide_url(trial), {"decision": "overridden", "final_outcome": "success", "reason": " "}
    )
    assert response.status_code == 200
    assert response.context["form"].errors["reason"] == [
        "Say why the computed outcome is overridden."
    ]
    trial.refresh_from_db()
    assert trial.decision == TrialDecision.PENDING
    assert trial.history.count() == 1


def test_an_override_must_change_the_outcome(physician_client):
    trial = make_trial()  # computed success
    response = physician_client.post(
        decide_url(trial),
        {"decision": "overridden", "final_outcome": "success", "reason": "Because."},
    )
    assert "final_outcome" in response.context["form"].errors
    trial.refresh_from_db()
    assert trial.decision == TrialDecision.PENDING


def test_an_override_to_success_with_a_reason_refers(physician_client, physician):
    trial = make_trial(before="8", after="5")
    physician_client.post(
        decide_url(trial),
        {
            "decision": "overridden",
            "final_outcome": "success",
            "reason": "Function much improved; walked unaided.",
        },
    )
    trial.refresh_from_db()
    assert (trial.decision, trial.final_outcome, trial.referred_for_implant) == (
        TrialDecision.OVERRIDDEN,
        "success",
        True,
    )
    assert trial.decision_reason == "Function much improved; walked unaided."


def test_a_decided_trial_is_not_decided_twice(physician_client, physician):
    trial = make_trial()
    physician_client.post(decide_url(trial), {"decision": "confirmed"})
    response = physician_client.post(
        decide_url(trial),
        {"decision": "overridden", "final_outcome": "failure", "reason": "Changed my mind."},
    )
    assert response.status_code == 302
    trial.refresh_from_db()
    assert trial.decision == TrialDecision.CONFIRMED


def test_a_nurse_cannot_decide_a_trial(nurse_client):
    trial = make_trial()
    assert nurse_client.post(decide_url(trial), {"decision": "confirmed"}).status_code == 403
    trial.refresh_from_db()
    assert trial.decision == TrialDecision.PENDING


def test_a_patient_with_a_pump_is_referred_but_keeps_the_implanted_status(physician_client, today):
    pump = make_pump(implant_date=today - timedelta(days=10))
    pump.patient.status = PatientStatus.IMPLANTED
    pump.patient.save()
    trial = make_trial(patient=pump.patient)
    physician_client.post(decide_url(trial), {"decision": "confirmed"})
    pump.patient.refresh_from_db()
    assert pump.patient.status == PatientStatus.IMPLANTED
    assert physician_client.get(reverse("patients:trials")).context["referred"] == []


# --- Explant and replacement ----------------------------------------------------------


def explant_url(pump: Pump) -> str:
    return reverse("pumps:explant", args=[pump.pk])


@pytest.fixture
def old_pump(today) -> Pump:
    pump = make_pump(serial="OLD-1", implant_date=today - timedelta(days=int(6.5 * 365)))
    fill(
        pump,
        on=today - timedelta(days=10),
        drug="baclofen",
        concentration="2000",
        concentration_unit="mcg/mL",
        daily_dose="300",
        dose_unit="mcg/day",
    )
    return pump


def test_a_battery_replacement_starts_a_new_battery_window(
    physician_client, physician, old_pump, today
):
    assert old_pump.battery_status(today) == "window"
    response = physician_client.post(
        explant_url(old_pump),
        {
            "confirmed": "yes",
            "explant_date": today.isoformat(),
            "reason": "battery_end_of_life",
            "new_model": "synchromed_ii_40",
            "new_serial": "NEW-1",
            "new_implant_date": today.isoformat(),
        },
    )
    assert response.status_code == 302
    old_pump.refresh_from_db()
    assert (old_pump.explant_date, old_pump.explant_reason) == (today, "battery_end_of_life")
    new = Pump.objects.get(serial="NEW-1")
    assert new.patient == old_pump.patient
    assert new.is_active
    assert new.model.code == "synchromed_ii_40"
    assert new.battery_status(today) == "ok"
    assert new.battery_window_opens == today.replace(year=today.year + 5)
    # No fill is carried over: the fill at surgery is logged as the first refill.
    assert new.latest_fill is None
    assert old_pump.history.latest().history_user == physician
    assert new.history.latest().history_user == physician


def test_visits_booked_for_the_old_pump_move_to_the_replacement(
    physician_client, physician, old_pump, today
):
    soon = timezone.now() + timedelta(days=3)
    booked = Appointment.objects.create(
        patient=old_pump.patient, pump=old_pump, kind=VisitKind.REFILL, scheduled_at=soon
    )
    done = Appointment.objects.create(
        patient=old_pump.patient,
        pump=old_pump,
        kind=VisitKind.REFILL,
        scheduled_at=soon - timedelta(days=20),
        status=VisitStatus.DONE,
    )
    response = physician_client.post(
        explant_url(old_pump),
        {
            "confirmed": "yes",
            "explant_date": today.isoformat(),
            "reason": "battery_end_of_life",
            "new_model": "synchromed_ii_40",
            "new_serial": "NEW-1",
            "new_implant_date": today.isoformat(),
        },
    )
    assert response.status_code == 302
    new = Pump.objects.get(serial="NEW-1")
    booked.refresh_from_db()
    done.refresh_from_db()
    assert booked.pump == new  # still booked, now for the pump the patient has
    assert done.pump == old_pump  # what happened stays with the pump it happened to
    assert booked.history.latest().history_user == physician
    # The nurse's worklist shows the new, never-filled pump as booked.
    row = next(
        p
        for p in physician_client.get(reverse("pumps:worklist")).context["page"].object_list
        if p.pk == new.pk
    )
    assert row.next_booking == booked.scheduled_at


def test_an_explant_without_replacement_leaves_its_visits_alone(physician_client, old_pump, today):
    booked = Appointment.objects.create(
        patient=old_pump.patient,
        pump=old_pump,
        kind=VisitKind.REFILL,
        scheduled_at=timezone.now() + timedelta(days=3),
    )
    response = physician_client.post(
        explant_url(old_pump),
        {"confirmed": "yes", "explant_date": today.isoformat(), "reason": "infection"},
    )
    assert response.status_code == 302
    booked.refresh_from_db()
    assert (booked.pump, booked.status) == (old_pump, VisitStatus.BOOKED)


def test_a_battery_replacement_needs_the_new_pump(physician_client, old_pump, today):
    response = physician_client.post(
        explant_url(old_pump),
        {"confirmed": "yes", "explant_date": today.isoformat(), "reason": "battery_end_of_life"},
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert set(errors) == {"new_model", "new_serial", "new_implant_date"}
    old_pump.refresh_from_db()
    assert old_pump.is_active


def test_a_refused_new_pump_leaves_the_old_one_in(physician_client, old_pump, today):
    make_pump(serial="TAKEN", implant_date=today - timedelta(days=5))
    response = physician_client.post(
        explant_url(old_pump),
        {
            "confirmed": "yes",
            "explant_date": today.isoformat(),
            "reason": "other",
            "replace": "on",
            "new_model": "synchromed_ii_20",
            "new_serial": "TAKEN",
            "new_implant_date": today.isoformat(),
        },
    )
    assert response.status_code == 200
    taken = Pump.objects.get(serial="TAKEN")
    # The duplicate is named with the patient who holds it (case-insensitive match).
    assert response.context["form"].errors["new_serial"] == [
        f"Serial TAKEN is already recorded, for pump TAKEN of {taken.patient.full_name} "
        f"({taken.patient.mrn}): check the pump's card."
    ]
    old_pump.refresh_from_db()
    assert old_pump.is_active  # the explant was rolled back with the refused implant


def test_an_explant_for_infection_without_replacement(physician_client, old_pump, today):
    response = physician_client.post(
        explant_url(old_pump),
        {"confirmed": "yes", "explant_date": today.isoformat(), "reason": "infection"},
    )
    assert response.status_code == 302
    assert not Pump.objects.active().filter(patient=old_pump.patient).exists()


def test_an_explant_in_the_future_is_refused(physician_client, old_pump, today):
    tomorrow = (today + timedelta(days=1)).isoformat()
    response = physician_client.post(
        explant_url(old_pump), {"confirmed": "yes", "explant_date": tomorrow, "reason": "infection"}
    )
    assert response.context["form"].errors["explant_date"] == [
        f"{tomorrow} is after today ({today.isoformat()}): it has not happened yet."
    ]
    old_pump.refresh_from_db()
    assert old_pump.is_active


def test_an_administrator_cannot_explant(admin_client_role, old_pump, today):
    # Nurses may since issue 14; an administrator by role may not.
    response = admin_client_role.post(
        explant_url(old_pump),
        {"confirmed": "yes", "explant_date": today.isoformat(), "reason": "infection"},
    )
    assert response.status_code == 403
    old_pump.refresh_from_db()
    assert old_pump.is_active


def test_a_referred_patient_gets_an_implant_and_leaves_the_referral_list(physician_client, today):
    trial = make_trial()
    physician_client.post(decide_url(trial), {"decision": "confirmed"})
    response = physician_client.post(
        reverse("pumps:implant", args=[trial.patient_id]),
        {
            "new_model": "prometra_ii_20",
            "new_serial": "FIRST-1",
            "new_implant_date": today.isoformat(),
        },
    )
    assert response.status_code == 302
    trial.patient.refresh_from_db()
    assert trial.patient.status == PatientStatus.IMPLANTED
    assert physician_client.get(reverse("patients:trials")).context["referred"] == []


# --- MRI and complications ------------------------------------------------------------


def test_an_mri_books_the_pump_check_for_the_same_day(physician_client, physician, today):
    pump = make_pump(implant_date=today - timedelta(days=200))
    url = reverse("patients:record_mri", args=[pump.patient_id])
    data = {"scanned_on": today.isoformat(), "notes": "Lumbar MRI"}
    assert physician_client.post(url, data).status_code == 302
    assert physician_client.post(url, data).status_code == 302  # resubmitted: saved once
    scan = MriScan.objects.get()
    assert scan.pump_checked_on is None
    assert scan.history.latest().history_user == physician
    check = Appointment.objects.get()
    assert (check.kind, check.status, check.pump, check.booked_by) == (
        VisitKind.POST_MRI_CHECK,
        VisitStatus.BOOKED,
        pump,
        physician,
    )
    assert timezone.localtime(check.scheduled_at).date() == today
    response = physician_client.post(
        reverse("patients:mri_checked", args=[scan.pk]), {"checked_on": today.isoformat()}
    )
    assert response.status_code == 302
    scan.refresh_from_db()
    check.refresh_from_db()
    assert (scan.pump_checked_on, check.status) == (today, VisitStatus.DONE)
    assert scan.history.latest().history_user == physician


def test_a_future_mri_is_refused(physician_client, today):
    patient = PatientFactory()
    response = physician_client.post(
        reverse("patients:record_mri", args=[patient.pk]),
        {"scanned_on": (today + timedelta(days=1)).isoformat()},
    )
    tomorrow = today + timedelta(days=1)
    assert response.context["form"].errors["scanned_on"] == [
        f"The scan date {tomorrow} is after today ({today}): it has not happened yet."
    ]
    assert not MriScan.objects.exists()


def test_a_pump_check_before_the_scan_is_refused(physician_client, today):
    pump = make_pump(implant_date=today - timedelta(days=200))
    scan = MriScan.objects.create(patient=pump.patient, scanned_on=today)
    response = physician_client.post(
        reverse("patients:mri_checked", args=[scan.pk]),
        {"checked_on": (today - timedelta(days=1)).isoformat()},
    )
    assert response.context["form"].errors["checked_on"] == [
        "The pump check comes on or after the scan."
    ]
    scan.refresh_from_db()
    assert scan.pump_checked_on is None


def test_a_complication_is_recorded_against_the_pump_of_that_day(
    physician_client, physician, today
):
    pump = make_pump(implant_date=today - timedelta(days=200))
    url = reverse("patients:record_complication", args=[pump.patient_id])
    data = {
        "occurred_on": (today - timedelta(days=3)).isoformat(),
        "kind": "catheter_kink_or_occlusion",
        "severity": "moderate",
        "outcome": "ongoing",
        "notes": "Found at the refill.",
    }
    assert physician_client.post(url, data).status_code == 302
    assert physician_client.post(url, data).status_code == 302  # resubmitted: saved once
    complication = Complication.objects.get()
    assert (complication.pump, complication.recorded_by) == (pump, physician)
    assert complication.history.latest().history_user == physician


@pytest.mark.parametrize(
    ("field", "value"),
    [("kind", "broken_heart"), ("severity", "catastrophic"), ("outcome", "unknown")],
)
def test_a_complication_outside_the_lists_is_refused(physician_client, today, field, value):
    patient = PatientFactory()
    data = {
        "occurred_on": today.isoformat(),
        "kind": "infection",
        "severity": "mild",
        "outcome": "ongoing",
    } | {field: value}
    response = physician_client.post(
        reverse("patients:record_complication", args=[patient.pk]), data
    )
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert not Complication.objects.exists()


def test_a_nurse_cannot_record_an_mri_or_a_complication(nurse_client, today):
    patient = PatientFactory()
    mri = nurse_client.post(
        reverse("patients:record_mri", args=[patient.pk]), {"scanned_on": today.isoformat()}
    )
    complication = nurse_client.post(
        reverse("patients:record_complication", args=[patient.pk]),
        {
            "occurred_on": today.isoformat(),
            "kind": "infection",
            "severity": "mild",
            "outcome": "ongoing",
        },
    )
    assert (mri.status_code, complication.status_code) == (403, 403)
    assert not MriScan.objects.exists()
    assert not Complication.objects.exists()


def test_the_replacement_pumps_first_refill_form_offers_the_old_drug_and_dose(
    physician_client, old_pump, today
):
    physician_client.post(
        explant_url(old_pump),
        {
            "confirmed": "yes",
            "explant_date": today.isoformat(),
            "reason": "battery_end_of_life",
            "new_model": "synchromed_ii_40",
            "new_serial": "NEW-2",
            "new_implant_date": today.isoformat(),
        },
    )
    new = Pump.objects.get(serial="NEW-2")
    form = physician_client.get(reverse("pumps:log_refill", args=[new.pk])).context["form"]
    assert {key: form.initial[key] for key in ("drug", "concentration", "daily_dose")} == {
        "drug": "baclofen",
        "concentration": "2000",
        "daily_dose": "300",
    }
    assert "volume_ml" not in form.initial


def test_an_mri_recorded_late_books_the_overdue_check_today(physician_client, today):
    pump = make_pump(implant_date=today - timedelta(days=200))
    yesterday = today - timedelta(days=1)
    response = physician_client.post(
        reverse("patients:record_mri", args=[pump.patient_id]),
        {"scanned_on": yesterday.isoformat()},
    )
    assert response.status_code == 302
    check = Appointment.objects.get(kind=VisitKind.POST_MRI_CHECK)
    assert timezone.localtime(check.scheduled_at).date() == today
    queue = physician_client.get(reverse("patients:review_queue")).context["mri_checks"]
    assert [scan.scanned_on for scan in queue] == [yesterday]
