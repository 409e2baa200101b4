from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Two-step sign-in (TOTP and recovery codes) and the password pages (issue 13)."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        # Registers the sign-in receiver and the deploy check.
        from accounts import checks, policy  # noqa: F401
