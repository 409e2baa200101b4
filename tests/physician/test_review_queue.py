"""The review queue: each section's contents, order, bookings and the page's query count."""

from datetime import date, time, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from care import decisions
from care import services as patient_services
from care.choices import ContactChannel, ContactOutcome, TrialDecision, VisitKind, VisitStatus
from care.models import Appointment, ContactAttempt, MriScan, Trial
from care.review_queue import annotated_review, pump_review, reviews_due
from pumps import services
from pumps.models import Drug
from tests.factories import PatientFactory, fill, make_pump
from tests.physician.conftest import page_queries

pytestmark = pytest.mark.django_db

URL = reverse("patients:review_queue")


def done_visit(pump, kind: str, on: date):
    visit = patient_services.book_visit(
        patient=pump.patient, pump=pump, kind=kind, day=on, at=time(10), today=on
    )
    return patient_services.set_visit_status(appointment=visit, status=VisitStatus.DONE)


def discrepancy_pump(today, **kwargs):
    pump = make_pump(implant_date=today - timedelta(days=300), **kwargs)
    fill(pump, on=today - timedelta(days=20))
    fill(pump, on=today - timedelta(days=10), residual_ml="1")  # 16 mL expected
    return pump


def trial(patient, **kwargs):
    values = {
        "trial_date": date(2026, 1, 5),
        "method": "single_bolus",
        "drug": Drug.objects.get(code="morphine"),
        "dose": "0.5",
        "dose_unit": "mg",
        "scale": "pain_nrs",
        "score_before": "8",
        "score_after": "3",
    }
    return Trial.objects.create(patient=patient, **(values | kwargs))


def section(response, name):
    return response.context[name]


def test_unsigned_discrepancies_of_active_pumps_are_listed_until_signed_off(
    physician_client, physician, today
):
    pump = discrepancy_pump(today)
    gone = discrepancy_pump(today)
    services.explant_pump(pump=gone, explant_date=today, reason="infection", today=today)
    refill = pump.refills.get(discrepancy=True)
    assert section(physician_client.get(URL), "discrepancies") == [refill]
    services.sign_off_discrepancy(refill=refill, user=physician, comment="ok", now=timezone.now())
    assert section(physician_client.get(URL), "discrepancies") == []


def test_batteries_to_plan_soonest_to_stop_first_with_the_consult(physician_client, today):
    """By the window's close, or for ERI the replace-by date (clinical-rules.md 5)."""
    years = 365
    window = make_pump(serial="WINDOW", implant_date=today - timedelta(days=6 * years))
    overdue = make_pump(serial="OVERDUE", implant_date=today - timedelta(days=7 * years + 10))
    eri = make_pump(serial="ERI", implant_date=today - timedelta(days=2 * years))
    services.record_eri(pump=eri, seen_on=today, today=today)
    make_pump(serial="YOUNG", implant_date=today - timedelta(days=4 * years))
    make_pump(serial="CODMAN", model="codman_3000", implant_date=today - timedelta(days=9 * years))
    patient_services.book_visit(
        patient=window.patient,
        pump=window,
        kind=VisitKind.BATTERY_CONSULT,
        day=today + timedelta(days=3),
        at=time(9),
        today=today,
    )
    batteries = section(physician_client.get(URL), "batteries")
    # The ERI pump stops in 90 days; the window pump's closes in about a year.
    assert [pump.serial for pump in batteries] == ["OVERDUE", "ERI", "WINDOW"]
    consults = {pump.serial: pump.consult_at for pump in batteries}
    assert consults["WINDOW"] is not None
    assert consults["OVERDUE"] is None
    html = physician_client.get(URL).content.decode()
    row = html[html.index('data-serial="WINDOW"') :]
    assert 'data-consult="booked"' in row[: row.index("</tr>")]
    assert overdue.battery_status(today) == "overdue"


