"""Cache-Control: no-store on every page and export the app answers (issue 13).

A ward computer is shared: a page or a CSV kept in its browser cache (or on
disk by a proxy) shows a patient's record to the next person at the keyboard,
even after the nurse signed out. So no answer Django makes may be stored.

Every answer, not only those of signed-in staff: deciding page by page which
ones carry patient data is the step a new page forgets. What is left out is
what holds no patient data and gains from caching: static files, answered
(with hashed names and far-future caching) by WhiteNoise above this
middleware in production and by runserver's static handler in development,
so they never reach it.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase
from django.utils.cache import patch_cache_control


class NoStoreMiddleware:
    """``Cache-Control: no-store, private`` and ``Pragma: no-cache`` on every response."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        # Added to what a view already set (the admin's and the sign-in page's
        # never_cache): no-store wins over any max-age, private drops public.
        patch_cache_control(response, no_store=True, private=True)
        # For HTTP/1.0 caches, which read no Cache-Control.
        response["Pragma"] = "no-cache"
        return response
