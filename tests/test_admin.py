"""The admin over the demo clinic: every page answers, filters follow the rules,
saves keep the stored schedule right, and list pages cost a fixed number of queries."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from io import StringIO

import pytest
from django import forms
from django.contrib import admin
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext, override_settings
from django.urls import reverse
from django.utils import timezone

from patients.models import Appointment, Complication, MriScan, Patient, Trial
from pumps.choices import BatteryStatus, RefillStatus
from pumps.models import DoseAdjustment, Drug, Pump, PumpModel, Refill, SchedulePolicy
from tests.factories import fill, make_pump

pytestmark = pytest.mark.django_db

CLINIC_MODELS = [
    Patient,
    Appointment,
    Trial,
    Complication,
    MriScan,
    PumpModel,
    Drug,
    SchedulePolicy,
    Pump,
    Refill,
    DoseAdjustment,
]


@pytest.fixture(scope="module")
def clinic(django_db_setup, django_db_blocker) -> Iterator[None]:
    """The demo clinic, seeded once for this module and rolled back after it."""
    with django_db_blocker.unblock(), transaction.atomic():
        with override_settings(DEBUG=True):
            call_command("seed_demo", stdout=StringIO())
        yield
        transaction.set_rollback(True)


def url(model: type, view: str, *args: object) -> str:
    meta = model._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_{view}", args=args)


def form_data(response) -> dict[str, object]:
    """POST data for an admin change form, as the page rendered it."""
    forms_on_page = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        forms_on_page += [inline.formset.management_form, *inline.formset.forms]
    data: dict[str, object] = {}
    for form in forms_on_page:
        for name, field in form.fields.items():
            key, value = form.add_prefix(name), form[name].value()
            if isinstance(field.widget, forms.MultiWidget):
                for index, part in enumerate(field.widget.decompress(value)):
                    data[f"{key}_{index}"] = "" if part is None else part
            elif isinstance(field, forms.BooleanField):
                if value:
                    data[key] = "on"
            elif value is not None:
                data[key] = value
    return data


def filled_active_pump() -> Pump:
    """A battery pump whose deadline is its reservoir alarm, without a travel buffer."""
    return (
        Pump.objects.active()
        .filter(
            model__has_battery=True,
            refill_limited_by="reservoir",
            patient__travel_buffer_days=0,
        )
        .select_related("patient")
        .order_by("serial")
        .first()
    )


# --- Every page answers ------------------------------------------------------------


def test_every_clinic_model_is_registered_with_history():
    from simple_history.admin import SimpleHistoryAdmin

    for model in CLINIC_MODELS:
        assert isinstance(admin.site._registry[model], SimpleHistoryAdmin), model


@pytest.mark.parametrize("model", CLINIC_MODELS, ids=lambda m: m.__name__)
def test_changelist_change_and_history_pages_answer(clinic, admin_client, model):
    assert admin_client.get(url(model, "changelist")).status_code == 200
    obj = model._default_manager.order_by("pk").first()
    assert obj is not None
    assert admin_client.get(url(model, "change", obj.pk)).status_code == 200
    assert admin_client.get(url(model, "history", obj.pk)).status_code == 200


@pytest.mark.parametrize(
    ("model", "status"),
    [
        (Patient, 200),
        (Appointment, 200),
        (Trial, 200),
        (Complication, 200),
        (MriScan, 200),
        (PumpModel, 200),
        (Drug, 200),
        (Pump, 200),
        (DoseAdjustment, 200),
        # A refill is recorded only through services.record_fill (the refill form).
        (Refill, 403),
        # The policy is one row, already there.
        (SchedulePolicy, 403),
    ],
    ids=lambda value: getattr(value, "__name__", str(value)),
)
def test_add_pages_answer_where_adding_is_allowed(clinic, admin_client, model, status):
    assert admin_client.get(url(model, "add")).status_code == status


def test_the_policy_and_refills_cannot_be_deleted(clinic, admin_client):
    assert admin_client.get(url(SchedulePolicy, "delete", 1)).status_code == 403
    refill = Refill.objects.first()
    assert admin_client.get(url(Refill, "delete", refill.pk)).status_code == 403


def test_history_can_be_read_but_not_restored(clinic, admin_client):
    pump = filled_active_pump()
    version = pump.history.earliest()
    page = url(Pump, "simple_history", pump.pk, version.history_id)
    assert admin_client.get(page).status_code == 200
    assert admin_client.post(page, {}).status_code == 403


def test_the_site_header(clinic, admin_client):
    assert b"Pump clinic administration" in admin_client.get(reverse("admin:index")).content


def test_pump_list_shows_statuses_and_urgency(clinic, admin_client):
    content = admin_client.get(url(Pump, "changelist")).content.decode()
    assert "Overdue (urgent: Baclofen)" in content
    assert "ERI alarm" in content
    assert "No battery" in content


# --- Search and filters -----------------------------------------------------------------


def test_search_pumps_by_record_number_and_serial(clinic, admin_client):
    pump = filled_active_pump()
    by_mrn = admin_client.get(url(Pump, "changelist"), {"q": pump.patient.mrn})
    assert list(by_mrn.context["cl"].queryset) == list(pump.patient.pumps.all())
    by_serial = admin_client.get(url(Pump, "changelist"), {"q": pump.serial})
    assert list(by_serial.context["cl"].queryset) == [pump]
    patients = admin_client.get(url(Patient, "changelist"), {"q": pump.patient.mrn})
    assert list(patients.context["cl"].queryset) == [pump.patient]
    refills = admin_client.get(url(Refill, "changelist"), {"q": pump.serial})
    assert set(refills.context["cl"].queryset) == set(pump.refills.all())


@pytest.mark.parametrize("status", list(RefillStatus))
def test_refill_status_filter_gives_the_pumps_of_that_status(clinic, admin_client, status):
    today = timezone.localdate()
    lookahead = SchedulePolicy.current().lookahead_days
    expected = {
        pump.pk for pump in Pump.objects.active() if pump.refill_status(today, lookahead) == status
    }
    response = admin_client.get(url(Pump, "changelist"), {"refill_status": status.value})
    listed = list(response.context["cl"].queryset)
    assert expected
    assert {pump.pk for pump in listed} == expected
    # The SQL annotation the list shows agrees with the Python rule.
    assert {pump.refill_status for pump in listed} == {status.value}


@pytest.mark.parametrize("status", list(BatteryStatus))
def test_battery_status_filter_gives_the_pumps_of_that_status(clinic, admin_client, status):
    today = timezone.localdate()
    expected = {pump.pk for pump in Pump.objects.active() if pump.battery_status(today) == status}
    response = admin_client.get(url(Pump, "changelist"), {"battery_status": status.value})
    listed = list(response.context["cl"].queryset)
    assert expected
    assert {pump.pk for pump in listed} == expected
    assert {pump.battery_status for pump in listed} == {status.value}


def test_filter_counts_can_be_shown(clinic, admin_client):
    response = admin_client.get(url(Pump, "changelist"), {"_facets": "True"})
    assert response.status_code == 200
    overdue = sum(
        1
        for pump in Pump.objects.active()
        if pump.refill_status(timezone.localdate(), SchedulePolicy.current().lookahead_days)
        == RefillStatus.OVERDUE
    )
    assert f"Overdue ({overdue})" in response.content.decode()


def test_explanted_and_drug_filters(clinic, admin_client):
    explanted = admin_client.get(url(Pump, "changelist"), {"explanted": "yes"})
    assert set(explanted.context["cl"].queryset) == set(
        Pump.objects.filter(explant_date__isnull=False)
    )
    baclofen = Drug.objects.get(code="baclofen")
    by_drug = admin_client.get(
        url(Pump, "changelist"), {"latest_fill__drug__id__exact": baclofen.pk}
    )
    assert set(by_drug.context["cl"].queryset) == set(
        Pump.objects.filter(latest_fill__drug=baclofen)
    )


# --- Saves keep the stored schedule right ------------------------------------------------


def test_saving_a_new_policy_margin_moves_stored_due_dates(clinic, admin_client):
    pump = filled_active_pump()
    policy = SchedulePolicy.current()
    page = url(SchedulePolicy, "change", policy.pk)
    data = form_data(admin_client.get(page))
    data["refill_margin_days"] = policy.refill_margin_days + 3
    response = admin_client.post(page, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    moved = Pump.objects.get(pk=pump.pk)
    assert moved.refill_deadline == pump.refill_deadline
    assert moved.refill_due == pump.refill_due - timedelta(days=3)


def test_saving_a_patients_travel_buffer_moves_their_due_date(clinic, admin_client):
    pump = filled_active_pump()
    page = url(Patient, "change", pump.patient.pk)
    data = form_data(admin_client.get(page))
    data["travel_buffer_days"] = 4
    response = admin_client.post(page, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    moved = Pump.objects.get(pk=pump.pk)
    assert moved.refill_deadline == pump.refill_deadline
    assert moved.refill_due == pump.refill_due - timedelta(days=4)


def test_saving_a_pump_recomputes_its_schedule(clinic, admin_client):
    pump = filled_active_pump()
    page = url(Pump, "change", pump.pk)
    data = form_data(admin_client.get(page))
    data["implant_date"] = (pump.implant_date - timedelta(days=30)).isoformat()
    data["alarm_ml_override"] = "5"
    response = admin_client.post(page, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    saved = Pump.objects.get(pk=pump.pk)
    assert saved.battery_window_opens == pump.battery_window_opens - timedelta(days=30)
    assert saved.refill_alarm < pump.refill_alarm


def test_a_pump_cannot_be_added_beside_an_active_one(clinic, admin_client):
    pump = filled_active_pump()
    response = admin_client.post(
        url(Pump, "add"),
        {
            "patient": pump.patient.pk,
            "model": pump.model_id,
            "serial": "NEW-0001",
            "implant_date": timezone.localdate().isoformat(),
        },
    )
    assert response.status_code == 200
    assert "already has an active pump" in response.content.decode()
    assert not Pump.objects.filter(serial="NEW-0001").exists()


def test_recompute_action_restores_stored_dates(clinic, admin_client):
    pump = filled_active_pump()
    Pump.objects.filter(pk=pump.pk).update(refill_due=None, refill_deadline=None)
    response = admin_client.post(
        url(Pump, "changelist"),
        {"action": "recompute_schedule", admin.helpers.ACTION_CHECKBOX_NAME: [pump.pk]},
    )
    assert response.status_code == 302
    restored = Pump.objects.get(pk=pump.pk)
    assert (restored.refill_due, restored.refill_deadline) == (
        pump.refill_due,
        pump.refill_deadline,
    )


def test_a_drug_stability_change_recomputes_pumps_filled_with_it(clinic, admin_client):
    drug = Drug.objects.get(code="morphine")
    pump = (
        Pump.objects.active()
        .filter(latest_fill__drug=drug, refill_limited_by="stability")
        .order_by("serial")
        .first()
    )
    page = url(Drug, "change", drug.pk)
    data = form_data(admin_client.get(page))
    data["stability_days"] = drug.stability_days - 10
    assert admin_client.post(page, data).status_code == 302
    assert Pump.objects.get(pk=pump.pk).refill_deadline == pump.refill_deadline - timedelta(10)


def test_a_refill_is_signed_off_through_the_service_and_its_values_stay(clinic, admin_client):
    refill = Refill.objects.get(discrepancy=True, discrepancy_signed_off_at__isnull=True)
    page = url(Refill, "change", refill.pk)
    data = form_data(admin_client.get(page))
    assert set(data) == {"discrepancy_comment", "notes"}
    data.update(
        discrepancy_comment="Dye study normal; slow catheter flow.",
        sign_off="on",
        volume_ml="1",  # read-only here: ignored
    )
    assert admin_client.post(page, data).status_code == 302
    saved = Refill.objects.get(pk=refill.pk)
    assert saved.discrepancy_signed_off_by.username == "admin"
    assert saved.discrepancy_signed_off_at is not None
    assert saved.volume_ml == refill.volume_ml
    assert not saved.pump.has_unsigned_discrepancy


def test_a_dose_change_added_in_the_admin_goes_through_the_service(clinic, admin_client):
    pump = filled_active_pump()
    today = timezone.localdate()
    response = admin_client.post(
        url(DoseAdjustment, "add"),
        {
            "pump": pump.pk,
            "adjusted_on": today.isoformat(),
            "daily_dose": str(pump.latest_fill.daily_dose * 2),
            "dose_unit": pump.latest_fill.dose_unit,
            "notes": "",
        },
    )
    assert response.status_code == 302
    adjustment = DoseAdjustment.objects.get(pump=pump, adjusted_on=today)
    assert adjustment.recorded_by.username == "admin"
    assert Pump.objects.get(pk=pump.pk).refill_alarm < pump.refill_alarm
    too_early = admin_client.post(
        url(DoseAdjustment, "add"),
        {
            "pump": pump.pk,
            "adjusted_on": pump.latest_fill.refill_date.isoformat(),
            "daily_dose": "1",
            "dose_unit": pump.latest_fill.dose_unit,
        },
    )
    assert too_early.status_code == 200
    assert "must fall after the latest refill" in too_early.content.decode()


# --- Query counts do not grow with rows ---------------------------------------------------


def count_queries(client, page: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(page).status_code == 200
    return len(queries)


def add_filled_pumps(count: int) -> None:
    today = timezone.localdate()
    for _ in range(count):
        pump = make_pump(implant_date=today - timedelta(days=400))
        fill(pump, on=today - timedelta(days=30))


def test_pump_changelist_queries_do_not_grow_with_rows(clinic, admin_client):
    page = url(Pump, "changelist") + "?refill_status=ok"
    before = count_queries(admin_client, page)
    add_filled_pumps(20)
    # 1 session, 1 user, 1 schedule policy (read once per request), 1 pump
    # models for the model filter, 1 drugs for the drug filter, 1 count of the
    # filtered rows, 1 whether the policy row exists (the sidebar's add links),
    # 1 page of pumps with patient, model and latest fill's drug.
    assert count_queries(admin_client, page) == before == 8


def test_refill_changelist_queries_do_not_grow_with_rows(clinic, admin_client):
    page = url(Refill, "changelist")
    before = count_queries(admin_client, page)
    add_filled_pumps(20)
    # 1 session, 1 user, 1 drugs for the drug filter, 1 count, 1 whether the
    # policy row exists (the sidebar's add links), 1 page of refills with pump,
    # patient and drug.
    assert count_queries(admin_client, page) == before == 6


def test_patient_changelist_queries_do_not_grow_with_rows(clinic, admin_client):
    page = url(Patient, "changelist")
    before = count_queries(admin_client, page)
    add_filled_pumps(20)
    assert count_queries(admin_client, page) == before
