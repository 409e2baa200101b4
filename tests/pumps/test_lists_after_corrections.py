"""Every list reads one meaning of discrepancy, the ERI replace-by date, and
leaves records entered in error out (clinical-rules.md 4, 5 and 9).

The due list (command and HTTP), the worklist card and filter and the
board's filter must agree, also after a later clean refill and after a
correction.
"""

import csv
import io
import json
from datetime import UTC, date, datetime

import pytest
from django.core.management import call_command
from django.urls import reverse

from core.roles import PHYSICIAN
from pumps import services
from pumps.models import Pump
from tests.factories import FAR_FUTURE, PatientFactory, UserFactory, fill, make_pump

pytestmark = pytest.mark.django_db

D = date.fromisoformat
AS_OF = D("2026-04-06")
NOW = datetime(2026, 4, 6, 12, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clinic_today(monkeypatch):
    """The pages judge statuses on the clinic's today: make it AS_OF."""
    from django.utils import timezone

    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: AS_OF)


def due_list(*args: str) -> list[dict]:
    out = io.StringIO()
    call_command("due_list", "--as-of", AS_OF.isoformat(), *args, stdout=out)
    return json.loads(out.getvalue())


def item(serial: str) -> dict:
    return next(entry for entry in due_list() if entry["serial"] == serial)


def morphine(pump, on, *, volume="40", residual=None):
    # 20 mg/mL at 4 mg/day = 0.2 mL/day.
    return fill(pump, on=D(on), volume_ml=volume, residual_ml=residual)


@pytest.fixture
def flagged_then_clean():
    """A 40 mL pump whose second fill was flagged (5 mL off) and third was clean."""
    pump = make_pump(serial="FLAG-1", implant_date=D("2025-01-01"), model="synchromed_ii_40")
    morphine(pump, "2026-01-01")
    flagged = morphine(pump, "2026-01-11", residual="33")  # 38 expected: 5 less
    morphine(pump, "2026-01-21", residual="38")  # 38 expected: clean
    assert flagged.discrepancy
    return Pump.objects.get(pk=pump.pk), flagged


def worklist_cards(client) -> dict[str, int]:
    response = client.get(reverse("pumps:worklist"))
    return {key: count for key, _, count in response.context["status_cards"]}


def test_a_flag_stays_open_after_a_later_clean_refill_on_every_list(
    flagged_then_clean, nurse_client
):
    pump, _ = flagged_then_clean
    assert pump.open_discrepancies == 1
    assert item("FLAG-1")["discrepancy"] is True
    assert worklist_cards(nurse_client)["discrepancy"] == 1
    filtered = nurse_client.get(reverse("pumps:worklist"), {"status": "discrepancy"})
    assert [p.serial for p in filtered.context["page"].object_list] == ["FLAG-1"]
    board = nurse_client.get(reverse("pumps:board"), {"discrepancy": "yes"})
    assert [p.serial for p in board.context["page"].object_list] == ["FLAG-1"]
    physician = UserFactory(roles=[PHYSICIAN])
    nurse_client.force_login(physician)
    queue = nurse_client.get(reverse("patients:review_queue"))
    assert "FLAG-1" in queue.content.decode()


def test_signing_off_the_flag_clears_it_everywhere(flagged_then_clean, nurse_client):
    pump, flagged = flagged_then_clean
    physician = UserFactory(roles=[PHYSICIAN])
    services.sign_off_discrepancy(refill=flagged, user=physician, comment="pocket ok", now=NOW)
    assert Pump.objects.get(pk=pump.pk).open_discrepancies == 0
    assert item("FLAG-1")["discrepancy"] is False
    assert worklist_cards(nurse_client)["discrepancy"] == 0


def test_a_flagged_refill_entered_in_error_counts_for_nothing(flagged_then_clean):
    pump, flagged = flagged_then_clean
    nurse = UserFactory(roles=[PHYSICIAN])
    services.mark_refill_entered_in_error(
        refill=flagged, user=nurse, reason="typed on the wrong patient", now=NOW
    )
    assert Pump.objects.get(pk=pump.pk).open_discrepancies == 0
    assert item("FLAG-1")["discrepancy"] is False


def test_marking_the_latest_refill_in_error_moves_the_dates_back_to_the_one_before():
    pump = make_pump(serial="ERR-1", implant_date=D("2025-01-01"), model="synchromed_ii_40")
    morphine(pump, "2026-01-01", volume="20")  # 18 mL at 0.2 mL/day: alarm + 90 days
    before = item("ERR-1")["refill"]
    wrong = morphine(pump, "2026-02-01", volume="40")
    assert item("ERR-1")["refill"] != before
    services.mark_refill_entered_in_error(
        refill=wrong, user=UserFactory(roles=[PHYSICIAN]), reason="wrong pump", now=NOW
    )
    assert item("ERR-1")["refill"] == before
    services.restore_refill(
        refill=wrong, user=UserFactory(roles=[PHYSICIAN]), reason="it was right"
    )
    assert item("ERR-1")["refill"]["deadline"] == "2026-05-02"  # stability: 90 days


