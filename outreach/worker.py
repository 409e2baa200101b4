"""The worker (issue 15, item 4): django-q2 runs the two jobs below.

- ``outreach.worker.queue_reminders``: daily (the scheduler), queues the visit
  reminders and refill calls.
- ``outreach.worker.send_due``: every minute, sends what is due.

``manage.py qcluster`` is the worker process (``make run`` starts it beside
the server; README, "Reminders and the outbox", for production). The broker is
the database (django-q2's ORM broker) unless Q_REDIS_URL names a Redis server.
The same jobs run by hand: ``manage.py queue_reminders``, ``manage.py send_due``.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from django.utils import timezone

DAILY = "outreach: queue reminders (daily)"
FREQUENT = "outreach: send due messages"


def queue_reminders() -> dict[str, int]:
    from outreach.reminders import daily_run

    return daily_run()


def send_due() -> dict[str, int]:
    from outreach.outbox import send_due as run

    result = run()
    return {
        "claimed": result.claimed,
        "sent": result.sent,
        "retried": result.retried,
        "failed": result.failed,
        "cancelled": result.cancelled,
    }


def _next_local(at: time) -> datetime:
    now = timezone.localtime()
    moment = timezone.make_aware(datetime.combine(now.date(), at))
    return moment if moment > now else moment + timedelta(days=1)


def ensure_schedules(sender: Any = None, **kwargs: Any) -> None:
    """Create the two schedules if missing (after migrate; idempotent)."""
    from django.db import DEFAULT_DB_ALIAS
    from django_q.models import Schedule

    using = kwargs.get("using", DEFAULT_DB_ALIAS)
    if not Schedule.objects.using(using).filter(name=DAILY).exists():
        Schedule.objects.using(using).create(
            name=DAILY,
            func="outreach.worker.queue_reminders",
            schedule_type=Schedule.DAILY,
            next_run=_next_local(time(6, 0)),
            repeats=-1,
        )
    if not Schedule.objects.using(using).filter(name=FREQUENT).exists():
        Schedule.objects.using(using).create(
            name=FREQUENT,
            func="outreach.worker.send_due",
            schedule_type=Schedule.MINUTES,
            minutes=1,
            next_run=timezone.now(),
            repeats=-1,
        )
