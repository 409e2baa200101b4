"""GET /healthz: "ok" while the app serves requests.

For a load balancer's or a monitor's health check, and the load test's floor
(bench/loadtest.py): no sign-in, no database, no session, no template, so it
tells nothing about any patient.
"""

from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


@require_GET
@never_cache
def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")