def test_trials_awaiting_a_decision(physician_client, physician):
    pending = trial(PatientFactory())
    trial(
        PatientFactory(),
        decision=TrialDecision.CONFIRMED,
        final_outcome="success",
        decided_by=physician,
        decided_at=timezone.now(),
    )
    assert section(physician_client.get(URL), "trials") == [pending]


def test_post_mri_checks_not_done_of_patients_with_a_pump(physician_client, today):
    pump = make_pump(implant_date=today - timedelta(days=100))
    pending = MriScan.objects.create(patient=pump.patient, scanned_on=today)
    MriScan.objects.create(
        patient=pump.patient,
        scanned_on=today - timedelta(days=30),
        pump_checked_on=today - timedelta(days=30),
    )
    MriScan.objects.create(patient=PatientFactory(), scanned_on=today)  # no pump to check
    assert section(physician_client.get(URL), "mri_checks") == [pending]


def test_records_entered_in_error_wait_for_no_physician(physician_client, physician, today):
    """Section 9: a marked refill carries no flag, a marked trial or MRI waits for nothing."""
    pump = discrepancy_pump(today)
    flagged = pump.refills.get(discrepancy=True)
    pending_trial = trial(pump.patient)
    scan = MriScan.objects.create(patient=pump.patient, scanned_on=today)
    response = physician_client.get(URL)
    assert section(response, "discrepancies") == [flagged]
    assert section(response, "trials") == [pending_trial]
    assert section(response, "mri_checks") == [scan]
    now = timezone.now()
    services.mark_refill_entered_in_error(refill=flagged, user=physician, reason="x", now=now)
    decisions.mark_trial_entered_in_error(trial=pending_trial, user=physician, reason="x", now=now)
    decisions.mark_mri_entered_in_error(scan=scan, user=physician, reason="x", now=now)
    response = physician_client.get(URL)
    assert section(response, "discrepancies") == []
    assert section(response, "trials") == []
    assert section(response, "mri_checks") == []
    pump.refresh_from_db()
    assert pump.open_discrepancies == 0


def test_an_eri_battery_shows_its_replace_by_date(physician_client, today):
    pump = make_pump(serial="ERI", implant_date=today - timedelta(days=700))
    services.record_eri(pump=pump, seen_on=today - timedelta(days=3), today=today)
    html = physician_client.get(URL).content.decode()
    row = html[html.index('data-serial="ERI"') :]
    replace_by = today - timedelta(days=3) + timedelta(days=90)
    assert f"replace by {replace_by:%-d %b %Y}" in row[: row.index("</tr>")]


@pytest.mark.parametrize(
    ("days_after_implant", "expected"),
    [
        (13, None),
        (14, ("first_review", "due")),
        (42, ("first_review", "due")),
        (43, ("first_review", "overdue")),
        (364, ("first_review", "overdue")),
    ],
)
def test_first_review_in_the_queue_by_day_after_implant(today, days_after_implant, expected):
    make_pump(implant_date=today - timedelta(days=days_after_implant))
    items = [(item.kind, item.status) for item in reviews_due(today=today)]
    assert items == ([expected] if expected else [])


def test_without_any_review_the_yearly_review_is_due_from_the_implant_anniversary(today):
    pump = make_pump(implant_date=today.replace(year=today.year - 1))
    [item] = reviews_due(today=today)
    assert (item.kind, item.status, item.due) == ("physician_review", "due", today)
    assert item.pump == pump


def test_a_done_first_review_ends_the_first_review(today):
    pump = make_pump(implant_date=today - timedelta(days=30))
    done_visit(pump, VisitKind.FIRST_REVIEW, today - timedelta(days=5))
    assert reviews_due(today=today) == []


