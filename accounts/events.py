"""Two-step sign-in events in the audit log, beside who viewed which record.

Sign-ins themselves are kept by django-axes (failures and lockouts under *Axes*);
the second step's events are kept here so an administrator sees who turned it on
or off, made new recovery codes, used one, or typed wrong codes, from where.
"""

from __future__ import annotations

from django.http import HttpRequest

from audit.ip import client_ip
from audit.models import AuditEntry

SET_UP = "two-step sign-in turned on"
REMOVED = "two-step sign-in turned off"
NEW_CODES = "new recovery codes made"
RECOVERY_USED = "signed in with a recovery code"
WRONG_CODE = "wrong two-step code"


def record(request: HttpRequest, what: str) -> AuditEntry:
    user = request.user
    match = request.resolver_match
    return AuditEntry.objects.create(
        user_id=user.pk,
        username=user.get_username(),
        view_name=match.view_name if match else "",
        what=what,
        path=request.get_full_path()[:500],
        ip_address=client_ip(request),
        method=(request.method or "")[:10],
    )
