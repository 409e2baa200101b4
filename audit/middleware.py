"""Write an audit entry for every request that reached a view of patient data."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url
from django.urls import get_script_prefix

from audit.ip import client_ip
from audit.models import AuditEntry
from audit.registry import describe, is_recorded

# Answers that showed and changed nothing: bad input, not signed in, not
# allowed, no such record, a method the view does not serve.
REFUSALS = frozenset({400, 401, 403, 404, 405})


def sign_in_urls() -> tuple[str, ...]:
    return _sign_in_urls(get_script_prefix())


@lru_cache(maxsize=8)
def _sign_in_urls(prefix: str) -> tuple[str, ...]:
    # Reversed once per script prefix: every redirect answered is checked.
    return (resolve_url(settings.LOGIN_URL), resolve_url("admin:login"))


def is_refusal(response: HttpResponse) -> bool:
    """A refusal, or a redirect to a sign-in page (what a role check answers)."""
    if response.status_code in REFUSALS:
        return True
    if response.status_code in (301, 302, 303, 307, 308):
        location = response.get("Location", "")
        return location.startswith(sign_in_urls())
    return False


class ViewAuditMiddleware:
    """Records after the view answered, whatever the method: a page read (GET,
    HEAD), a form sent (POST, whether it saved or came back with errors), an
    export. Refusals (above) record nothing: the entry means the view ran for
    a signed-in user. Views declare their methods (core.roles), so another
    method is a 405 before the view runs. The entry keeps the method and the
    status code."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        match = request.resolver_match
        if (
            match is not None
            and request.user.is_authenticated
            and is_recorded(match.view_name)
            and not is_refusal(response)
        ):
            record_view(
                request, match.view_name, match.kwargs, args=match.args, status=response.status_code
            )
        return response


def record_view(
    request: HttpRequest,
    view_name: str,
    kwargs: Mapping[str, object],
    *,
    args: Sequence[object] = (),
    status: int | None = None,
) -> None:
    """One entry: who (user), what (page and patient), when (now), from where
    (address), how (method) and with what answer (status). One INSERT: the
    patient is read by a subquery inside it (audit/registry.py, ``Seen``)."""
    seen = describe(view_name, kwargs, request.GET, args)
    user = request.user
    AuditEntry.objects.create(
        user_id=user.pk,
        username=user.get_username(),
        view_name=view_name[:200],
        what=seen.what,
        patient_id=seen.patient_id,
        patient_mrn=seen.patient_mrn,
        path=request.get_full_path()[:500],
        ip_address=client_ip(request),
        method=(request.method or "")[:10],
        status=status,
    )
