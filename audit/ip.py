"""The client's address, for the audit log and the sign-in lockout."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def _valid(address: str) -> str | None:
    try:
        return str(ipaddress.ip_address(address.strip()))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str | None:
    """REMOTE_ADDR, or the address our proxy saw when ``TRUSTED_PROXY`` is on.

    The proxy appends the address it accepted the connection from to
    X-Forwarded-For, so only the last entry is trusted: anything before it
    came from the client and may be forged.
    """
    if getattr(settings, "TRUSTED_PROXY", False):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            address = _valid(forwarded.split(",")[-1])
            if address is not None:
                return address
    return _valid(request.META.get("REMOTE_ADDR", "") or "")
