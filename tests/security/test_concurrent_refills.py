"""Two refills of one pump at the same instant, from real parallel connections.

PostgreSQL only: SQLite has one writer at a time, so nothing runs in parallel
there to prove. Each round starts both writers on a barrier, each thread with
its own database connection; the pump's row lock (pumps.services._lock) must
queue them so that both are recorded or one is refused in words, never lost,
and the pump's stored dates always match its latest fill.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from importlib import import_module
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from core.roles import NURSE
from pumps import services
from pumps.models import Drug, Pump, Refill, SchedulePolicy
from tests.factories import UserFactory, fill, make_pump

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: SQLite serializes writers, so there is no race to test",
    ),
    # The threads read what the test wrote, so it must be committed.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

ROUNDS = 30


@pytest.fixture(autouse=True)
def shipped_data(transactional_db: None) -> None:
    """The catalogue, drugs, policy and roles, as migrations ship them (a
    transactional test empties every table when it ends)."""
    from django.apps import apps

    import_module("pumps.migrations.0002_catalogue").ship(apps, None)
    import_module("patients.migrations.0003_roles").create_roles(apps, None)


def at_once(*jobs: Callable[[], Any]) -> list[Any]:
    """Run the jobs in parallel threads, released together; results or exceptions."""
    barrier = threading.Barrier(len(jobs))
    results: list[Any] = [None] * len(jobs)

    def run(index: int, job: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = job()
        except Exception as error:  # reported, not lost: the test judges it
            results[index] = error
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def assert_schedule_matches_latest_fill(pump: Pump) -> None:
    pump.refresh_from_db()
    latest = Refill.objects.filter(pump=pump).select_related("drug").latest("refill_date")
    is_first = not Refill.objects.filter(pump=pump, refill_date__lt=latest.refill_date).exists()
    expected = services.compute_schedule(
        pump=pump,
        fill=services.fill_facts(latest, is_first_fill=is_first),
        rate_changes=[],
        policy=SchedulePolicy.current(),
    )
    assert pump.latest_fill_id == latest.pk
    assert {name: getattr(pump, name) for name in expected} == expected


def a_filled_pump(today: date) -> Pump:
    pump = make_pump(implant_date=today - timedelta(days=300))
    fill(pump, on=today - timedelta(days=30))
    return pump


def record(pump_id: int, on: date, today: date) -> Callable[[], Refill]:
    def job() -> Refill:
        return services.record_fill(
            pump=Pump.objects.get(pk=pump_id),
            fill=services.Fill(
                refill_date=on,
                drug=Drug.objects.get(code="morphine"),
                concentration=Decimal("20"),
                concentration_unit="mg/mL",
                daily_dose=Decimal("4"),
                dose_unit="mg/day",
                volume_ml=Decimal("20"),
            ),
            today=today,
        )

    return job


def test_two_services_filling_one_pump_at_once_queue_and_lose_nothing() -> None:
    today = timezone.localdate()
    outcomes: Counter[str] = Counter()
    for round_ in range(ROUNDS):
        pump = a_filled_pump(today)
        # Even rounds: the same day twice. Odd rounds: yesterday and today.
        first = today if round_ % 2 == 0 else today - timedelta(days=1)
        results = at_once(record(pump.pk, first, today), record(pump.pk, today, today))
        saved = [r for r in results if isinstance(r, Refill)]
        refused = [r for r in results if isinstance(r, ValidationError)]
        assert len(saved) + len(refused) == 2, results  # nothing else (no deadlock, no crash)
        assert saved, "at least one of two valid refills is recorded"
        for error in refused:
            assert "already recorded" in " ".join(error.messages), error.messages
        assert Refill.objects.filter(pump=pump).count() == 1 + len(saved)  # never lost
        assert_schedule_matches_latest_fill(pump)
        outcomes[f"{'same day' if first == today else 'two days'}: {len(saved)} saved"] += 1
    print(dict(outcomes))  # shown with -s: how the races fell
    assert sum(outcomes.values()) == ROUNDS


def nurse_client() -> Client:
    client = Client()
    client.force_login(UserFactory(roles=[NURSE]))
    return client


def post_refill(client: Client, pump: Pump, on: date, token: uuid.UUID) -> Callable[[], Any]:
    data = {
        "refill_date": on.isoformat(),
        "drug": "morphine",
        "concentration": "20",
        "concentration_unit": "mg/mL",
        "daily_dose": "4",
        "dose_unit": "mg/day",
        "residual_ml": "",
        "volume_ml": "20",
        "submission_token": str(token),
    }
    return lambda: client.post(reverse("pumps:log_refill", args=[pump.pk]), data)


@pytest.fixture
def two_nurses() -> tuple[Client, Client]:
    return nurse_client(), nurse_client()


def test_two_nurses_posting_the_form_at_once_are_both_recorded_or_one_is_told(
    two_nurses: tuple[Client, Client],
) -> None:
    today = timezone.localdate()
    outcomes: Counter[str] = Counter()
    for _ in range(ROUNDS):
        pump = a_filled_pump(today)
        responses = at_once(
            post_refill(two_nurses[0], pump, today, uuid.uuid4()),
            post_refill(two_nurses[1], pump, today, uuid.uuid4()),
        )
        codes = sorted(getattr(r, "status_code", repr(r)) for r in responses)
        assert codes == [200, 302], responses  # one saved, one shown the form again
        told = next(r for r in responses if r.status_code == 200).content.decode()
        assert f"A refill on {today} is already recorded for this pump." in told
        assert Refill.objects.filter(pump=pump).count() == 2
        assert_schedule_matches_latest_fill(pump)
        outcomes["one saved, one told"] += 1
    assert outcomes["one saved, one told"] == ROUNDS


def test_a_form_submitted_twice_at_once_saves_once(two_nurses: tuple[Client, Client]) -> None:
    today = timezone.localdate()
    client = two_nurses[0]
    for _ in range(ROUNDS):
        pump = a_filled_pump(today)
        token = uuid.uuid4()
        responses = at_once(
            post_refill(client, pump, today, token), post_refill(client, pump, today, token)
        )
        saved = Refill.objects.get(submission_token=token)  # exactly one
        for response in responses:
            assert getattr(response, "status_code", response) == 302, response
            assert response["Location"] == reverse("pumps:refill_saved", args=[saved.pk])
        assert Refill.objects.filter(pump=pump).count() == 2
        assert_schedule_matches_latest_fill(pump)
