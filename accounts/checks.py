"""``manage.py check --deploy`` warns when production requires two-step sign-in of nobody."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Tags, Warning, register


@register(Tags.security, deploy=True)
def second_factor_required(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    if settings.OTP_REQUIRED_ROLES:
        return []
    return [
        Warning(
            "Two-step sign-in is required of no role (OTP_REQUIRED_ROLES is none).",
            hint="Set OTP_REQUIRED_ROLES=physician,administrator (the production default), "
            "and add nurse to include nurses.",
            id="accounts.W001",
        )
    ]