def test_a_review_done_before_the_implant_does_not_count(today):
    """A replacement pump needs its own first review."""
    patient = PatientFactory()
    old = make_pump(patient=patient, implant_date=today - timedelta(days=900))
    done_visit(old, VisitKind.PHYSICIAN_REVIEW, today - timedelta(days=100))
    services.explant_pump(
        pump=old,
        explant_date=today - timedelta(days=20),
        reason="battery_end_of_life",
        today=today,
    )
    make_pump(patient=patient, implant_date=today - timedelta(days=20))
    [item] = reviews_due(today=today)
    assert (item.kind, item.status) == ("first_review", "due")


# (kind, status, days after the implant, clinic-local time) of a patient's visits.
REVIEW_HISTORIES = {
    "none": [],
    "before the implant, even late that evening": [
        ("physician_review", "done", -1, time(23, 30)),
        ("first_review", "booked", -1, time(23, 59)),
    ],
    "on the implant day, just after midnight": [("first_review", "done", 0, time(0, 15))],
    "done and booked, of both kinds": [
        ("first_review", "done", 20, time(9)),
        ("physician_review", "done", 380, time(16)),
        ("physician_review", "booked", 760, time(9)),
        ("first_review", "booked", 745, time(11)),
    ],
    "other kinds and marks do not count": [
        ("refill", "done", 400, time(9)),
        ("physician_review", "missed", 390, time(9)),
        ("physician_review", "cancelled", 395, time(9)),
        ("battery_consult", "booked", 420, time(9)),
    ],
}


@pytest.mark.parametrize("history", REVIEW_HISTORIES)
def test_the_patient_pages_review_is_the_handover_summarys(history, today):
    """The patient page reads the review dates with its pumps, in a statement compiled
    once per process (core.compiled); the handover summary asks pump_review. The same
    rule (care.review_queue.with_review_dates), so the same answers."""
    from core.compiled import read
    from web.patient_views import _pumps

    implanted = today - timedelta(days=800)
    pump = make_pump(implant_date=implanted)
    for kind, status, days, at in REVIEW_HISTORIES[history]:
        Appointment.objects.create(
            patient=pump.patient,
            pump=pump,
            kind=kind,
            status=status,
            scheduled_at=patient_services.local_datetime(implanted + timedelta(days=days), at),
        )
    (read_pump,) = read(_pumps, pump.patient_id)
    for day in (implanted + timedelta(days=30), implanted + timedelta(days=400), today):
        page = annotated_review(
            read_pump,
            last_review_on=read_pump.last_review_on,
            review_booked_at=read_pump.review_booked_at,
            today=day,
        )
        assert page == pump_review(pump, today=day)


@pytest.mark.parametrize(("days_since_review", "due"), [(364, False), (365, True), (400, True)])
def test_the_yearly_review_is_due_on_the_anniversary_of_the_last_review(
    today, days_since_review, due
):
    pump = make_pump(implant_date=today - timedelta(days=3 * 365))
    last = today - timedelta(days=days_since_review)
    done_visit(pump, VisitKind.PHYSICIAN_REVIEW, last)
    done_visit(pump, VisitKind.PHYSICIAN_REVIEW, last - timedelta(days=200))  # older: ignored
    items = reviews_due(today=today)
    if due:
        [item] = items
        assert (item.kind, item.last_review) == ("physician_review", last)
    else:
        assert items == []


def test_a_booked_review_is_shown(physician_client, today):
    pump = make_pump(implant_date=today - timedelta(days=20))
    visit = patient_services.book_visit(
        patient=pump.patient,
        pump=pump,
        kind=VisitKind.FIRST_REVIEW,
        day=today + timedelta(days=2),
        at=time(9),
        today=today,
    )
    [item] = section(physician_client.get(URL), "reviews")
    assert item.booked_at == visit.scheduled_at


