"""The code box on the two-step pages (drawn by templates/accounts/_code_field.html)."""

from __future__ import annotations

from django import forms


class AppCodeForm(forms.Form):
    """A 6-digit code from the authenticator app."""

    code = forms.CharField(
        label="6-digit code from your app",
        max_length=20,
        error_messages={"required": "Type the 6-digit code your app shows."},
    )


class AnyCodeForm(forms.Form):
    """A code from the app, or one of the recovery codes."""

    code = forms.CharField(
        label="6-digit code from your app, or a recovery code",
        max_length=20,
        error_messages={"required": "Type the 6-digit code your app shows, or a recovery code."},
    )


class RecoveryCodeForm(forms.Form):
    """One of the recovery codes, for a lost or broken phone."""

    code = forms.CharField(
        label="Recovery code",
        max_length=20,
        error_messages={"required": "Type one of your recovery codes."},
    )
