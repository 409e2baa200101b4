"""The admin over the demo clinic: every page answers, filters follow the rules,
saves keep the stored schedule right, and list pages cost a fixed number of queries."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction
from io import StringIO

import pytest
from django import forms
from django.contrib import admin
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext, override_settings
from django.urls import reverse
from django.utils import timezone

from care.models import Appointment, Complication, MriScan, Trial
from core.roles import ADMINISTRATOR, NURSE, PHYSICIAN
from patients.models import Patient
from pumps.choices import BatteryStatus, RefillStatus
from pumps.fields import ClinicalDecimalField
from pumps.models import DoseAdjustment, Drug, Pump, PumpModel, Refill, SchedulePolicy
from tests.factories import UserFactory, fill, make_pump

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


@pytest.fixture
def clinician(db):
    """A nurse and physician who may also enter the admin (is_staff): the admin's
    clinical forms are theirs; the administrator (``admin_client``: the demo's
    admin, or pytest-django's superuser) runs the catalogue and the policy and
    reads the records (separated duties, web/admin_access.py)."""
    return UserFactory(username="dr_staff", roles=[NURSE, PHYSICIAN], is_staff=True)


@pytest.fixture
def clinician_client(client, clinician):
    client.force_login(clinician)
    return client


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
    ("model", "as_administrator", "as_clinician"),
    [
        # Patients are registered by the office and the clinicians alike.
        (Patient, 200, 200),
        # Clinical records: the clinicians'.
        (Appointment, 403, 200),
        (Trial, 403, 200),
        (Complication, 403, 200),
        (MriScan, 403, 200),
        (Pump, 403, 200),
        (DoseAdjustment, 403, 200),
        # The catalogue: the administrator's.
        (PumpModel, 200, 403),
        (Drug, 200, 403),
        # A refill is recorded only through services.record_fill (the refill form).
        (Refill, 403, 403),
        # The policy is one row, already there.
        (SchedulePolicy, 403, 403),
    ],
    ids=lambda value: getattr(value, "__name__", str(value)),
)
def test_add_pages_answer_where_adding_is_allowed(
    clinic, admin_client, clinician_client, model, as_administrator, as_clinician
):
    assert admin_client.get(url(model, "add")).status_code == as_administrator
    assert clinician_client.get(url(model, "add")).status_code == as_clinician


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


def test_saving_a_pump_recomputes_its_schedule(clinic, clinician_client):
    pump = filled_active_pump()
    page = url(Pump, "change", pump.pk)
    data = form_data(clinician_client.get(page))
    data["implant_date"] = (pump.implant_date - timedelta(days=30)).isoformat()
    data["alarm_ml_override"] = "5"
    response = clinician_client.post(page, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    saved = Pump.objects.get(pk=pump.pk)
    assert saved.battery_window_opens == pump.battery_window_opens - timedelta(days=30)
    assert saved.refill_alarm < pump.refill_alarm


def test_a_pump_cannot_be_added_beside_an_active_one(clinic, clinician_client):
    pump = filled_active_pump()
    response = clinician_client.post(
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


def test_a_refill_is_signed_off_through_the_service_and_its_values_stay(clinic, clinician_client):
    refill = (
        Refill.objects.filter(discrepancy=True, discrepancy_signed_off_at__isnull=True)
        .order_by("pk")
        .first()
    )
    open_before = refill.pump.open_discrepancies
    page = url(Refill, "change", refill.pk)
    data = form_data(clinician_client.get(page))
    data.update(discrepancy_comment="Dye study normal; slow catheter flow.", sign_off="on")
    response = clinician_client.post(page, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    saved = Refill.objects.get(pk=refill.pk)
    assert saved.discrepancy_signed_off_by.username == "dr_staff"
    assert saved.discrepancy_signed_off_at is not None
    assert (saved.volume_ml, saved.daily_dose, saved.residual_ml) == (
        refill.volume_ml,
        refill.daily_dose,
        refill.residual_ml,
    )
    assert Pump.objects.get(pk=refill.pump_id).open_discrepancies == open_before - 1


# --- Refill corrections go through the services (section 8) -------------------------------


@pytest.fixture
def baclofen_pump(db) -> Pump:
    """SynchroMed II 20 mL, baclofen 2000 mcg/mL at 400 mcg/day (0.2 mL/day), two fills:
    20 mL 20 days ago, then 20 mL 10 days ago with 18 mL withdrawn as expected."""
    today = timezone.localdate()
    pump = make_pump(implant_date=today - timedelta(days=400))
    plan = {
        "drug": "baclofen",
        "concentration": "2000",
        "concentration_unit": "mcg/mL",
        "daily_dose": "400",
        "dose_unit": "mcg/day",
    }
    fill(pump, on=today - timedelta(days=20), **plan)
    fill(pump, on=today - timedelta(days=10), residual_ml="18", **plan)
    return Pump.objects.get(pk=pump.pk)


def change_latest_refill(client, pump: Pump, **changes):
    page = url(Refill, "change", pump.latest_fill_id)
    data = form_data(client.get(page))
    data.update(changes)
    return client.post(page, data)


def test_a_refill_corrected_in_the_admin_moves_the_pumps_dates(clinician_client, baclofen_pump):
    # 19 mL instead of 20: (19 - 2) / 0.2 = 85 days to the alarm instead of 90.
    response = change_latest_refill(clinician_client, baclofen_pump, volume_ml="19,5")
    assert response.status_code == 302, response.context["adminform"].form.errors
    pump = Pump.objects.get(pk=baclofen_pump.pk)
    assert pump.latest_fill.volume_ml == Decimal("19.5")
    assert pump.refill_alarm == baclofen_pump.refill_alarm - timedelta(days=3)
    assert pump.latest_fill.history.first().volume_ml == Decimal("19.5")


def test_a_bolus_added_in_the_admin_counts_in_the_alarm_date(clinician_client, baclofen_pump):
    # 400 + 4 x 50 = 600 mcg/day: 0.3 mL/day, (20 - 2) / 0.3 = 60 days.
    response = change_latest_refill(
        clinician_client, baclofen_pump, bolus_dose="50", boluses_per_day="4"
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    pump = Pump.objects.get(pk=baclofen_pump.pk)
    assert pump.refill_alarm == pump.latest_fill.refill_date + timedelta(days=60)
    page = clinician_client.get(url(Refill, "changelist")).content.decode()
    assert "4 x 50 mcg a day" in page


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        (
            {"concentration": "2000", "concentration_unit": "mg/mL"},
            "concentration",
            "2000 mg/mL is outside the accepted baclofen concentrations (from 0.05 to 4 mg/mL). "
            "2000 mg/mL is 2000000 mcg/mL: check the unit (mg/mL or mcg/mL).",
        ),
        ({"volume_ml": "20.01"}, "volume_ml", None),
        ({"bolus_dose": "50"}, "boluses_per_day", None),
        ({"daily_dose": "30000"}, "daily_dose", None),
        ({"volume_ml": "1.234,5"}, "volume_ml", None),
        ({"volume_ml": "12,500"}, "volume_ml", None),
    ],
)
def test_a_refill_correction_is_refused_as_on_the_refill_form(
    clinician_client, baclofen_pump, changes, field, message
):
    response = change_latest_refill(clinician_client, baclofen_pump, **changes)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert field in errors
    if message is not None:
        assert errors[field] == [message]
    refill = Refill.objects.get(pk=baclofen_pump.latest_fill_id)
    assert (refill.volume_ml, refill.concentration, refill.bolus_dose) == (
        Decimal("20"),
        Decimal("2000"),
        None,
    )
    assert Pump.objects.get(pk=baclofen_pump.pk).refill_alarm == baclofen_pump.refill_alarm


def test_a_warning_on_a_correction_must_be_confirmed(clinician_client, baclofen_pump):
    """A residual 1.01 mL off in a 20 mL pump asks, and once confirmed is flagged."""
    response = change_latest_refill(clinician_client, baclofen_pump, residual_ml="16.99")
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert form.errors["confirm_warnings"] == [
        "You withdrew 16.99 mL but about 18 mL was expected: 1.01 mL less than expected, so "
        "there may be a leak, or an earlier pocket fill. Check the volume. If it is right, the "
        "refill will be flagged for physician review."
    ]
    assert Refill.objects.get(pk=baclofen_pump.latest_fill_id).residual_ml == Decimal("18")
    response = change_latest_refill(
        clinician_client,
        baclofen_pump,
        residual_ml="16.99",
        confirm_warnings="on",
        warnings_digest=form.data["warnings_digest"],
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    refill = Refill.objects.get(pk=baclofen_pump.latest_fill_id)
    assert refill.residual_ml == Decimal("16.99")
    assert refill.discrepancy is True
    assert Pump.objects.get(pk=baclofen_pump.pk).open_discrepancies == 1


def test_eri_ticked_in_the_admin_sets_the_replace_by_date(clinician_client, baclofen_pump):
    assert change_latest_refill(clinician_client, baclofen_pump, eri="on").status_code == 302
    pump = Pump.objects.get(pk=baclofen_pump.pk)
    assert pump.eri_reported_on == pump.latest_fill.refill_date
    assert pump.eri_replace_by == pump.eri_reported_on + timedelta(days=90)
    page = url(Refill, "change", pump.latest_fill_id)
    data = form_data(clinician_client.get(page))
    data.pop("eri")
    assert clinician_client.post(page, data).status_code == 302
    pump = Pump.objects.get(pk=baclofen_pump.pk)
    assert (pump.eri_reported_on, pump.eri_replace_by) == (None, None)


def test_a_refill_entered_in_error_keeps_its_values_in_the_admin(
    clinician, clinician_client, baclofen_pump
):
    from pumps import services

    refill = baclofen_pump.latest_fill
    services.mark_refill_entered_in_error(
        refill=refill, user=clinician, reason="wrong patient", now=timezone.now()
    )
    page = url(Refill, "change", refill.pk)
    response = clinician_client.get(page)
    html = response.content.decode()
    assert "wrong patient" in html
    assert set(form_data(response)) == {"notes"}


def test_every_decimal_in_the_pumps_admin_reads_a_decimal_comma(clinic, client):
    # Catalogue and clinical forms on one walk: a clinical lead given every role.
    client.force_login(
        UserFactory(username="lead", roles=[NURSE, PHYSICIAN, ADMINISTRATOR], is_staff=True)
    )
    pages = [url(DoseAdjustment, "add")] + [
        url(model, "change", model._default_manager.order_by("pk").first().pk)
        for model in (PumpModel, Drug, Pump, Refill)
    ]
    seen = set()
    for page in pages:
        form = client.get(page).context["adminform"].form
        for name, field in form.fields.items():
            if isinstance(field, forms.DecimalField):
                assert isinstance(field, ClinicalDecimalField), (page, name)
                assert field.widget.input_type == "text", (page, name)
                assert field.widget.attrs["inputmode"] == "decimal", (page, name)
                seen.add(name)
    assert {
        "daily_dose",
        "reservoir_ml",
        "discrepancy_threshold_ml",
        "concentration_max_mcg_per_ml",
        "alarm_ml_override",
        "concentration",
        "bolus_dose",
        "volume_ml",
        "residual_ml",
    } <= seen


def test_the_discrepancy_threshold_is_edited_per_pump_model(admin_client, baclofen_pump):
    model = PumpModel.objects.get(code="synchromed_ii_20")
    page = url(PumpModel, "change", model.pk)
    data = form_data(admin_client.get(page))
    data["discrepancy_threshold_ml"] = "1,5"
    assert admin_client.post(page, data).status_code == 302
    assert PumpModel.objects.get(pk=model.pk).discrepancy_threshold_ml == Decimal("1.5")
    # Read when a refill is judged: 1.5 mL off is no longer flagged.
    refill = fill(
        baclofen_pump,
        on=timezone.localdate(),
        drug="baclofen",
        concentration="2000",
        concentration_unit="mcg/mL",
        daily_dose="400",
        dose_unit="mcg/day",
        residual_ml="16.5",
    )
    assert refill.discrepancy is False


def test_the_accepted_concentrations_are_edited_per_drug(admin_client):
    from pumps import entry_safety

    drug = Drug.objects.get(code="baclofen")
    page = url(Drug, "change", drug.pk)
    data = form_data(admin_client.get(page))
    data.update(concentration_min_mcg_per_ml="5000", concentration_max_mcg_per_ml="4000")
    response = admin_client.post(page, data)
    assert response.context["adminform"].form.errors["concentration_max_mcg_per_ml"] == [
        "The highest accepted concentration (4000 mcg/mL) is below the lowest (5000 mcg/mL)."
    ]
    data.update(concentration_min_mcg_per_ml="50", concentration_max_mcg_per_ml="5000")
    assert admin_client.post(page, data).status_code == 302
    assert Drug.objects.get(pk=drug.pk).concentration_range.accepts(Fraction(4500))
    assert entry_safety.MAX_DAILY_VOLUME_ML == 10


def test_a_dose_change_added_in_the_admin_goes_through_the_service(clinic, clinician_client):
    pump = filled_active_pump()
    today = timezone.localdate()
    response = clinician_client.post(
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
    assert adjustment.recorded_by.username == "dr_staff"
    assert Pump.objects.get(pk=pump.pk).refill_alarm < pump.refill_alarm
    too_early = clinician_client.post(
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


def test_a_dose_change_in_the_admin_is_refused_above_10_ml_a_day(clinician_client, baclofen_pump):
    today = timezone.localdate()
    before = DoseAdjustment.objects.count()
    response = clinician_client.post(
        url(DoseAdjustment, "add"),
        {
            "pump": baclofen_pump.pk,
            "adjusted_on": today.isoformat(),
            "daily_dose": "20002",  # 10.001 mL a day at 2000 mcg/mL
            "dose_unit": "mcg/day",
        },
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["daily_dose"] == [
        "The daily volume would be 10.001 mL a day, above the 10 mL a day any pump programme "
        "runs: check the dose, the concentration and their units."
    ]
    assert DoseAdjustment.objects.count() == before


def test_a_recorded_dose_change_keeps_its_dose_in_the_admin(clinician_client, baclofen_pump):
    from pumps import services

    adjustment = services.adjust_dose(
        pump=baclofen_pump,
        adjusted_on=timezone.localdate(),
        daily_dose=Decimal("500"),
        dose_unit="mcg/day",
        today=timezone.localdate(),
    )
    page = url(DoseAdjustment, "change", adjustment.pk)
    data = form_data(clinician_client.get(page))
    assert set(data) == {"notes"}
    data.update(notes="Checked", daily_dose="5000")
    assert clinician_client.post(page, data).status_code == 302
    adjustment.refresh_from_db()
    assert (adjustment.notes, adjustment.daily_dose) == ("Checked", Decimal("500"))


@pytest.mark.parametrize("model", [Pump, Refill, DoseAdjustment], ids=lambda m: m.__name__)
def test_clinical_records_cannot_be_deleted_in_the_admin(clinic, admin_client, model):
    obj = model._default_manager.order_by("pk").first()
    assert admin_client.get(url(model, "delete", obj.pk)).status_code == 403


# --- Query counts do not grow with rows ---------------------------------------------------


def count_queries(client, page: str) -> int:
    # A first request after sign-in stamps the idle clock in the session (one
    # write, then at most once a minute: audit/idle.py); the pins count the
    # page itself, so that stamp is made outside the count.
    client.get(page)
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
    # 1 session, 1 user with its roles (core.roles.StaffBackend), 1 schedule
    # policy (read once per request), 1 pump models for the model filter, 1 drugs
    # for the drug filter, 1 count of the filtered rows, 1 whether the policy row
    # exists (the sidebar's add links), 1 page of pumps with patient, model and
    # latest fill's drug, 1 the view log's entry.
    assert count_queries(admin_client, page) == before == 9


def test_refill_changelist_queries_do_not_grow_with_rows(clinic, admin_client):
    page = url(Refill, "changelist")
    before = count_queries(admin_client, page)
    add_filled_pumps(20)
    # 1 session, 1 user with its roles, 1 drugs for the drug filter, 1 count,
    # 1 whether the policy row exists (the sidebar's add links), 1 page of
    # refills with pump, patient and drug, 1 the view log's entry.
    assert count_queries(admin_client, page) == before == 7


def test_patient_changelist_queries_do_not_grow_with_rows(clinic, admin_client):
    page = url(Patient, "changelist")
    before = count_queries(admin_client, page)
    add_filled_pumps(20)
    assert count_queries(admin_client, page) == before
