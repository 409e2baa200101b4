from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo registry and logins (`make run`): above everything it writes through."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "demo"
    verbose_name = "Demo data"
