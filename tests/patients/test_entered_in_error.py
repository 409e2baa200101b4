"""Correcting the record (clinical-rules.md 9) through the staff pages.

A refill, dose change, trial, MRI or complication entered by mistake is
marked entered in error by a nurse or physician, with a reason: it stays in
the record, struck through, and leaves every calculation at once.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from care import decisions, review_queue
from care.choices import VisitKind, VisitStatus
from care.models import Appointment, Complication, MriScan, Trial
from care.timeline import build_timeline
from core.roles import ADMINISTRATOR, NURSE, PHYSICIAN
from patients.choices import PatientStatus
from pumps import services
from pumps.models import DoseAdjustment, Drug, Pump, Refill
from tests.factories import UserFactory, fill, make_pump
from web.trial_views import referred_not_implanted

pytestmark = pytest.mark.django_db


def a_nurse() -> Any:
    """Who marks a record in error: a nurse or a physician (clinical-rules.md 9)."""
    return UserFactory(username="eie-nurse", roles=[NURSE])


SCHEDULE = ["refill_due", "refill_deadline", "refill_alarm", "refill_limited_by"]


@pytest.fixture
def today() -> date:
    return timezone.localdate()


@pytest.fixture
def physician(db) -> Any:
    return UserFactory(username="dr_lee", first_name="Kim", last_name="Lee", roles=[PHYSICIAN])


@pytest.fixture
def physician_client(physician: Any) -> Client:
    client = Client()
    client.force_login(physician)
    return client


def schedule_of(pump: Pump) -> dict[str, Any]:
    pump.refresh_from_db()
    return {name: getattr(pump, name) for name in SCHEDULE}


@pytest.fixture
def story(today: date) -> dict[str, Any]:
    """Two fills of a 20 mL pump; the second withdrew far less than expected (flagged)."""
    pump = make_pump(model="synchromed_ii_20", implant_date=today - timedelta(days=700))
    first = fill(pump, on=today - timedelta(days=40), volume_ml="20")
    after_first = schedule_of(pump)
    # 20 - 0.2 x 10 = 18 mL expected; 10 mL withdrawn is 8 mL off (threshold 1.0 mL).
    second = fill(
        pump, on=today - timedelta(days=30), volume_ml="20", residual_ml="10", daily_dose="4"
    )
    second.refresh_from_db()
    assert second.discrepancy
    return {
        "pump": pump,
        "first": first,
        "second": second,
        "after_first": after_first,
        "after_second": schedule_of(pump),
    }


def mark_url(patient_id: int, key: str) -> str:
    return reverse("patients:entered_in_error", args=[patient_id]) + f"?record={key}"


def restore_url(patient_id: int, key: str) -> str:
    return reverse("patients:restore_record", args=[patient_id]) + f"?record={key}"


# --- Refills -------------------------------------------------------------------------


def test_the_confirmation_page_says_the_dates_will_come_from_the_previous_fill(
    nurse_client: Client, story: dict[str, Any]
) -> None:
    pump, first, second = story["pump"], story["first"], story["second"]
    response = nurse_client.get(mark_url(pump.patient_id, f"refill-{second.pk}"))
    assert response.status_code == 200
    html = response.content.decode()
    assert f"the fill of {first.refill_date:%-d %b %Y}" in html
    assert "residual-volume flag, awaiting a physician, goes with it" in html
    assert 'name="reason"' in html
    assert "required" in html
    assert Refill.objects.get(pk=second.pk).entered_in_error_at is None  # GET changes nothing


def test_marking_the_latest_refill_recomputes_the_dates_and_drops_its_flag(
    nurse_client: Client, story: dict[str, Any], today: date
) -> None:
    pump, second = story["pump"], story["second"]
    pump.refresh_from_db()
    assert pump.open_discrepancies == 1
    assert second in review_queue.unsigned_discrepancies()
    response = nurse_client.post(
        mark_url(pump.patient_id, f"refill-{second.pk}"),
        {"record": f"refill-{second.pk}", "reason": "Logged on the wrong pump"},
    )
    assert response.status_code == 302
    assert response["Location"].endswith("#refill-history")
    second.refresh_from_db()
    assert second.is_entered_in_error
    assert second.entered_in_error_reason == "Logged on the wrong pump"
    assert second.entered_in_error_by.username == "nurse"
    assert schedule_of(pump) == story["after_first"] != story["after_second"]
    pump.refresh_from_db()
    assert pump.latest_fill_id == story["first"].pk
    assert pump.open_discrepancies == 0
    assert not pump.has_unsigned_discrepancy
    assert second not in review_queue.unsigned_discrepancies()
    due = nurse_client.get(reverse("pumps:due_list_json")).json()
    assert [item["discrepancy"] for item in due if item["serial"] == pump.serial] == [False]
    # Nothing is deleted: the refill is still in the record, with the reason in its history.
    history = second.history.latest("history_date")
    assert history.history_change_reason == "Entered in error: Logged on the wrong pump"
    assert history.history_user.username == "nurse"


def test_restoring_the_refill_brings_back_its_dates_and_flag(
    nurse_client: Client, story: dict[str, Any]
) -> None:
    pump, second = story["pump"], story["second"]
    services.mark_refill_entered_in_error(
        refill=second, user=a_nurse(), reason="test", now=timezone.now()
    )
    page = nurse_client.get(restore_url(pump.patient_id, f"refill-{second.pk}"))
    assert f"the fill of {second.refill_date:%-d %b %Y}" in page.content.decode()
    response = nurse_client.post(
        restore_url(pump.patient_id, f"refill-{second.pk}"),
        {"record": f"refill-{second.pk}", "reason": "It was the right pump after all"},
    )
    assert response.status_code == 302
    second.refresh_from_db()
    assert not second.is_entered_in_error
    assert schedule_of(pump) == story["after_second"]
    pump.refresh_from_db()
    assert pump.open_discrepancies == 1
    assert second.history.latest("history_date").history_change_reason == (
        "Restored (not in error): It was the right pump after all"
    )


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_reason_is_required_and_nothing_changes_without_one(
    nurse_client: Client, story: dict[str, Any], reason: str
) -> None:
    pump, second = story["pump"], story["second"]
    response = nurse_client.post(
        mark_url(pump.patient_id, f"refill-{second.pk}"),
        {"record": f"refill-{second.pk}", "reason": reason},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["reason"] == ["Say why: the reason stays in the record."]
    second.refresh_from_db()
    assert not second.is_entered_in_error
    assert schedule_of(pump) == story["after_second"]


def test_restoring_needs_a_reason_too(nurse_client: Client, story: dict[str, Any]) -> None:
    pump, second = story["pump"], story["second"]
    services.mark_refill_entered_in_error(
        refill=second, user=a_nurse(), reason="test", now=timezone.now()
    )
    response = nurse_client.post(
        restore_url(pump.patient_id, f"refill-{second.pk}"),
        {"record": f"refill-{second.pk}", "reason": ""},
    )
    assert response.status_code == 200
    assert "reason" in response.context["form"].errors
    assert Refill.objects.get(pk=second.pk).is_entered_in_error


def test_the_patient_page_strikes_a_marked_refill_through_with_who_when_and_why(
    nurse_client: Client, story: dict[str, Any]
) -> None:
    pump, second = story["pump"], story["second"]
    nurse_client.post(
        mark_url(pump.patient_id, f"refill-{second.pk}"),
        {"record": f"refill-{second.pk}", "reason": "Typed twice"},
    )
    html = nurse_client.get(reverse("patients:detail", args=[pump.patient_id])).content.decode()
    assert f'<tr data-refill="{second.pk}" class="entered-in-error"' in html
    assert "by nurse on" in html
    assert "Typed twice" in html
    assert restore_url(pump.patient_id, f"refill-{second.pk}").replace("&", "&amp;") in html
    # The refill still in force keeps its "Entered in error" action.
    assert mark_url(pump.patient_id, f"refill-{story['first'].pk}") in html


def test_marking_twice_changes_nothing(nurse_client: Client, story: dict[str, Any]) -> None:
    pump, second = story["pump"], story["second"]
    url = mark_url(pump.patient_id, f"refill-{second.pk}")
    nurse_client.post(url, {"record": f"refill-{second.pk}", "reason": "first"})
    response = nurse_client.post(url, {"record": f"refill-{second.pk}", "reason": "second"})
    assert response.status_code == 302
    second.refresh_from_db()
    assert second.entered_in_error_reason == "first"


@pytest.mark.parametrize(
    "key", ["", "refill", "refill-", "refill-x", "nothing-1", "refill-987654321", "-1"]
)
def test_a_record_that_is_not_there_is_a_404(
    nurse_client: Client, story: dict[str, Any], key: str
) -> None:
    response = nurse_client.get(mark_url(story["pump"].patient_id, key))
    assert response.status_code == 404


def test_another_patients_record_is_a_404(nurse_client: Client, story: dict[str, Any]) -> None:
    other = make_pump(implant_date=date(2024, 1, 1))
    key = f"refill-{story['second'].pk}"
    assert nurse_client.get(mark_url(other.patient_id, key)).status_code == 404
    response = nurse_client.post(mark_url(other.patient_id, key), {"record": key, "reason": "x"})
    assert response.status_code == 404
    assert not Refill.objects.get(pk=story["second"].pk).is_entered_in_error


def test_the_timeline_strikes_a_marked_refill_and_charts_leave_it_out(
    story: dict[str, Any],
) -> None:
    pump, second = story["pump"], story["second"]
    services.mark_refill_entered_in_error(
        refill=second, user=a_nurse(), reason="wrong pump", now=timezone.now()
    )
    timeline = build_timeline(pump.patient)
    refills = [event for event in timeline.events if event.kind == "refill"]
    assert [bool(event.entered_in_error) for event in refills] == [False, True]
    assert "wrong pump" in refills[1].entered_in_error
    assert refills[1].flag == ""  # its flag went with it
    assert [row["day"] for row in timeline.dose_rows] == [story["first"].refill_date]
    assert timeline.discrepancy_rows == []
    assert timeline.charts["discrepancy"]["threshold"] == 1.0  # a 20 mL pump's model


# --- Physician-only? No: nurses and physicians; administrators read only -------------------


def test_an_administrator_may_not_mark_a_record(client: Client, story: dict[str, Any]) -> None:
    client.force_login(UserFactory(username="admin_only", roles=[ADMINISTRATOR]))
    key = f"refill-{story['second'].pk}"
    url = mark_url(story["pump"].patient_id, key)
    assert client.get(url).status_code == 403
    assert client.post(url, {"record": key, "reason": "no"}).status_code == 403
    assert not Refill.objects.get(pk=story["second"].pk).is_entered_in_error
    page = client.get(reverse("patients:detail", args=[story["pump"].patient_id]))
    assert page.status_code == 200
    assert url not in page.content.decode()  # no action offered


def test_a_signed_out_visitor_is_sent_to_sign_in(client: Client, story: dict[str, Any]) -> None:
    response = client.get(mark_url(story["pump"].patient_id, f"refill-{story['second'].pk}"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


# --- Dose changes ----------------------------------------------------------------------


def test_a_dose_change_marked_and_restored(
    physician_client: Client, story: dict[str, Any], today: date
) -> None:
    pump = story["pump"]
    change = services.adjust_dose(
        pump=pump,
        adjusted_on=today - timedelta(days=5),
        daily_dose=Decimal("2"),
        dose_unit="mg/day",
        today=today,
    )
    with_change = schedule_of(pump)
    assert with_change != story["after_second"]
    key = f"dose_change-{change.pk}"
    page = physician_client.get(mark_url(pump.patient_id, key)).content.decode()
    assert f"the fill of {story['second'].refill_date:%-d %b %Y}, without this dose change" in page
    physician_client.post(mark_url(pump.patient_id, key), {"record": key, "reason": "other pump"})
    assert DoseAdjustment.objects.get(pk=change.pk).is_entered_in_error
    assert schedule_of(pump) == story["after_second"]
    html = physician_client.get(reverse("patients:detail", args=[pump.patient_id])).content.decode()
    assert f'data-dose-change="{change.pk}"' in html
    assert "<del>" in html
    physician_client.post(restore_url(pump.patient_id, key), {"record": key, "reason": "right"})
    assert not DoseAdjustment.objects.get(pk=change.pk).is_entered_in_error
    assert schedule_of(pump) == with_change


# --- Trials ----------------------------------------------------------------------------


def make_trial(patient: Any, today: date, **fields: Any) -> Trial:
    values = {
        "patient": patient,
        "trial_date": today,
        "method": "single_bolus",
        "drug": Drug.objects.get(code="baclofen"),
        "dose": "50",
        "dose_unit": "mcg",
        "scale": "pain_nrs",
        "score_before": "8",
        "score_after": "2",
    }
    return Trial.objects.create(**(values | fields))


def test_a_pending_trial_in_error_leaves_the_queue_and_comes_back_restored(
    physician_client: Client, story: dict[str, Any], today: date
) -> None:
    trial = make_trial(story["pump"].patient, today)
    key = f"trial-{trial.pk}"
    patient_id = trial.patient_id
    assert trial in review_queue.trials_awaiting_decision()
    physician_client.post(mark_url(patient_id, key), {"record": key, "reason": "wrong patient"})
    assert trial not in review_queue.trials_awaiting_decision()
    trials_page = physician_client.get(reverse("patients:trials")).content.decode()
    assert f'data-trial="{trial.pk}"' not in trials_page
    # Nothing to decide on a trial in error.
    response = physician_client.get(reverse("patients:decide_trial", args=[trial.pk]))
    assert response.status_code == 302
    physician_client.post(restore_url(patient_id, key), {"record": key, "reason": "it was"})
    assert trial in review_queue.trials_awaiting_decision()


def test_a_referred_trial_in_error_is_no_success(
    physician_client: Client, physician: Any, today: date
) -> None:
    patient = make_pump(implant_date=date(2024, 1, 1)).patient
    Pump.objects.filter(patient=patient).update(explant_date=today, explant_reason="other")
    trial = decisions.decide_trial(
        trial=make_trial(patient, today), decision="confirmed", user=physician, now=timezone.now()
    )
    patient.refresh_from_db()
    assert patient.status == PatientStatus.REFERRED
    assert trial in referred_not_implanted()
    key = f"trial-{trial.pk}"
    page = physician_client.get(mark_url(patient.pk, key)).content.decode()
    assert "A trial in error is not a success" in page
    physician_client.post(mark_url(patient.pk, key), {"record": key, "reason": "scores swapped"})
    assert trial not in referred_not_implanted()
    patient.refresh_from_db()
    assert patient.status == PatientStatus.SCREENING
    referrals = physician_client.get(reverse("patients:trials")).content.decode()
    assert f'data-patient="{patient.pk}"' not in referrals
    physician_client.post(restore_url(patient.pk, key), {"record": key, "reason": "checked"})
    patient.refresh_from_db()
    assert patient.status == PatientStatus.REFERRED
    assert trial in referred_not_implanted()


# --- MRI -------------------------------------------------------------------------------


def test_an_mri_in_error_cancels_its_booked_check_and_leaves_the_queue(
    physician_client: Client, physician: Any, story: dict[str, Any], today: date
) -> None:
    patient = story["pump"].patient
    scan = decisions.record_mri(
        patient=patient,
        scanned_on=today,
        today=today,
        now=timezone.make_aware(datetime.combine(today, time(8, 0))),
        user=physician,
    )
    check = Appointment.objects.get(patient=patient, kind=VisitKind.POST_MRI_CHECK)
    assert check.status == VisitStatus.BOOKED
    assert scan in review_queue.pending_mri_checks()
    key = f"mri-{scan.pk}"
    page = physician_client.get(mark_url(patient.pk, key)).content.decode()
    assert "The post-MRI pump check still booked for" in page
    assert "will be cancelled" in page
    physician_client.post(mark_url(patient.pk, key), {"record": key, "reason": "other patient"})
    check.refresh_from_db()
    assert check.status == VisitStatus.CANCELLED
    assert scan not in review_queue.pending_mri_checks()
    assert MriScan.objects.get(pk=scan.pk).is_entered_in_error
    # Restored: it waits for its check again; the cancelled visit stays cancelled.
    physician_client.post(restore_url(patient.pk, key), {"record": key, "reason": "it was"})
    assert scan in review_queue.pending_mri_checks()
    check.refresh_from_db()
    assert check.status == VisitStatus.CANCELLED


def test_an_mri_in_error_keeps_the_check_another_pending_mri_needs(
    physician: Any, story: dict[str, Any], today: date
) -> None:
    patient = story["pump"].patient
    now = timezone.make_aware(datetime.combine(today, time(8, 0)))
    yesterday = today - timedelta(days=1)
    earlier = decisions.record_mri(  # its check was booked yesterday, and is still booked
        patient=patient, scanned_on=yesterday, today=yesterday, now=now, user=physician
    )
    decisions.record_mri(patient=patient, scanned_on=today, today=today, now=now, user=physician)
    _, cancelled = decisions.mark_mri_entered_in_error(
        scan=MriScan.objects.get(patient=patient, scanned_on=today),
        user=physician,
        reason="double",
        now=now,
    )
    assert cancelled == 0  # the earlier scan still waits for a check on or after it
    assert earlier in review_queue.pending_mri_checks()


# --- Complications ---------------------------------------------------------------------


def test_a_complication_marked_and_restored(
    nurse_client: Client, story: dict[str, Any], today: date
) -> None:
    complication = Complication.objects.create(
        patient=story["pump"].patient, occurred_on=today, kind="seroma", severity="mild"
    )
    key = f"complication-{complication.pk}"
    patient_id = complication.patient_id
    nurse_client.post(mark_url(patient_id, key), {"record": key, "reason": "not this patient"})
    complication.refresh_from_db()
    assert complication.is_entered_in_error
    html = nurse_client.get(reverse("patients:detail", args=[patient_id])).content.decode()
    assert f'data-complication="{complication.pk}"' in html
    assert "<del>" in html
    assert "not this patient" in html
    timeline = build_timeline(complication.patient)
    assert [e.entered_in_error != "" for e in timeline.events if e.kind == "complication"] == [True]
    nurse_client.post(restore_url(patient_id, key), {"record": key, "reason": "it is"})
    complication.refresh_from_db()
    assert not complication.is_entered_in_error
    assert Complication.objects.filter(pk=complication.pk).exists()  # never deleted


# --- Patient page: battery replace-by, bolus allowance, expected range -----------------


def test_the_patient_page_shows_the_replace_by_date_and_the_bolus_allowance(
    nurse_client: Client, today: date
) -> None:
    pump = make_pump(model="prometra_ii_20", implant_date=today - timedelta(days=700))
    drug = Drug.objects.get(code="morphine")

    def record(on: date, residual: str | None, eri: bool = False) -> Refill:
        return services.record_fill(
            pump=pump,
            fill=services.Fill(
                refill_date=on,
                drug=drug,
                concentration=Decimal("20"),
                concentration_unit="mg/mL",
                daily_dose=Decimal("2"),
                dose_unit="mg/day",
                volume_ml=Decimal("20"),
                residual_ml=Decimal(residual) if residual else None,
                eri=eri,
                bolus_dose=Decimal("0.5"),
                boluses_per_day=4,
            ),
            today=today,
        )

    record(today - timedelta(days=20), None)
    record(today - timedelta(days=10), "17", eri=True)
    pump.refresh_from_db()
    html = nurse_client.get(reverse("patients:detail", args=[pump.patient_id])).content.decode()
    eri_on = today - timedelta(days=10)
    replace_by = eri_on + timedelta(days=90)
    assert pump.eri_replace_by == replace_by
    assert f"ERI since {eri_on:%-d %b %Y}; <strong>replace by {replace_by:%-d %b %Y}" in html
    assert "bolus 0.5 mg up to 4\N{MULTIPLICATION SIGN}/day" in html
    # 20 - 0.1 x 10 = 19 mL basal; 20 - 0.2 x 10 = 18 mL with every bolus taken.
    assert "18.00 to 19.00 mL" in html
