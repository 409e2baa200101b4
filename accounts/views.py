"""The two-step sign-in pages: set up, code step, recovery codes, turn off.

Plain forms (no JavaScript needed). Every code typed is checked by django-otp with
its throttling (accounts/devices.py); each change is kept in the audit log
(accounts/events.py). Pages that show a secret (the key, the recovery codes) or
ask for a code are never cached, so the browser's Back button cannot show them.
"""

from __future__ import annotations

from urllib.parse import urlencode

import django_otp
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache

from accounts import devices, events, policy
from accounts.forms import AnyCodeForm, AppCodeForm, RecoveryCodeForm
from accounts.qr import qr_svg
from core.roles import form_page, read_only_page

FRESH_CODES = "clinic_fresh_recovery_codes"  # shown once, then dropped from the session


def next_url(request: HttpRequest) -> str:
    """Where to go after this step: ``?next=`` if it is on this site, else the worklist."""
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return wanted
    return resolve_url(settings.LOGIN_REDIRECT_URL)


def with_next(url: str, request: HttpRequest) -> str:
    wanted = request.POST.get("next") or request.GET.get("next")
    if not wanted:
        return url
    return f"{url}?{urlencode({'next': wanted})}"


def code_refused(form: forms.Form, check: devices.CodeCheck, *, recovery: bool = False) -> None:
    """Say why a code was refused, in words staff can act on."""
    if check.wait_seconds:
        form.add_error(
            "code",
            f"Too many wrong codes. Wait {check.wait_seconds} seconds, then type the "
            "code your app shows at that moment.",
        )
    elif recovery or check.recovery_code:
        form.add_error(
            "code", "That recovery code is not right, or it was used before. Each works once."
        )
    else:
        form.add_error(
            "code",
            "That code did not match. Type the 6 digits your app shows now. If it keeps "
            "failing, check that your phone sets its clock automatically.",
        )


@read_only_page
@login_required
def two_step(request: HttpRequest) -> HttpResponse:
    """The user's own two-step sign-in page: on or off, recovery codes left, changes."""
    return render_two_step(request, AnyCodeForm())


def render_two_step(request: HttpRequest, codes_form: forms.Form) -> HttpResponse:
    user = request.user
    device = devices.authenticator(user)
    return render(
        request,
        "accounts/two_step.html",
        {
            "device": device,
            "codes_left": devices.recovery_codes_left(user) if device else 0,
            "code_count": devices.RECOVERY_CODE_COUNT,
            "required": policy.must_use_second_factor(user),
            "codes_form": codes_form,
        },
    )


@form_page
@never_cache
@login_required
def set_up(request: HttpRequest) -> HttpResponse:
    """Scan the QR code (or type the key), then prove it with a code from the app."""
    user = request.user
    forced = request.session.get(policy.SESSION_KEY) == policy.SET_UP
    if devices.authenticator(user) is not None:
        if forced:
            # Set up in another session since this one signed in: ask for its code.
            policy.refresh(request)
            return redirect(with_next(reverse("accounts:two_step_verify"), request))
        messages.info(request, "Two-step sign-in is already on for your account.")
        return redirect("accounts:two_step")
    device = devices.pending_authenticator(user)
    form = AppCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        check = devices.check_code(user, form.cleaned_data["code"], device=device)
        if check.accepted:
            codes = devices.confirm_authenticator(device)
            django_otp.login(request, device)  # this session has just proved the app
            policy.refresh(request)
            events.record(request, events.SET_UP)
            request.session[FRESH_CODES] = codes
            messages.success(request, "Two-step sign-in is on.")
            return redirect(with_next(reverse("accounts:recovery_codes"), request))
        code_refused(form, check)
    return render(
        request,
        "accounts/set_up.html",
        {
            "form": form,
            "qr": qr_svg(device.config_url, label="QR code to scan with your authenticator app"),
            "secret": devices.secret_for_typing(device),
            "account": f"{settings.OTP_TOTP_ISSUER} ({user.get_username()})",
            "forced": forced,
            "hide_navigation": forced,
            "next": request.GET.get("next", ""),
        },
    )