def populate(n: int, today: date) -> None:
    """n of each kind of queue entry."""
    for _ in range(n):
        discrepancy_pump(today)
        pump = make_pump(implant_date=today - timedelta(days=6 * 365))
        patient_services.book_visit(
            patient=pump.patient,
            pump=pump,
            kind=VisitKind.BATTERY_CONSULT,
            day=today,
            at=time(23, 59),
            today=today,
        )
        trial(pump.patient)
        MriScan.objects.create(patient=pump.patient, scanned_on=today)
        make_pump(implant_date=today - timedelta(days=20))
        unreachable_pump(today)


def unreachable_pump(today: date):
    """A pump overdue for its refill whose patient three calls did not reach (issue 15)."""
    pump = make_pump(implant_date=today - timedelta(days=400))
    fill(pump, on=today - timedelta(days=200))
    for hours in (1, 2, 3):
        ContactAttempt.objects.create(
            patient=pump.patient,
            pump=pump,
            attempted_at=timezone.now() - timedelta(hours=hours),
            channel=ContactChannel.CALL,
            outcome=ContactOutcome.NO_ANSWER,
        )
    return pump


def test_the_queue_query_count_is_pinned_and_does_not_grow(physician, physician_client, today):
    populate(3, today)
    # 1 session, 2 user with its roles, 3 schedule policy, 4 discrepancies (refill,
    # pump, patient, model, drug, nurse joined), 5 batteries (statuses and consult
    # annotated), 6 patients not reached (statuses, failed attempts and last
    # attempt annotated; issue 15), 7 trials, 8 MRI checks (check booking
    # annotated), 9 reviews (last review and booking annotated).
    assert len(page_queries(physician, URL)) == 9
    populate(27, today)
    assert len(page_queries(physician, URL)) == 9
    context = physician_client.get(URL).context
    assert len(context["discrepancies"]) == 30
    assert len(context["trials"]) == 30
    assert len(context["batteries"]) == len(context["mri_checks"]) == 30
    assert len(context["unreachable"]) == 30
    # Each pump lacks reviews: first review due (20 days), first review overdue
    # (300 days), yearly review overdue (6 years: five years past the anniversary).
    statuses = {(item.kind, item.status) for item in context["reviews"]}
    assert len(context["reviews"]) == 120
    assert statuses == {
        ("first_review", "due"),
        ("first_review", "overdue"),
        ("physician_review", "overdue"),
    }


@pytest.mark.parametrize(
    ("days_after_anniversary", "status"),
    [(-1, None), (0, "due"), (28, "due"), (29, "overdue"), (200, "overdue")],
)
def test_the_yearly_review_turns_overdue_four_weeks_after_its_anniversary(
    today, days_after_anniversary, status
):
    pump = make_pump(implant_date=today - timedelta(days=3 * 365))
    anniversary = today - timedelta(days=days_after_anniversary)
    last = anniversary.replace(year=anniversary.year - 1)
    done_visit(pump, VisitKind.PHYSICIAN_REVIEW, last)
    items = reviews_due(today=today)
    assert [item.status for item in items] == ([status] if status else [])
    if items:
        assert items[0].overdue_from == anniversary + timedelta(days=29)


def test_the_patient_page_shows_an_overdue_yearly_review(physician_client, today):
    pump = make_pump(implant_date=today - timedelta(days=3 * 365))
    done_visit(pump, VisitKind.PHYSICIAN_REVIEW, today - timedelta(days=400))
    html = physician_client.get(reverse("patients:detail", args=[pump.patient_id])).content.decode()
    block = html[html.index('id="review-status"') :]
    block = block[: block.index("</dd>")]
    assert "Yearly review: overdue" in block
    assert "text-bg-danger" in block


def test_the_queue_marks_an_overdue_yearly_review(physician_client, today):
    pump = make_pump(implant_date=today - timedelta(days=3 * 365))
    done_visit(pump, VisitKind.PHYSICIAN_REVIEW, today - timedelta(days=400))
    html = physician_client.get(URL).content.decode()
    assert (
        f'data-serial="{pump.serial}" data-review="physician_review" data-review-status="overdue"'
        in html
    )
