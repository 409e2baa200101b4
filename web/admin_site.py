"""The Django admin's site: its pages declare their methods like the staff pages.

Django's admin views answer any method: a PUT, OPTIONS or TRACE on a change
page renders the record like a GET. Here every admin page serves GET, HEAD
and POST only (``core.roles.form_page``, checked before the sign-in check),
so anything else is a 405 and every request that reaches an admin view is one
the view log can record (audit/middleware.py).

``web.admin_apps.ClinicAdminConfig`` (in settings, in place of
``django.contrib.admin``) makes it the default site: ``admin.site`` is this site.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from django.contrib.admin import AdminSite
from django.http import HttpRequest, HttpResponse, HttpResponseBase

from core.roles import form_page

View = TypeVar("View", bound=Callable[..., HttpResponseBase])


class ClinicAdminSite(AdminSite):
    site_header = "Pump clinic administration"
    site_title = "Pump clinic admin"
    index_title = "Records and settings"

    def admin_view(self, view: View, cacheable: bool = False) -> View:
        # Every admin URL but the sign-in page goes through here.
        return cast(View, form_page(super().admin_view(view, cacheable)))

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        return form_page(self._login)(request, extra_context)

    def _login(self, request: HttpRequest, extra_context: dict[str, Any] | None) -> HttpResponse:
        return super().login(request, extra_context)
