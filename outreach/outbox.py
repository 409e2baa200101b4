"""The durable outbox (issue 15, item 3): queue a message once, send it once.

How a message is sent exactly once, with any number of workers and crashes:

1. **Queue once.** Every message has a unique ``dedupe_key`` (a visit and its
   offset, a pump and its refill deadline): queueing the same reminder again
   inserts nothing (``bulk_create(ignore_conflicts=True)`` on the unique key).
2. **Claim atomically.** A worker claims due rows with one conditional UPDATE
   ``SET state='sending', claim_token=<its token>, claimed_until=now+lease
   WHERE pk IN (...) AND state='queued'`` and then reads back the rows holding
   its token. Two workers that pick the same rows cannot both win: the UPDATE
   rechecks ``state='queued'`` on the row under the row's write lock (PostgreSQL
   READ COMMITTED re-evaluates the WHERE after waiting; SQLite has one writer).
   On PostgreSQL the candidates are chosen with ``SELECT ... FOR UPDATE SKIP
   LOCKED`` so workers take different rows instead of queueing on the same ones.
   The claim is committed *before* the provider is called: a crash after it
   leaves a "sending" row, never a "queued" one that another worker would send.
3. **Hand over with the message's id as idempotency key** (``clinic-msg-<id>``):
   the HTTP provider keeps one message per key; email carries it as its
   Message-ID.
4. **Mark** sent (provider id) only if the row still holds this worker's token.
   Outcomes are written every OUTREACH_MARK_EVERY messages (20) in one
   transaction: one commit per chunk, not per message (the 10,000-reminder
   benchmark needs it on SQLite); a crash inside a chunk leaves at most that
   many handed-over rows "sending", settled by step 5.
5. **Reconcile, never resend blindly.** A "sending" row whose lease ran out
   (its worker died between hand-over and mark) is asked about: the backend's
   ``lookup`` says whether the provider has the key. Has it: marked sent with
   its id. Surely not: back to queued (the provider never got it). Cannot
   tell (console, SMTP, the provider unreachable): marked failed with
   "delivery unknown", for staff to check, and never sent again by itself.

Failures the provider calls temporary go back to queued with a back-off
(base * 2^(attempt-1), so 1, 2, 4, 8 minutes by default) until
OUTREACH_MAX_ATTEMPTS, then failed. Permanent refusals fail at once. Consent is
checked again at send time: a message whose patient withdrew is cancelled.
"""

from __future__ import annotations

import logging
import os
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMessage, get_connection
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from outreach import sms
from outreach.choices import Channel, MessageState
from outreach.consent import address_for, consent_refusal
from outreach.models import Message
from patients.models import Patient

log = logging.getLogger(__name__)

UNSUBSCRIBE_SALT = "outreach.unsubscribe"


@dataclass
class RunResult:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    cancelled: int = 0
    reconciled: dict[str, int] = field(default_factory=dict)


def queue(messages: list[Message]) -> int:
    """Insert the messages that are not queued yet (by dedupe key); how many were new."""
    if not messages:
        return 0
    keys = [message.dedupe_key for message in messages]
    before = set(Message.objects.filter(dedupe_key__in=keys).values_list("dedupe_key", flat=True))
    fresh = [message for message in messages if message.dedupe_key not in before]
    for message in fresh:
        message.next_attempt_at = message.due_at
    Message.objects.bulk_create(fresh, ignore_conflicts=True, batch_size=500)
    return len(fresh)


def unsubscribe_token(patient_id: int, message_id: int) -> str:
    return signing.dumps({"p": patient_id, "m": message_id}, salt=UNSUBSCRIBE_SALT, compress=True)


