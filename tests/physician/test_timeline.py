"""The patient timeline: events in date order, the charts' data and the page's query count."""

import json
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from care import decisions
from care import services as patient_services
from care.choices import VisitKind
from care.models import Complication, MriScan, Trial
from care.timeline import build_timeline
from pumps import services
from pumps.models import DoseAdjustment, Drug, Refill
from tests.factories import PatientFactory, fill, make_pump
from tests.physician.conftest import page_queries

pytestmark = pytest.mark.django_db

D0 = date(2024, 3, 1)
NOW = timezone.make_aware(datetime(2024, 9, 1, 10, 0))


def day(n: int) -> date:
    return D0 + timedelta(days=n)


@pytest.fixture
def story():
    """Trial, implant, fills (one flagged), a dose change, an MRI, a complication,
    a review and a replacement."""
    patient = PatientFactory()
    Trial.objects.create(
        patient=patient,
        trial_date=day(-30),
        method="single_bolus",
        drug=Drug.objects.get(code="morphine"),
        dose="0.5",
        dose_unit="mg",
        scale="pain_nrs",
        score_before="8",
        score_after="2",
    )
    old = make_pump(patient=patient, serial="OLD", implant_date=day(0))
    fill(old, on=day(0), daily_dose="4", volume_ml="20")
    # 20 - 0.2 x 30 = 14 mL expected; 17 withdrawn: +3 mL, flagged.
    services.record_fill(
        pump=old,
        fill=services.Fill(
            refill_date=day(30),
            drug=Drug.objects.get(code="morphine"),
            concentration=Decimal("20"),
            concentration_unit="mg/mL",
            daily_dose=Decimal("4500"),
            dose_unit="mcg/day",
            volume_ml=Decimal("20"),
            residual_ml=Decimal("17"),
        ),
        pain_score=3,
        today=day(400),
    )
    services.adjust_dose(
        pump=old, adjusted_on=day(40), daily_dose=Decimal("5"), dose_unit="mg/day", today=day(400)
    )
    MriScan.objects.create(patient=patient, scanned_on=day(50), pump_checked_on=day(50))
    Complication.objects.create(
        patient=patient, pump=old, occurred_on=day(55), kind="seroma", severity="mild"
    )
    visit = patient_services.book_visit(
        patient=patient,
        pump=old,
        kind=VisitKind.FIRST_REVIEW,
        day=day(21),
        at=time(9),
        today=day(0),
    )
    patient_services.set_visit_status(appointment=visit, status="done")
    services.explant_pump(pump=old, explant_date=day(60), reason="other", today=day(400))
    new = make_pump(patient=patient, serial="NEW", implant_date=day(60))
    fill(
        new,
        on=day(60),
        drug="baclofen",
        concentration="2000",
        concentration_unit="mcg/mL",
        daily_dose="300",
        dose_unit="mcg/day",
        volume_ml="20",
    )
    return patient


def test_events_in_date_order(story):
    timeline = build_timeline(story)
    assert [(event.day, event.kind) for event in timeline.events] == [
        (day(-30), "trial"),
        (day(0), "implant"),
        (day(0), "refill"),
        (day(21), "visit"),
        (day(30), "refill"),
        (day(40), "dose_change"),
        (day(50), "mri"),
        (day(50), "mri_check"),
        (day(55), "complication"),
        (day(60), "explant"),
        (day(60), "implant"),
        (day(60), "refill"),
    ]
    flagged = timeline.events[4]
    assert flagged.flag == "discrepancy"


def test_the_dose_chart_keeps_each_drug_in_its_latest_unit(story):
    charts = build_timeline(story).charts
    datasets = {dataset["label"]: dataset["points"] for dataset in charts["dose"]["datasets"]}
    # Morphine's last record (the dose change) is in mg/day: 4500 mcg/day shows as 4.5.
    assert datasets == {
        "Morphine (mg/day)": [
            {"x": "2024-03-01", "y": 4.0},
            {"x": "2024-03-31", "y": 4.5},
            {"x": "2024-04-10", "y": 5.0},
        ],
        "Baclofen (mcg/day)": [{"x": "2024-04-30", "y": 300.0}],
    }


def test_the_score_and_discrepancy_charts(story):
    timeline = build_timeline(story)
    assert timeline.charts["scores"]["datasets"] == [
        {"label": "Pain (NRS 0 to 10)", "axis": "pain", "points": [{"x": "2024-03-31", "y": 3}]}
    ]
    # The threshold is the pump model's (section 4): 1.0 mL for a 20 mL SynchroMed.
    assert timeline.charts["discrepancy"] == {
        "threshold": 1.0,
        "points": [{"x": "2024-03-31", "y": 3.0, "flagged": True}],
    }
    [row] = timeline.discrepancy_rows
    assert (row["expected"], row["actual"], row["difference"]) == (
        Decimal("14.000"),
        Decimal("17.00"),
        Decimal("3.000"),
    )


