"""The refill form's decisions, in one place: the view only converts and renders.

``open_refill`` reads what the empty form shows; ``submit_refill`` decides a
submitted form: a pump explanted since the form was opened, a form already
saved (a double click), a spent token, refusals, warnings to confirm, or the
save. Everything is read once, under the pump's row lock, and passed on to
the services' checks and to the save (issue 11: at most 15 queries a request,
pinned in tests/pumps/test_log_refill_page.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date
from uuid import UUID

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Case, Q, When

from patients.models import IN_FORCE
from pumps import services
from pumps.models import Pump, Refill, SchedulePolicy

TOKEN_SPENT = (
    "This form was already used to save another refill, so nothing was saved. "
    "Check the values below and save again."
)


def warnings_digest(warnings: list[str]) -> str:
    """What the nurse confirmed: a new or changed warning needs a new decision."""
    return hashlib.sha256("\n".join(warnings).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class RefillEntry:
    """The pump and what the form says about it: the expected residual today."""

    pump: Pump
    context: services.FillContext

    @property
    def expected(self) -> services.ExpectedResidual | None:
        return services.check_residual(
            pump=self.pump, refill_date=self.context.on, residual_ml=None, context=self.context
        ).expected

    @property
    def expected_text(self) -> str | None:
        """'about 7.4 mL', or a range when the last fill allowed boluses (section 4)."""
        expected = self.expected
        return services.expected_residual_text(expected) if expected is not None else None


def open_refill(pump: Pump, *, today: date) -> RefillEntry:
    """The form for ``pump``, read with ``Pump.objects.with_list_relations()``.

    One query (the dose changes since the latest fill): the latest fill came
    with the pump, in the same statement.
    """
    recent = [pump.latest_fill] if pump.latest_fill is not None else []
    return RefillEntry(pump=pump, context=services.fill_context(pump, today, recent=recent))


@dataclass(frozen=True)
class Outcome:
    """What became of a submitted refill form; exactly one of its kinds holds.

    ``saved``: the refill (just saved, or ``already_saved`` by this very form);
    ``stale_pump``: the pump was explanted since the form was opened;
    ``refusals``: field name (or NON_FIELD_ERRORS) to messages, nothing saved;
    ``token_spent``: the form's token saved another refill (a refusal too: the
    form needs a fresh token); ``warnings_to_confirm``: valid, but these need
    the nurse's confirmation first.
    """

    entry: RefillEntry
    saved: Refill | None = None
    already_saved: bool = False
    stale_pump: bool = False
    refusals: dict[str, list[str]] = field(default_factory=dict)
    token_spent: bool = False
    warnings_to_confirm: list[str] = field(default_factory=list)

    @property
    def pump(self) -> Pump:
        return self.entry.pump


def submit_refill(
    *,
    pump_id: int,
    fill: services.Fill,
    token: UUID,
    confirmed_digest: str | None,
    user,  # type: ignore[no-untyped-def]
    today: date,
    policy: SchedulePolicy,
    pain_score: int | None = None,
    ashworth_score: str = "",
    notes: str = "",
) -> Outcome:
    """Decide a submitted refill form and save it when nothing stands in the way.

    ``confirmed_digest``: the warnings_digest of the warnings the nurse ticked
    to confirm, or None. Raises ``Pump.DoesNotExist`` for an unknown pump.
    """
    try:
        return _submit(
            pump_id=pump_id,
            fill=fill,
            token=token,
            confirmed_digest=confirmed_digest,
            user=user,
            today=today,
            policy=policy,
            pain_score=pain_score,
            ashworth_score=ashworth_score,
            notes=notes,
        )
    except IntegrityError:
        # Two submissions of one form at the same instant where rows are not
        # locked (SQLite): the other one saved it, and this one lost the race
        # on the token's unique index. Its transaction is gone: read afresh.
        saved = Refill.objects.filter(submission_token=token).first()
        if saved is None:
            raise
        pump = Pump.objects.with_list_relations().get(pk=pump_id)
        entry = open_refill(pump, today=today)
        if _token_is_this_forms(saved, pump, user):
            return Outcome(entry=entry, saved=saved, already_saved=True)
        return _token_spent(entry)


@transaction.atomic
def _submit(
    *,
    pump_id: int,
    fill: services.Fill,
    token: UUID,
    confirmed_digest: str | None,
    user,  # type: ignore[no-untyped-def]
    today: date,
    policy: SchedulePolicy,
    pain_score: int | None,
    ashworth_score: str,
    notes: str,
) -> Outcome:
    # The lock comes first: a second click of the same form waits here for the
    # first to commit, then finds its refill by the token below.
    pump = services.lock_pump(pump_id)
    if not pump.is_active:
        return Outcome(entry=_without_fills(pump, today), stale_pump=True)
    recent, spent = _recent_fills_and_token(pump, token)
    if spent is not None:
        if _token_is_this_forms(spent, pump, user):
            return Outcome(entry=_without_fills(pump, today), saved=spent, already_saved=True)
        return _token_spent(RefillEntry(pump=pump, context=services.fill_context(pump, today)))
    if recent and recent[0].pk == pump.latest_fill_id:
        pump.latest_fill = recent[0]  # what the page shows, read once
    entry = RefillEntry(
        pump=pump, context=services.fill_context(pump, fill.refill_date, recent=recent)
    )
    try:
        services.validate_fill(pump=pump, fill=fill, today=today, context=entry.context)
    except ValidationError as error:
        return Outcome(entry=_for_today(entry, today), refusals=_by_field(error))
    warnings = [
        warning.message
        for warning in services.fill_warnings(
            pump=pump, fill=fill, policy=policy, context=entry.context
        )
    ]
    if warnings and confirmed_digest != warnings_digest(warnings):
        return Outcome(entry=_for_today(entry, today), warnings_to_confirm=warnings)
    saved = services.record_locked_fill(
        pump=pump,
        fill=fill,
        context=entry.context,
        today=today,
        policy=policy,
        pain_score=pain_score,
        ashworth_score=ashworth_score,
        notes=notes,
        recorded_by=user,
        submission_token=token,
    )
    return Outcome(entry=entry, saved=saved)


def _recent_fills_and_token(pump: Pump, token: UUID) -> tuple[list[Refill], Refill | None]:
    """The pump's latest fills in force, newest first, or the refill this form's
    token saved (on any pump, in force or not): one query, after the lock.

    The token's refill sorts first; without one the rows are the pump's
    latest fills in force, all that fill_context needs.
    """
    rows = list(
        Refill.objects.filter(Q(IN_FORCE, pump=pump) | Q(submission_token=token))
        .select_related("drug")
        .order_by(Case(When(submission_token=token, then=0), default=1), "-refill_date")[:3]
    )
    if rows and rows[0].submission_token == token:
        return [], rows[0]
    return rows, None


def _without_fills(pump: Pump, today: date) -> RefillEntry:
    """An entry for a page that checks nothing against fills (a redirect, the explant)."""
    return RefillEntry(
        pump=pump,
        context=services.FillContext(on=today, latest=None, previous=None, adjustments=()),
    )


def _for_today(entry: RefillEntry, today: date) -> RefillEntry:
    """The entry the re-shown form describes: its expected residual is today's.

    The same context when the form's date is today (the usual case), else
    read again for today from the fills already read.
    """
    if entry.context.on == today:
        return entry
    latest = entry.context.latest
    context = services.fill_context(
        entry.pump, today, recent=[latest] if latest is not None else []
    )
    return RefillEntry(pump=entry.pump, context=context)


def _token_is_this_forms(saved: Refill, pump: Pump, user) -> bool:  # type: ignore[no-untyped-def]
    """A token is bound to its pump and its user: another's is never "already saved"."""
    return saved.pump_id == pump.pk and saved.recorded_by_id == user.pk


def _token_spent(entry: RefillEntry) -> Outcome:
    return Outcome(entry=entry, token_spent=True, refusals={NON_FIELD_ERRORS: [TOKEN_SPENT]})


def _by_field(error: ValidationError) -> dict[str, list[str]]:
    if hasattr(error, "error_dict"):
        return {name: list(messages) for name, messages in error.message_dict.items()}
    return {NON_FIELD_ERRORS: list(error.messages)}