def read_unsubscribe_token(token: str) -> tuple[int, int] | None:
    try:
        data = signing.loads(token, salt=UNSUBSCRIBE_SALT)
        return int(data["p"]), int(data["m"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None


def unsubscribe_url(message: Message) -> str:
    path = reverse("outreach:unsubscribe", args=[unsubscribe_token(message.patient_id, message.pk)])
    return settings.OUTREACH_SITE_URL.rstrip("/") + path


def claim(*, now: datetime, limit: int, lease_seconds: int | None = None) -> list[Message]:
    """Claim up to ``limit`` due queued messages for this worker (see the module's
    docstring); committed before anything is sent."""
    lease = timedelta(seconds=lease_seconds or settings.OUTREACH_LEASE_SECONDS)
    token = uuid.uuid4().hex
    candidates = Message.objects.filter(
        state=MessageState.QUEUED, next_attempt_at__lte=now
    ).order_by("next_attempt_at", "pk")
    claimed = {"state": MessageState.SENDING, "claim_token": token, "claimed_until": now + lease}
    if connection.vendor == "postgresql":
        with transaction.atomic():
            ids = list(
                candidates.select_for_update(skip_locked=True).values_list("pk", flat=True)[:limit]
            )
            if not ids:
                return []
            Message.objects.filter(pk__in=ids, state=MessageState.QUEUED).update(**claimed)
    else:
        # SQLite: one UPDATE ... WHERE pk IN (SELECT ... LIMIT n) AND state='queued',
        # a single statement that takes the write lock at once (a SELECT and then an
        # UPDATE in one transaction could not upgrade its lock beside another worker).
        Message.objects.filter(
            pk__in=candidates.values("pk")[:limit], state=MessageState.QUEUED
        ).update(**claimed)
    return list(
        Message.objects.filter(claim_token=token, state=MessageState.SENDING)
        .select_related("patient")
        .order_by("pk")
    )


Marks = list[tuple[Message, dict[str, Any]]]


def _flush(marks: Marks) -> None:
    """Write the outcomes of a chunk in one transaction (one commit, not one per
    message), each only if its row is still this worker's claim."""
    with transaction.atomic():
        for message, values in marks:
            Message.objects.filter(
                pk=message.pk, claim_token=message.claim_token, state=MessageState.SENDING
            ).update(**values)
    marks.clear()


def _backoff(attempts: int) -> timedelta:
    seconds = settings.OUTREACH_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0)
    return timedelta(seconds=min(seconds, 6 * 3600))


def _hand_over(message: Message, to: str, sms_backend: sms.SmsBackend, mail: Any) -> str:
    if message.channel == Channel.SMS:
        return sms_backend.send(to=to, text=message.text, idempotency_key=message.idempotency_key)
    link = unsubscribe_url(message)
    email = EmailMessage(
        subject=message.subject or settings.CLINIC_NAME,
        body=f"{message.text}\n\n--\nTo receive no more messages: {link}\n",
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
        headers={
            "Message-ID": f"<{message.idempotency_key}@{settings.CLINIC_NAME.replace(' ', '-')}>",
            "List-Unsubscribe": f"<{link}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
        connection=mail,
    )
    email.send(fail_silently=False)
    return message.idempotency_key


def send_claimed(messages: list[Message], result: RunResult, now: datetime | None = None) -> None:
    """Send claimed messages in chunks of OUTREACH_MARK_EVERY: the chunk's patients
    are read again (consent at send time), each message is handed over, and the
    chunk's outcomes are written in one transaction. A worker that dies inside a
    chunk leaves its handed-over rows "sending", which reconciliation settles."""
    sms_backend = sms.get_backend() if any(m.channel == Channel.SMS for m in messages) else None
    mail = get_connection() if any(m.channel == Channel.EMAIL for m in messages) else None
    every = max(1, settings.OUTREACH_MARK_EVERY)
    marks: Marks = []
    try:
        if mail is not None:
            try:
                mail.open()  # one connection for the batch
            except Exception as error:  # each message then tries, fails and backs off
                log.warning("mail server not reached: %s", error)
        for first in range(0, len(messages), every):
            chunk = messages[first : first + every]
            patients = Patient.objects.in_bulk({m.patient_id for m in chunk})
            for message in chunk:
                _send_one(
                    message,
                    patients[message.patient_id],
                    sms_backend,
                    mail,
                    result,
                    now or timezone.now(),
                    marks,
                )
            _flush(marks)
    finally:
        _flush(marks)
        if mail is not None:
            mail.close()


def _send_one(
    message: Message,
    patient: Patient,
    sms_backend: Any,
    mail: Any,
    result: RunResult,
    now: datetime,
    marks: Marks,
) -> None:
    attempts = message.attempts + 1
    # Consent again, at send time: the patient as read for this chunk.
    if refusal := consent_refusal(patient, message.channel):
        marks.append(
            (
                message,
                {
                    "state": MessageState.CANCELLED,
                    "cancelled_reason": f"not sent: {refusal}"[:200],
                    "claim_token": "",
                },
            )
        )
        result.cancelled += 1
        return
    to = address_for(patient, message.channel)
    try:
        provider_id = _hand_over(message, to, sms_backend, mail)
    except sms.SmsError as error:
        _after_failure(message, attempts, str(error), error.permanent, result, now, marks)
        return
    except Exception as error:  # SMTP and socket errors: temporary
        text = f"{type(error).__name__}: {error}"
        _after_failure(message, attempts, text, False, result, now, marks)
        return
    if settings.OUTREACH_CRASH_AFTER_SEND:
        # Tests only: die between the hand-over and the mark (no cleanup, no commit).
        os._exit(17)
    marks.append(
        (
            message,
            {
                "state": MessageState.SENT,
                "to": to,
                "provider_id": provider_id[:100],
                "sent_at": now,
                "attempts": attempts,
                "claim_token": "",
                "last_error": "",
            },
        )
    )
    result.sent += 1


def _after_failure(
    message: Message,
    attempts: int,
    error: str,
    permanent: bool,
    result: RunResult,
    now: datetime,
    marks: Marks,
) -> None:
    log.warning("message %s not sent (attempt %s): %s", message.pk, attempts, error)
    values: dict[str, Any] = {"attempts": attempts, "last_error": error[:300], "claim_token": ""}
    if permanent or attempts >= settings.OUTREACH_MAX_ATTEMPTS:
        values["state"] = MessageState.FAILED
        result.failed += 1
    else:
        values["state"] = MessageState.QUEUED
        values["next_attempt_at"] = now + _backoff(attempts)
        result.retried += 1
    marks.append((message, values))


def reconcile_stale(*, now: datetime) -> dict[str, int]:
    """Settle "sending" rows whose worker's lease ran out (see the module's docstring)."""
    counts = {"sent": 0, "requeued": 0, "unknown": 0}
    stale = list(
        Message.objects.filter(state=MessageState.SENDING, claimed_until__lt=now)
        .select_related("patient")
        .order_by("pk")
    )
    sms_backend: sms.SmsBackend | None = None
    for message in stale:
        outcome = "unknown"
        provider_id: str | None = None
        if message.channel == Channel.SMS:
            sms_backend = sms_backend or sms.get_backend()
            try:
                provider_id = sms_backend.lookup(
                    idempotency_key=message.idempotency_key,
                    to=message.to or address_for(message.patient, message.channel),
                    text=message.text,
                    since=(message.claimed_until or now)
                    - timedelta(seconds=settings.OUTREACH_LEASE_SECONDS + 60),
                )
                outcome = "sent" if provider_id else "requeued"
            except sms.LookupUnsupported:
                outcome = "unknown"
        # A conditional UPDATE on the same stale claim: two reconcilers settle it once.
        rows = Message.objects.filter(
            pk=message.pk, state=MessageState.SENDING, claim_token=message.claim_token
        )
        if outcome == "sent":
            done = rows.update(
                state=MessageState.SENT,
                provider_id=(provider_id or "")[:100],
                sent_at=message.claimed_until or now,
                attempts=message.attempts + 1,
                claim_token="",
            )
        elif outcome == "requeued":
            done = rows.update(
                state=MessageState.QUEUED,
                attempts=message.attempts + 1,
                claim_token="",
                next_attempt_at=now,
                last_error="interrupted before the provider got it: queued again",
            )
        else:
            done = rows.update(
                state=MessageState.FAILED,
                attempts=message.attempts + 1,
                claim_token="",
                last_error="interrupted while sending: delivery unknown, not sent again "
                "(check with the patient)",
            )
        counts[outcome] += done
    return counts


def send_due(*, now: datetime | None = None, limit: int | None = None) -> RunResult:
    """One worker run: settle stale claims, then claim and send due messages in
    batches until none is due (or ``limit`` messages were claimed)."""
    result = RunResult()
    result.reconciled = reconcile_stale(now=now or timezone.now())
    batch = settings.OUTREACH_BATCH_SIZE
    while limit is None or result.claimed < limit:
        size = batch if limit is None else min(batch, limit - result.claimed)
        claimed = claim(now=now or timezone.now(), limit=size)
        if not claimed:
            break
        result.claimed += len(claimed)
        send_claimed(claimed, result, now)
    return result
