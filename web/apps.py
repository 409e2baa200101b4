from django.apps import AppConfig


class WebConfig(AppConfig):
    """The staff pages and the Django admin: the top layer (docs/architecture.md)."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "web"
    verbose_name = "Staff pages"
