"""Creating, revoking and reading staff calendar feeds (issue 15, item 7).

The feed holds no patient-identifying data: each booked visit is an event
named by its visit number, with its room, start and length. No name, record
number, birth date, phone, drug, dose or kind of visit.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

import icalendar
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet

from care.choices import VisitKind, VisitStatus
from care.models import Appointment
from core.roles import ALL_ROLES, has_role
from feeds.models import FeedScope, FeedToken

# The window a calendar app is sent: a month back (last visits stay in view),
# three months ahead (what can be booked for the next refills).
DAYS_BACK = 30
DAYS_AHEAD = 90
# Appointments have a start, not a length: each kind's usual length.
VISIT_MINUTES = {
    VisitKind.REFILL: 30,
    VisitKind.POST_MRI_CHECK: 15,
}
DEFAULT_MINUTES = 30
# Visits that still happen or happened: a visit cancelled or missed drops out
# of the calendar at the next refresh.
SHOWN_STATUSES = (VisitStatus.BOOKED, VisitStatus.DONE)
ACTIVE_FEEDS_PER_USER = 5


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def create_feed(*, user: User, scope: str, label: str = "") -> tuple[FeedToken, str]:
    """A new feed for ``user``; returns it and its secret, which is shown once."""
    if scope not in FeedScope.values:
        raise ValidationError({"scope": "Choose which visits the feed holds."})
    User.objects.select_for_update().filter(pk=user.pk).first()  # queue two clicks
    if FeedToken.objects.filter(user=user, revoked_at__isnull=True).count() >= (
        ACTIVE_FEEDS_PER_USER
    ):
        raise ValidationError(
            f"You have {ACTIVE_FEEDS_PER_USER} feeds in use: revoke one you no longer use first."
        )
    token = secrets.token_urlsafe(32)
    feed = FeedToken.objects.create(
        user=user, scope=scope, label=label.strip()[:60], token_hash=token_hash(token)
    )
    return feed, token


@transaction.atomic
def revoke_feed(*, feed: FeedToken, now: datetime) -> FeedToken:
    """The feed's address stops working at once (its next fetch is a 404)."""
    feed = FeedToken.objects.select_for_update().get(pk=feed.pk)
    if feed.revoked_at is None:
        feed.revoked_at = now
        feed.save(update_fields=["revoked_at"])
    return feed


def feed_of_token(token: str) -> FeedToken | None:
    """The feed a secret opens: in use, of an active staff member; None otherwise."""
    if not token or len(token) > 100:
        return None
    feed = (
        FeedToken.objects.select_related("user")
        .filter(token_hash=token_hash(token), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    # A member who lost every staff role keeps no window on the clinic's day.
    if feed is None or not has_role(feed.user, *ALL_ROLES):
        return None
    return feed


def feed_visits(feed: FeedToken, *, now: datetime) -> QuerySet[Appointment]:
    """The visits of the feed's window: the clinic's, or the member's own.

    "Mine" is what the Appointment model can tell of a member: the visits they
    booked, and the visits of patients whose treating physician they are.
    """
    visits = Appointment.objects.filter(
        status__in=SHOWN_STATUSES,
        scheduled_at__gte=now - timedelta(days=DAYS_BACK),
        scheduled_at__lt=now + timedelta(days=DAYS_AHEAD),
    )
    if feed.scope == FeedScope.MINE:
        visits = visits.filter(Q(booked_by=feed.user) | Q(patient__treating_physician=feed.user))
    return visits.order_by("scheduled_at", "pk")


def calendar(feed: FeedToken, *, now: datetime, host: str) -> bytes:
    """The feed as an iCalendar document (RFC 5545), times in UTC."""
    cal = icalendar.Calendar()
    cal.add("prodid", "-//Pump clinic//Staff visits//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", "Clinic visits" if feed.scope == FeedScope.CLINIC else "My visits")
    # Calendar apps poll; an hour is what most honour.
    cal.add("refresh-interval", timedelta(hours=1), parameters={"VALUE": "DURATION"})
    # Only these fields are read: nothing of the patient can reach the document.
    rows: Any = feed_visits(feed, now=now).values_list(
        "pk", "scheduled_at", "kind", "room", "status"
    )
    for pk, start, kind, room, status in rows:
        event = icalendar.Event()
        event.add("uid", f"visit-{pk}@{host}")
        event.add("dtstamp", now)
        event.add("dtstart", start)
        event.add("duration", timedelta(minutes=VISIT_MINUTES.get(kind, DEFAULT_MINUTES)))
        event.add("summary", f"Visit {pk}" + (f" · {room}" if room else ""))
        if room:
            event.add("location", room)
        event.add("status", "CONFIRMED")
        event.add("transp", "OPAQUE")
        if status == VisitStatus.DONE:
            event.add("description", "Done")
        cal.add_component(event)
    return cal.to_ical()
