"""Write an audit entry for each successful view of a page in ``AUDITED_VIEWS``."""

from __future__ import annotations

from collections.abc import Callable

from django.db.models import Subquery, Value
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse

from audit.ip import client_ip
from audit.models import AuditEntry
from audit.registry import AUDITED_VIEWS
from patients.models import Patient


class ViewAuditMiddleware:
    """Logs after the view answered, so refusals (302, 403, 404) log nothing:
    the entry means the data was shown."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        match = request.resolver_match
        if (
            match is not None
            and match.view_name in AUDITED_VIEWS
            and request.method in ("GET", "HEAD")
            and response.status_code == 200
            and request.user.is_authenticated
        ):
            record_view(request, match.view_name, match.kwargs)
        return response


def record_view(request: HttpRequest, view_name: str, kwargs: dict[str, object]) -> None:
    """One entry: who (user), what (page and patient), when (now), from where (address)."""
    audited = AUDITED_VIEWS[view_name]
    raw_id = kwargs.get(audited.patient_kwarg) if audited.patient_kwarg else None
    patient_id = raw_id if isinstance(raw_id, int) else None  # <int:...> URLs only
    # The patient's record number is read by the INSERT itself: one statement
    # on every patient page rather than a SELECT and then the INSERT.
    mrn: str | Coalesce = ""
    if patient_id is not None:
        record_number = Patient.objects.filter(pk=patient_id).order_by().values("mrn")[:1]
        mrn = Coalesce(Subquery(record_number), Value(""))
    user = request.user
    AuditEntry.objects.create(
        user_id=user.pk,
        username=user.get_username(),
        view_name=view_name,
        what=audited.what,
        patient_id=patient_id,
        patient_mrn=mrn,
        path=request.get_full_path()[:500],
        ip_address=client_ip(request),
    )
