"""What the staff pages read about the outbox (issue 15, item 8)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from django.db import connection
from django.db.models import Count, QuerySet
from django.utils import timezone

from outreach.choices import MessageState, TaskState
from outreach.models import Message, StaffTask
from patients.choices import PatientStatus
from patients.models import Patient

BOARD_WINDOW_DAYS = 7


def day_range(day: date) -> tuple[datetime, datetime]:
    start = timezone.make_aware(datetime.combine(day, time.min))
    return start, start + timedelta(days=1)


def outbox(*, state: str = "", channel: str = "", day: date | None = None) -> QuerySet[Message]:
    messages = Message.objects.select_related("patient")
    if state:
        messages = messages.filter(state=state)
    if channel:
        messages = messages.filter(channel=channel)
    if day is not None:
        start, end = day_range(day)
        messages = messages.filter(due_at__gte=start, due_at__lt=end)
    return messages.order_by("-due_at", "-pk")


def state_counts(messages: QuerySet[Message]) -> dict[str, int]:
    rows = messages.order_by().values("state").annotate(n=Count("pk"))
    counts = dict.fromkeys(MessageState.values, 0)
    counts.update({row["state"]: row["n"] for row in rows})
    return counts


def open_tasks() -> QuerySet[StaffTask]:
    return (
        StaffTask.objects.filter(state=TaskState.OPEN)
        .select_related("patient", "pump", "message")
        .order_by("created_at")
    )


def _count_sql(queryset: QuerySet[Any]) -> tuple[str, tuple[Any, ...]]:
    sql, params = queryset.order_by().values("pk").query.sql_with_params()
    return f"(SELECT COUNT(*) FROM ({sql}) counted)", tuple(params)


def board_counts(now: datetime | None = None) -> dict[str, int]:
    """The board's numbers in ONE statement: messages sent and failed in the last
    seven days, implanted patients who have not consented to be contacted, and
    open staff tasks."""
    now = now or timezone.now()
    since = now - timedelta(days=BOARD_WINDOW_DAYS)
    parts = {
        "sent": Message.objects.filter(state=MessageState.SENT, sent_at__gte=since),
        "failed": Message.objects.filter(state=MessageState.FAILED, created_at__gte=since),
        "awaiting_consent": Patient.objects.filter(
            status=PatientStatus.IMPLANTED, consent_to_contact=False
        ),
        "open_tasks": StaffTask.objects.filter(state=TaskState.OPEN),
    }
    sqls: list[str] = []
    params: list[Any] = []
    for queryset in parts.values():
        sql, part_params = _count_sql(queryset)
        sqls.append(sql)
        params.extend(part_params)
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(sqls), params)
        row = cursor.fetchone()
    return dict(zip(parts, (int(n) for n in row), strict=True))
