"""Entered in error (clinical-rules.md 9): mark a clinical record, or take the mark back.

The record stays, struck through with who, when and why; callers that keep
derived state (a pump's dates, its open discrepancies) recompute it in the
same transaction. Both directions are kept in the record's history with the
reason (simple-history's change reason), so the audit shows each decision.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError

from core.roles import CLINICAL_ROLES, require_role
from patients.models import EnteredInError


def _reason(reason: str) -> str:
    text = reason.strip()
    if not text:
        raise ValidationError({"reason": "Say why: the reason stays in the record."})
    return text


def mark_entered_in_error(record: EnteredInError, *, user: Any, reason: str, now: datetime) -> None:
    """Mark ``record`` entered in error. Call inside a transaction holding its lock.

    Section 9: by a nurse or a physician, whatever the door.
    """
    require_role(user, *CLINICAL_ROLES, to="mark a record entered in error")
    text = _reason(reason)
    if record.is_entered_in_error:
        raise ValidationError("This record is already marked entered in error.")
    record.entered_in_error_at = now
    record.entered_in_error_by = user
    record.entered_in_error_reason = text
    record._change_reason = f"Entered in error: {text}"  # type: ignore[attr-defined]
    record._history_user = user  # type: ignore[attr-defined]
    record.save(
        update_fields=["entered_in_error_at", "entered_in_error_by", "entered_in_error_reason"]
    )


def unmark_entered_in_error(record: EnteredInError, *, user: Any, reason: str) -> None:
    """Take the mark back: the record counts again. The history keeps both steps."""
    require_role(user, *CLINICAL_ROLES, to="restore a record entered in error")
    text = _reason(reason)
    if not record.is_entered_in_error:
        raise ValidationError("This record is not marked entered in error.")
    record.entered_in_error_at = None
    record.entered_in_error_by = None
    record.entered_in_error_reason = ""
    record._change_reason = f"Restored (not in error): {text}"  # type: ignore[attr-defined]
    record._history_user = user  # type: ignore[attr-defined]
    record.save(
        update_fields=["entered_in_error_at", "entered_in_error_by", "entered_in_error_reason"]
    )