def test_a_corrected_refill_may_be_recorded_on_the_same_day():
    pump = make_pump(serial="ERR-2", implant_date=D("2025-01-01"), model="synchromed_ii_40")
    wrong = morphine(pump, "2026-03-01", volume="20")
    services.mark_refill_entered_in_error(
        refill=wrong, user=UserFactory(roles=[PHYSICIAN]), reason="volume typo", now=NOW
    )
    right = morphine(pump, "2026-03-01", volume="30")
    assert Pump.objects.get(pk=pump.pk).latest_fill == right
    with pytest.raises(services.ValidationError):
        services.restore_refill(refill=wrong, user=UserFactory(roles=[PHYSICIAN]), reason="oops")


@pytest.fixture
def eri_pumps():
    """Two ERI pumps whose windows and replace-by dates order them differently."""
    young = make_pump(
        serial="ERI-YOUNG", implant_date=D("2024-02-01"), model="synchromed_ii_40"
    )  # closes 2031
    old = make_pump(
        serial="ERI-OLD", implant_date=D("2020-06-01"), model="synchromed_ii_40"
    )  # closes 2027
    morphine(young, "2026-03-20")
    morphine(old, "2026-03-20")
    services.record_eri(pump=young, seen_on=D("2026-02-26"), today=FAR_FUTURE)
    services.record_eri(pump=old, seen_on=D("2026-03-30"), today=FAR_FUTURE)
    return young, old


def test_eri_pumps_rank_by_replace_by_on_the_due_list_and_the_worklist(eri_pumps, nurse_client):
    eri = [entry for entry in due_list() if entry["battery"]["status"] == "eri"]
    assert [(e["serial"], e["battery"]["replace_by"]) for e in eri] == [
        ("ERI-YOUNG", "2026-05-27"),
        ("ERI-OLD", "2026-06-28"),
    ]
    page = nurse_client.get(reverse("pumps:worklist"), {"status": "battery"})
    assert [p.serial for p in page.context["page"].object_list] == ["ERI-YOUNG", "ERI-OLD"]
    assert 'data-replace-by="2026-05-27"' in page.content.decode()
    board = nurse_client.get(reverse("pumps:board"), {"battery_status": "eri"})
    assert 'data-replace-by="2026-06-28"' in board.content.decode()


def test_replace_by_is_null_unless_the_status_is_eri():
    pump = make_pump(serial="NO-ERI", implant_date=D("2019-01-01"), model="synchromed_ii_40")
    morphine(pump, "2026-03-30")
    assert item("NO-ERI")["battery"]["replace_by"] is None


def test_the_worklist_warns_when_the_refill_falls_due_after_the_battery_stops(nurse_client):
    pump = make_pump(serial="ERI-LATE", implant_date=D("2024-01-01"), model="synchromed_ii_40")
    # 40 mL at 0.2 mL/day, stability 90 days: due 2026-06-24 (deadline - 5).
    morphine(pump, "2026-03-31")
    services.record_eri(pump=pump, seen_on=D("2026-03-20"), today=FAR_FUTURE)  # by 2026-06-18
    stored = Pump.objects.get(pk=pump.pk)
    assert stored.refill_due == D("2026-06-24")
    assert stored.refill_due_after_battery_stops
    page = nurse_client.get(reverse("pumps:worklist"), {"status": "battery"})
    assert 'data-problem="due-after-battery"' in page.content.decode()


def test_the_due_list_csv_neutralises_cells_a_spreadsheet_would_run():
    make_pump(serial="-SN1", implant_date=D("2025-01-01"), patient=PatientFactory(mrn="=1+1"))
    out = io.StringIO()
    call_command("due_list", "--as-of", AS_OF.isoformat(), "--format", "csv", stdout=out)
    row = next(csv.DictReader(io.StringIO(out.getvalue())))
    assert (row["mrn"], row["serial"]) == ("'=1+1", "'-SN1")
    assert row["battery_replace_by"] == ""


def test_the_patient_page_warns_of_a_due_date_and_a_visit_after_the_battery_stops(nurse_client):
    from datetime import time

    from care.services import book_visit

    pump = make_pump(serial="ERI-PAGE", implant_date=D("2024-01-01"), model="synchromed_ii_40")
    morphine(pump, "2026-03-31")  # due 2026-06-24
    services.record_eri(pump=pump, seen_on=D("2026-03-20"), today=FAR_FUTURE)  # by 2026-06-18
    book_visit(
        patient=pump.patient,
        pump=pump,
        kind="refill",
        day=D("2026-06-20"),
        at=time(9),
        today=AS_OF,
    )
    page = nurse_client.get(reverse("patients:detail", args=[pump.patient_id])).content.decode()
    assert 'data-problem="due-after-battery"' in page
    assert 'data-problem="after-battery"' in page
