"""The outbox (issue 15): consent changes, message templates, messages and staff tasks."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import models

from outreach.choices import Channel, MessageKind, MessageState, TaskState
from patients.choices import ConsentSource


class ConsentEvent(models.Model):
    """Every change of a patient's consent to be contacted: who, when, how."""

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="consent_events"
    )
    given = models.BooleanField(help_text="True: consent given; False: withdrawn.")
    channel = models.CharField(max_length=8, blank=True)
    source = models.CharField(max_length=20, choices=ConsentSource.choices)
    detail = models.CharField(max_length=200, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    at = models.DateTimeField()

    class Meta:
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"Consent {'given' if self.given else 'withdrawn'} ({self.source})"


class MessageTemplate(models.Model):
    """The words of one kind of message, per channel and language. An edit is not
    used until an administrator has looked at its preview and approved it."""

    kind = models.CharField(max_length=20, choices=MessageKind.choices)
    channel = models.CharField(max_length=8, choices=Channel.choices)
    language = models.CharField(max_length=10, default="en")
    subject = models.CharField(max_length=150, blank=True, help_text="Email only.")
    body = models.TextField(
        help_text="Placeholders: {clinic_name}, {clinic_phone}, {date}, {time}. "
        "Nothing else: never the drug, the dose or the diagnosis."
    )
    # The hash of the subject and body the administrator approved after the preview.
    approved_hash = models.CharField(max_length=64, blank=True, editable=False)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
    )
    approved_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["kind", "channel", "language"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "channel", "language"],
                name="one_template_per_kind_channel_language",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.get_channel_display()}, {self.language})"

    def content_hash(self) -> str:
        return hashlib.sha256(f"{self.subject}\x00{self.body}".encode()).hexdigest()

    @property
    def is_approved(self) -> bool:
        return bool(self.approved_hash) and self.approved_hash == self.content_hash()


class Message(models.Model):
    """One message to one patient: a row in the durable outbox."""

    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=20, choices=MessageKind.choices)
    channel = models.CharField(max_length=8, choices=Channel.choices)
    appointment = models.ForeignKey(
        "care.Appointment", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    pump = models.ForeignKey(
        "pumps.Pump", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    subject = models.CharField(max_length=200, blank=True)
    text = models.TextField()
    # The number or address it went to, filled when it is handed to the provider.
    to = models.CharField(max_length=254, blank=True)
    due_at = models.DateTimeField()
    state = models.CharField(
        max_length=10, choices=MessageState.choices, default=MessageState.QUEUED
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    # Not before this moment (retries back off); equal to due_at when queued.
    next_attempt_at = models.DateTimeField()
    # A worker's claim: its token, and until when the claim holds.
    claim_token = models.CharField(max_length=32, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    provider_id = models.CharField(max_length=100, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    # e.g. "visit:12:7d" or "refill-call:5:2026-04-10": one message per key, ever.
    dedupe_key = models.CharField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    cancelled_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-due_at", "-pk"]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="outbox_due"),
            models.Index(fields=["patient", "due_at"], name="outbox_patient"),
            models.Index(fields=["appointment", "state"], name="outbox_appointment"),
        ]

    def __str__(self) -> str:
        return f"Message {self.pk} ({self.get_state_display()})"

    @property
    def idempotency_key(self) -> str:
        """What the provider is told, so a second hand-over of this row is one message."""
        return f"clinic-msg-{self.pk}"


class StaffTask(models.Model):
    """Work for staff instead of a repeated message: the patient was asked once to
    call and book a refill, and has not booked."""

    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+")
    pump = models.ForeignKey("pumps.Pump", on_delete=models.PROTECT, related_name="+")
    message = models.ForeignKey(Message, on_delete=models.PROTECT, related_name="+")
    text = models.CharField(max_length=200)
    # One task per refill cycle (the pump and its refill deadline).
    dedupe_key = models.CharField(max_length=100, unique=True)
    state = models.CharField(max_length=8, choices=TaskState.choices, default=TaskState.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["state", "created_at"]

    def __str__(self) -> str:
        return self.text
