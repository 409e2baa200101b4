"""Refuse query strings carrying NUL bytes before any view reads them."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest


class RejectNulMiddleware:
    """A NUL byte in a query parameter gets 400, not a 500 from the database.

    PostgreSQL cannot compare text containing NUL, so any page that filters
    on a raw ``request.GET`` value (the worklist's search, say) would fail
    with a server error. No browser sends one; forms already refuse them in
    POSTed fields (Django's CharField), so only the query string is checked.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        for key, values in request.GET.lists():
            if "\x00" in key or any("\x00" in value for value in values):
                return HttpResponseBadRequest(
                    "The address contains a NUL character.", content_type="text/plain"
                )
        return self.get_response(request)
