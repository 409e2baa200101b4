"""SMS backends (issue 15, item 4): one small interface, chosen by the setting
OUTREACH_SMS_BACKEND.

- ``ConsoleSmsBackend`` (default): prints the message; nothing leaves the machine.
- ``HttpSmsBackend``: a provider that speaks a small JSON protocol (the fake
  provider of ``outreach.fake_provider`` that the tests and the benchmark start),
  requests and inbound webhooks signed by HMAC-SHA256 with OUTREACH_SMS_SECRET.
- ``TwilioSmsBackend``: Twilio, through its SDK (``twilio``).

Every backend is given the message's idempotency key. A provider that honours
it (the HTTP provider) turns a second hand-over into the first message; one
that can be asked what it has (``lookup``) lets a stale "sending" row be
reconciled instead of sent again (outreach.outbox).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils.module_loading import import_string


class SmsError(Exception):
    """The provider refused or could not be reached. ``permanent``: do not retry."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class LookupUnsupported(Exception):
    """The backend cannot tell whether it already holds a message."""


class SmsBackend:
    def send(self, *, to: str, text: str, idempotency_key: str) -> str:
        """Hand the message over; return the provider's id. Raise SmsError."""
        raise NotImplementedError

    def lookup(
        self, *, idempotency_key: str, to: str, text: str, since: datetime | None
    ) -> str | None:
        """The provider's id of a message already handed over with this key, or None
        if the provider surely does not have it. Raise LookupUnsupported if unknown."""
        raise LookupUnsupported

    def verify_inbound(self, request: HttpRequest) -> bool:
        """Is this webhook request really from the provider?"""
        return False

    def inbound_message(self, request: HttpRequest) -> tuple[str, str]:
        """(from number, text) of a verified inbound SMS."""
        return request.POST.get("From", ""), request.POST.get("Body", "")


class ConsoleSmsBackend(SmsBackend):
    """Prints each message to standard output (development, the demo)."""

    def send(self, *, to: str, text: str, idempotency_key: str) -> str:
        sys.stdout.write(f"SMS to {to} [{idempotency_key}]: {text}\n")
        sys.stdout.flush()
        return f"console-{idempotency_key}"


def hmac_signature(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class HttpSmsBackend(SmsBackend):
    """A provider at OUTREACH_SMS_URL: POST /messages {to, text} with an
    Idempotency-Key header and X-Signature (HMAC of the body); GET
    /messages?key=... answers the id of a message it holds (404 if none).
    Inbound SMS arrive as form posts signed the same way (X-Signature)."""

    timeout = 10

    def __init__(self) -> None:
        self.url = settings.OUTREACH_SMS_URL.rstrip("/")
        self.secret = settings.OUTREACH_SMS_SECRET

    def _request(self, request: urllib.request.Request) -> dict[str, Any]:
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return dict(json.loads(response.read() or b"{}"))
        except urllib.error.HTTPError as error:
            raise SmsError(
                f"provider answered {error.code}", permanent=400 <= error.code < 500
            ) from error
        except (urllib.error.URLError, OSError, ValueError) as error:
            raise SmsError(f"provider not reached: {error}") from error

    def send(self, *, to: str, text: str, idempotency_key: str) -> str:
        body = json.dumps({"to": to, "text": text}).encode()
        request = urllib.request.Request(
            f"{self.url}/messages",
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Idempotency-Key": idempotency_key,
                "X-Signature": hmac_signature(self.secret, body),
            },
        )
        return str(self._request(request)["id"])

    def lookup(
        self, *, idempotency_key: str, to: str, text: str, since: datetime | None
    ) -> str | None:
        query = urllib.parse.urlencode({"key": idempotency_key})
        request = urllib.request.Request(
            f"{self.url}/messages?{query}",
            headers={"X-Signature": hmac_signature(self.secret, query.encode())},
        )
        try:
            return str(self._request(request)["id"])
        except SmsError as error:
            if error.permanent:  # 404: the provider does not have it
                return None
            raise LookupUnsupported(str(error)) from error

    def verify_inbound(self, request: HttpRequest) -> bool:
        signature = request.headers.get("X-Signature", "")
        expected = hmac_signature(self.secret, request.body)
        return bool(self.secret) and hmac.compare_digest(signature, expected)


class TwilioSmsBackend(SmsBackend):
    """Twilio's Messages API through its SDK. Twilio's create takes no idempotency
    key, so a stale "sending" row is reconciled by asking Twilio for the messages
    to that number since the claim and matching the text (each reminder's text
    holds its visit's date and time). Twilio lists a message as soon as create
    returned, and the claim's lease is far longer than one request."""

    def __init__(self) -> None:
        from twilio.rest import Client  # imported here: only this backend needs it

        self.client = Client(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN)

    def send(self, *, to: str, text: str, idempotency_key: str) -> str:
        from twilio.base.exceptions import TwilioException, TwilioRestException

        try:
            message = self.client.messages.create(to=to, from_=settings.TWILIO_FROM, body=text)
        except TwilioRestException as error:
            raise SmsError(str(error.msg), permanent=400 <= error.status < 500) from error
        except TwilioException as error:
            raise SmsError(str(error)) from error
        return str(message.sid)

    def lookup(
        self, *, idempotency_key: str, to: str, text: str, since: datetime | None
    ) -> str | None:
        from twilio.base.exceptions import TwilioException

        try:
            sent = self.client.messages.list(to=to, date_sent_after=since, limit=100)
        except TwilioException as error:
            raise LookupUnsupported(str(error)) from error
        for message in sent:
            if message.body == text:
                return str(message.sid)
        return None

    def verify_inbound(self, request: HttpRequest) -> bool:
        from twilio.request_validator import RequestValidator

        validator = RequestValidator(settings.TWILIO_AUTH_TOKEN)
        url = settings.OUTREACH_SITE_URL.rstrip("/") + request.get_full_path()
        signature = request.headers.get("X-Twilio-Signature", "")
        return bool(validator.validate(url, request.POST.dict(), signature))


def get_backend() -> SmsBackend:
    backend: SmsBackend = import_string(settings.OUTREACH_SMS_BACKEND)()
    return backend
