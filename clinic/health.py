"""Health checks: GET /healthz (the app serves) and GET /healthz/db (and reaches its database).

For a load balancer's or a monitor's health check: no sign-in, no session,
no template, so they tell nothing about any patient. /healthz reads no
database (the load test's floor, bench/loadtest.py); /healthz/db really asks
the database, through the connection a request would use (persistent in
production, checked before reuse), so it fails while the database is down.
"""

import logging

from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

log = logging.getLogger(__name__)


@require_GET
@never_cache
def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


@require_GET
@never_cache
def healthz_db(request: HttpRequest) -> HttpResponse:
    """ "ok" after a real round trip to the database; 503 when there is none."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            (one,) = cursor.fetchone()
    except DatabaseError:
        log.exception("health check: the database did not answer")
        return HttpResponse("database unavailable", content_type="text/plain", status=503)
    if one != 1:
        return HttpResponse("database answered wrongly", content_type="text/plain", status=503)
    return HttpResponse("ok", content_type="text/plain")
