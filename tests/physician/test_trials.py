"""Recording a screening trial: scores valid per scale, the computed outcome, the lists."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from care import decisions
from care.choices import TrialDecision
from care.models import Trial
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

URL = reverse("patients:trials")


def trial_data(patient, today, **overrides) -> dict[str, str]:
    return {
        "patient": str(patient.pk),
        "trial_date": today.isoformat(),
        "method": "single_bolus",
        "drug": "baclofen",
        "dose": "50",
        "dose_unit": "mcg",
        "scale": "ashworth",
        "score_before": "3",
        "score_after": "1+",
        "notes": "",
    } | overrides


@pytest.mark.parametrize(
    ("scale", "before", "after", "outcome"),
    [
        ("ashworth", "3", "1+", "failure"),  # 3 - 1.5 = 1.5: not 2 points
        ("ashworth", "3", "1", "success"),  # exactly 2 points
        ("pain_nrs", "8", "4", "success"),  # exactly 50 %
        ("pain_nrs", "7", "4", "failure"),  # 43 %
    ],
)
def test_recording_a_trial_shows_the_computed_outcome(
    physician_client, today, scale, before, after, outcome
):
    patient = PatientFactory()
    data = trial_data(patient, today, scale=scale, score_before=before, score_after=after)
    response = physician_client.post(URL, data)
    trial = Trial.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("patients:decide_trial", args=[trial.pk])
    assert trial.computed_outcome == outcome
    page = physician_client.get(response["Location"]).content.decode()
    assert f"{trial.computed_outcome.label}</span>" in page
    assert trial in physician_client.get(URL).context["pending"]


@pytest.mark.parametrize(
    ("scale", "field", "value"),
    [
        ("pain_nrs", "score_before", "11"),
        ("pain_nrs", "score_before", "-1"),
        ("pain_nrs", "score_after", "5.5"),
        ("pain_nrs", "score_after", "1+"),
        ("ashworth", "score_before", "5"),
        ("ashworth", "score_after", "1-"),
        ("ashworth", "score_after", "2+"),
    ],
)
def test_scores_outside_the_scale_are_refused(physician_client, today, scale, field, value):
    valid = {"pain_nrs": "6", "ashworth": "2"}[scale]
    data = trial_data(
        PatientFactory(), today, scale=scale, score_before=valid, score_after=valid
    ) | {field: value}
    response = physician_client.post(URL, data)
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert not Trial.objects.exists()


@pytest.mark.parametrize(("before", "after"), [("0", "10"), ("10", "0")])
def test_the_ends_of_the_pain_scale_are_accepted(physician_client, today, before, after):
    data = trial_data(
        PatientFactory(), today, scale="pain_nrs", score_before=before, score_after=after
    )
    assert physician_client.post(URL, data).status_code == 302


def test_a_trial_in_the_future_is_refused(physician_client, today):
    tomorrow = today + timedelta(days=1)
    data = trial_data(PatientFactory(), today, trial_date=tomorrow.isoformat())
    response = physician_client.post(URL, data)
    # Section 8's wording (pumps.entry_safety.date_refusal), naming both dates.
    assert response.context["form"].errors["trial_date"] == [
        f"The trial date {tomorrow} is after today ({today}): it has not happened yet."
    ]
    assert not Trial.objects.exists()
    # Today itself is accepted.
    physician_client.post(URL, trial_data(PatientFactory(), today))
    assert Trial.objects.count() == 1


def test_a_resubmitted_trial_is_recorded_once(physician_client, today):
    data = trial_data(PatientFactory(), today)
    physician_client.post(URL, data)
    physician_client.post(URL, data)
    assert Trial.objects.count() == 1


def test_a_nurse_sees_the_lists_but_cannot_record(nurse_client, today):
    response = nurse_client.get(URL)
    assert response.status_code == 200
    assert response.context["form"] is None
    assert 'id="trial-form"' not in response.content.decode()
    assert nurse_client.post(URL, trial_data(PatientFactory(), today)).status_code == 403
    assert not Trial.objects.exists()


def test_the_patient_page_link_preselects_the_patient(physician_client):
    patient = PatientFactory()
    response = physician_client.get(URL, {"patient": patient.pk})
    assert response.context["form"].initial["patient"] == str(patient.pk)


def test_a_trial_entered_in_error_is_on_no_list_and_cannot_be_decided(
    physician_client, physician, today
):
    """Section 9: a trial in error is no success and waits for nobody."""
    physician_client.post(URL, trial_data(PatientFactory(), today, score_after="1"))
    pending = Trial.objects.get()
    referred = decisions.decide_trial(
        trial=Trial.objects.create(
            **{
                field: getattr(pending, field)
                for field in ("trial_date", "method", "drug", "dose", "dose_unit", "scale")
            },
            patient=PatientFactory(),
            score_before="4",
            score_after="1",
        ),
        decision=TrialDecision.CONFIRMED,
        user=physician,
        now=timezone.now(),
    )
    context = physician_client.get(URL).context
    assert (context["pending"], context["referred"]) == ([pending], [referred])
    for trial in (pending, referred):
        decisions.mark_trial_entered_in_error(
            trial=trial, user=physician, reason="wrong patient", now=timezone.now()
        )
    context = physician_client.get(URL).context
    assert (context["pending"], context["referred"]) == ([], [])
    response = physician_client.get(reverse("patients:decide_trial", args=[pending.pk]))
    assert response.status_code == 302
    assert Trial.objects.get(pk=pending.pk).decision == TrialDecision.PENDING
