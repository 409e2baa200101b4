"""Who must pass the second step of signing in, decided once per sign-in.

At each sign-in the session records what this user still owes:

- ``NONE``: nothing more (no authenticator app, and their role does not require one);
- ``CODE``: a code from their app (or a recovery code) before any other page;
- ``SET_UP``: their role requires two-step sign-in and they have no app yet, so they
  set one up before any other page.

Deciding at sign-in keeps ordinary pages free of extra queries (the worklist's and
the refill form's query counts are pinned). A session that is already open when a
setting changes keeps its sign-in's decision until it ends (15 idle minutes, at most
12 hours); a device removed in the admin stops counting at once, since django-otp's
middleware reloads the device of a verified session on each request.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest
from django_otp.plugins.otp_totp.models import TOTPDevice

from core.roles import ADMINISTRATOR, ALL_ROLES, NURSE, PHYSICIAN, user_roles

SESSION_KEY = "clinic_second_factor"
NONE = "none"
CODE = "code"
SET_UP = "set_up"
STATES = (NONE, CODE, SET_UP)

# The names OTP_REQUIRED_ROLES uses (settings.py checks them) and the roles they mean.
ROLE_SETTING_NAMES = {"nurse": NURSE, "physician": PHYSICIAN, "administrator": ADMINISTRATOR}


def required_roles() -> frozenset[str]:
    return frozenset(ROLE_SETTING_NAMES[name] for name in settings.OTP_REQUIRED_ROLES)


def roles_for_enforcement(user: Any) -> frozenset[str]:
    """The user's roles, where superusers and admin-site staff are administrators.

    ``user_roles`` gives a superuser every role (so they may open every page); for
    the second factor a superuser counts as an administrator plus the groups they
    are really in, so "nurses only" does not catch every superuser by accident.
    """
    if user.is_superuser or user.is_staff:
        groups = user.groups.filter(name__in=ALL_ROLES).values_list("name", flat=True)
        return frozenset({ADMINISTRATOR, *groups})
    return user_roles(user)


def must_use_second_factor(user: Any) -> bool:
    required = required_roles()
    return bool(required) and bool(roles_for_enforcement(user) & required)


def has_authenticator(user: Any) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def decide(user: Any) -> str:
    """What this user owes after their password (a few queries: at sign-in only)."""
    if has_authenticator(user):
        return CODE
    if must_use_second_factor(user):
        return SET_UP
    return NONE


def refresh(request: HttpRequest) -> str:
    """Decide again (after a set-up or removal, or a device removed elsewhere)."""
    state = decide(request.user)
    request.session[SESSION_KEY] = state
    return state


@receiver(user_logged_in)
def decide_at_sign_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    # Every sign-in decides afresh, including the admin's and a test client's login.
    if request is not None and hasattr(request, "session"):
        request.session[SESSION_KEY] = decide(user)