@form_page
@never_cache
@login_required
def verify(request: HttpRequest) -> HttpResponse:
    """The second step of signing in: a code from the app, or a recovery code."""
    user = request.user
    if devices.authenticator(user) is None:
        # Nothing to ask (or the app was removed in the admin): decide again, and go
        # on; the middleware sends a role that requires it to the set-up page.
        policy.refresh(request)
        return HttpResponseRedirect(next_url(request))
    if user.is_verified():  # type: ignore[union-attr]
        return HttpResponseRedirect(next_url(request))
    # Two forms on the page (the app's code; a recovery code, folded away), told
    # apart by their prefixes so their boxes keep their own ids and errors.
    app_form: forms.Form = AppCodeForm(prefix="app")
    recovery_form: forms.Form = RecoveryCodeForm(prefix="recovery")
    if request.method == "POST":
        recovery = "recovery-code" in request.POST
        form: forms.Form
        if recovery:
            form = recovery_form = RecoveryCodeForm(request.POST, prefix="recovery")
        else:
            form = app_form = AppCodeForm(request.POST, prefix="app")
        if form.is_valid():
            check = devices.check_code(user, form.cleaned_data["code"])
            if check.accepted:
                django_otp.login(request, check.device)
                if check.recovery_code:
                    events.record(request, events.RECOVERY_USED)
                    left = devices.recovery_codes_left(user)
                    messages.warning(
                        request,
                        f"You used a recovery code; {left} left. If your phone is lost, "
                        "turn two-step sign-in off and on again with your new phone "
                        "(your name → Two-step sign-in).",
                    )
                return HttpResponseRedirect(next_url(request))
            if not check.wait_seconds:
                events.record(request, events.WRONG_CODE)
            code_refused(form, check, recovery=recovery)
    return render(
        request,
        "accounts/verify.html",
        {
            "app_form": app_form,
            "recovery_form": recovery_form,
            "recovery_open": recovery_form.is_bound,  # a refused recovery code: try another
            "app_autofocus": not recovery_form.is_bound,
            "hide_navigation": True,
            "next": request.GET.get("next", ""),
        },
    )


@form_page
@never_cache
@login_required
def recovery_codes(request: HttpRequest) -> HttpResponse:
    """GET: the codes just made, once. POST (with a code): make new ones."""
    user = request.user
    if request.method == "POST":
        if devices.authenticator(user) is None:
            return redirect("accounts:two_step")
        form = AnyCodeForm(request.POST)
        if form.is_valid():
            check = devices.check_code(user, form.cleaned_data["code"])
            if check.accepted:
                request.session[FRESH_CODES] = devices.new_recovery_codes(user)
                events.record(request, events.NEW_CODES)
                return redirect("accounts:recovery_codes")
            if not check.wait_seconds:
                events.record(request, events.WRONG_CODE)
            code_refused(form, check)
        return render_two_step(request, form)
    codes = request.session.pop(FRESH_CODES, None)
    if not codes:
        return redirect("accounts:two_step")
    return render(
        request,
        "accounts/recovery_codes.html",
        {"codes": codes, "continue_to": next_url(request)},
    )


@form_page
@login_required
def remove(request: HttpRequest) -> HttpResponse:
    """Turn two-step sign-in off (to move to a new phone, say): needs a current code."""
    user = request.user
    if devices.authenticator(user) is None:
        messages.info(request, "Two-step sign-in is off for your account.")
        return redirect("accounts:two_step")
    form = AnyCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        check = devices.check_code(user, form.cleaned_data["code"])
        if check.accepted:
            devices.remove_second_factor(user)
            request.session.pop(django_otp.DEVICE_ID_SESSION_KEY, None)
            events.record(request, events.REMOVED)
            if policy.refresh(request) == policy.SET_UP:
                messages.warning(
                    request,
                    "Two-step sign-in is off. Your role requires it: set it up again now, "
                    "for example on your new phone.",
                )
                return redirect("accounts:two_step_setup")
            messages.success(request, "Two-step sign-in is off for your account.")
            return redirect("accounts:two_step")
        if not check.wait_seconds:
            events.record(request, events.WRONG_CODE)
        code_refused(form, check)
    return render(
        request,
        "accounts/remove.html",
        {"form": form, "required": policy.must_use_second_factor(user)},
    )
