from django.apps import AppConfig


class OutreachConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "outreach"
    verbose_name = "Reminders and outbox"

    def ready(self) -> None:
        # A visit cancelled, moved or restored cancels or replaces its queued
        # reminders: care sends the signal, outreach listens (care never imports it).
        from django.db.models.signals import post_migrate

        from care.signals import visit_changed
        from outreach import reminders, worker

        visit_changed.connect(reminders.on_visit_changed, dispatch_uid="outreach.visit_changed")
        # The worker's two schedules (daily queueing, frequent sending) exist after migrate.
        post_migrate.connect(
            worker.ensure_schedules, sender=self, dispatch_uid="outreach.schedules"
        )
