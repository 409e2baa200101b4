"""The view log: who opened which patient's record, form, list or export,
when, from where, with which method and what answer.

Changes to clinical records are logged by django-simple-history; this log
covers every request that reached a page of patient data (audit/registry.py),
reading or sending a form alike. An entry is written once and never changed or deleted, by
any door: ``save`` refuses an existing row, ``delete`` and the queryset's
``update``/``delete`` raise. (A database superuser can still do anything;
the backups keep a copy.)
"""

from __future__ import annotations

from typing import Any, NoReturn

from django.db import models
from django.utils import timezone


class AuditLogIsAppendOnly(Exception):
    """An attempt to change or delete an audit entry."""


class AuditEntryQuerySet(models.QuerySet["AuditEntry"]):
    def update(self, **kwargs: Any) -> NoReturn:
        raise AuditLogIsAppendOnly("Audit entries cannot be changed.")

    def delete(self) -> NoReturn:  # type: ignore[override]
        raise AuditLogIsAppendOnly("Audit entries cannot be deleted.")


class AuditEntry(models.Model):
    """One request that reached a page of patient data: a record, a form, a list, an export.

    No foreign keys: the log must outlive the user and the patient it names
    (deleting either would otherwise rewrite or block the log), so it keeps
    their ids and a readable copy of their names.
    """

    at = models.DateTimeField(default=timezone.now, db_index=True)
    user_id = models.BigIntegerField(null=True, db_index=True)
    username = models.CharField(max_length=150, db_index=True)
    view_name = models.CharField("page", max_length=200)
    what = models.CharField(
        max_length=200, help_text="What was shown or sent: a record, a form, a list or an export."
    )
    patient_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    patient_mrn = models.CharField("record number", max_length=32, blank=True, db_index=True)
    path = models.CharField(max_length=500)
    ip_address = models.GenericIPAddressField("from", null=True, blank=True)
    # Empty / null on entries written before these were recorded (GET or HEAD, answered 200).
    method = models.CharField(max_length=10, blank=True)
    status = models.PositiveSmallIntegerField("answer", null=True, blank=True)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-pk"]
        verbose_name = "audit entry"
        verbose_name_plural = "audit log (who opened what)"

    def __str__(self) -> str:
        return f"{self.username} {self.method or 'GET'} {self.what} at {self.at:%Y-%m-%d %H:%M}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AuditLogIsAppendOnly("Audit entries cannot be changed.")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AuditLogIsAppendOnly("Audit entries cannot be deleted.")
