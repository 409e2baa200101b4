from django.apps import AppConfig


class ImporterConfig(AppConfig):
    """The spreadsheet import (interfaces.md): above the services it calls."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "importer"
    verbose_name = "Spreadsheet import"
