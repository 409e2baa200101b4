from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta

import pytest
from aiosmtpd.controller import Controller
from django.utils import timezone

from outreach.fake_provider import FakeProvider
from patients.choices import ContactBy, PatientStatus
from tests.factories import PatientFactory

SECRET = "test-provider-secret"


@pytest.fixture
def provider(settings) -> Iterator[FakeProvider]:
    """A fake SMS provider on the loopback, and the settings that point at it."""
    server = FakeProvider(SECRET).start()
    settings.OUTREACH_SMS_BACKEND = "outreach.sms.HttpSmsBackend"
    settings.OUTREACH_SMS_URL = server.url
    settings.OUTREACH_SMS_SECRET = SECRET
    yield server
    server.stop()


class Inbox:
    def __init__(self) -> None:
        self.messages: list[dict[str, object]] = []

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's handler hook
        self.messages.append(
            {
                "from": envelope.mail_from,
                "to": list(envelope.rcpt_tos),
                "data": envelope.content.decode("utf8", errors="replace"),
            }
        )
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp(settings) -> Iterator[Inbox]:
    """A real SMTP server (aiosmtpd) on the loopback; Django's SMTP backend sends to it."""
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    yield inbox
    controller.stop()


def consenting_patient(channel: str = ContactBy.SMS, **values):
    defaults = {
        "phone": "+1 555 010 0001",
        "email": "pat@example.org",
        "contact_by": channel,
        "consent_to_contact": True,
        "consent_recorded_on": date(2026, 1, 5),
        "consent_source": "paper_form",
        "status": PatientStatus.IMPLANTED,
    }
    return PatientFactory(**(defaults | values))


def local(day: date, at: time = time(10, 0)) -> datetime:
    return timezone.make_aware(datetime.combine(day, at))


def days_ahead(n: int, at: time = time(10, 0)) -> datetime:
    return local(timezone.localdate() + timedelta(days=n), at)
