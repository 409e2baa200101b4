"""Sign staff out after SESSION_IDLE_TIMEOUT_MINUTES without a request.

The session remembers when it was last used. Refreshing that on every
request would write the session row on every page (and every JSON call), so
it is refreshed at most once a minute: the idle limit holds to within a
minute, and ordinary pages cost no extra query.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

LAST_SEEN = "clinic_last_seen"
REFRESH_SECONDS = 60

# The clock, as a module attribute so tests can move it forward.
clock: Callable[[], float] = time.time


def idle_limit_seconds() -> int:
    return int(settings.SESSION_IDLE_TIMEOUT_MINUTES) * 60


@receiver(user_logged_in)
def start_idle_clock(sender: Any, request: HttpRequest | None, **kwargs: Any) -> None:
    if request is not None and hasattr(request, "session"):
        request.session[LAST_SEEN] = clock()


class IdleTimeoutMiddleware:
    """After AuthenticationMiddleware and MessageMiddleware."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            now = clock()
            last_seen = request.session.get(LAST_SEEN)
            if isinstance(last_seen, int | float) and now - last_seen >= idle_limit_seconds():
                # Signed out before the view runs: it then answers as to anyone
                # signed out (a redirect to the sign-in page, which says why).
                logout(request)
                messages.info(
                    request,
                    f"You were signed out after {settings.SESSION_IDLE_TIMEOUT_MINUTES} "
                    "minutes without activity. Please sign in again.",
                )
            elif not isinstance(last_seen, int | float) or now - last_seen >= REFRESH_SECONDS:
                request.session[LAST_SEEN] = now
        return self.get_response(request)