def test_ashworth_1_plus_is_charted_as_one_and_a_half(today):
    pump = make_pump(implant_date=today - timedelta(days=100))
    services.record_fill(
        pump=pump,
        fill=services.Fill(
            refill_date=today - timedelta(days=50),
            drug=Drug.objects.get(code="baclofen"),
            concentration=Decimal("2000"),
            concentration_unit="mcg/mL",
            daily_dose=Decimal("300"),
            dose_unit="mcg/day",
            volume_ml=Decimal("20"),
        ),
        ashworth_score="1+",
        today=today,
    )
    charts = build_timeline(pump.patient).charts
    [dataset] = charts["scores"]["datasets"]
    assert (dataset["axis"], dataset["points"][0]["y"]) == ("ashworth", 1.5)


def test_the_page_has_the_chart_data_tables_and_vendored_chartjs(physician_client, story):
    response = physician_client.get(reverse("patients:timeline", args=[story.pk]))
    html = response.content.decode()
    start = html.index('<script id="timeline-data" type="application/json">')
    data = json.loads(html[html.index(">", start) + 1 : html.index("</script>", start)])
    assert data == response.context["charts"]
    for table in ("table-dose", "table-scores", "table-discrepancy"):
        assert f'id="{table}"' in html
    assert "/static/vendor/chartjs-4.6.1/chart.umd.min.js" in html
    assert "cdn" not in html.lower()


def test_records_entered_in_error_are_struck_through_and_left_out_of_the_charts(
    physician, physician_client, story
):
    """Section 9: the event list keeps them, struck through; charts and tables do not."""
    flagged = Refill.objects.get(pump__serial="OLD", refill_date=day(30))
    services.mark_refill_entered_in_error(
        refill=flagged, user=physician, reason="Withdrawn volume of another patient", now=NOW
    )
    change = DoseAdjustment.objects.get(pump__serial="OLD")
    services.mark_dose_change_entered_in_error(
        adjustment=change, user=physician, reason="Never reprogrammed", now=NOW
    )
    scan = MriScan.objects.get(patient=story)
    decisions.mark_mri_entered_in_error(scan=scan, user=physician, reason="Other patient", now=NOW)
    timeline = build_timeline(story)
    marked = {event.kind: event for event in timeline.events if event.entered_in_error}
    assert set(marked) == {"refill", "dose_change", "mri"}
    assert marked["refill"].entered_in_error.startswith("by Ada Okafor on ")
    assert marked["refill"].entered_in_error.endswith(": Withdrawn volume of another patient")
    assert marked["refill"].flag == ""
    # The dose chart keeps the two fills in force; no residual was compared any more.
    assert [(row["day"], row["source"]) for row in timeline.dose_rows] == [
        (day(0), "refill"),
        (day(60), "refill"),
    ]
    assert timeline.charts["scores"]["datasets"] == []  # the pain score came with that refill
    assert timeline.discrepancy_rows == []
    assert timeline.charts["discrepancy"]["points"] == []
    html = physician_client.get(reverse("patients:timeline", args=[story.pk])).content.decode()
    assert html.count('data-entered-in-error="true"') == 3
    assert "<del>" in html
    assert "Never reprogrammed" in html


def test_the_patient_page_links_to_the_timeline(nurse_client, story):
    html = nurse_client.get(story.get_absolute_url()).content.decode()
    assert reverse("patients:timeline", args=[story.pk]) in html


def grow(patient, pump, n: int, start: date) -> None:
    """n more of each kind of event for the patient's active pump."""
    for i in range(n):
        on = start + timedelta(days=3 * i)
        fill(pump, on=on, residual_ml="10")
        Complication.objects.create(
            patient=patient, occurred_on=on, kind="nausea_or_vomiting", severity="mild"
        )
        MriScan.objects.create(patient=patient, scanned_on=on)
        patient_services.book_visit(
            patient=patient,
            pump=pump,
            kind=VisitKind.PHYSICIAN_REVIEW,
            day=on,
            at=time(9),
            today=on,
        )


def test_the_timeline_query_count_is_pinned_and_does_not_grow(physician, today):
    pump = make_pump(implant_date=today - timedelta(days=400))
    url = reverse("patients:timeline", args=[pump.patient_id])
    grow(pump.patient, pump, 3, today - timedelta(days=300))
    # 1 session, 2 user with its roles, 3 patient, 4 trials, 5 pumps (with their
    # models, for the discrepancy threshold), 6 refills, 7 dose changes,
    # 8 complications, 9 MRIs, 10 visits.
    assert len(page_queries(physician, url)) == 10
    grow(pump.patient, pump, 27, today - timedelta(days=250))
    assert len(page_queries(physician, url)) == 10


def test_an_unknown_patient_is_404(physician_client):
    assert physician_client.get(reverse("patients:timeline", args=[999999])).status_code == 404
