from django.apps import AppConfig


class CareConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "care"
    verbose_name = "Visits, trials and clinical events"

    def ready(self) -> None:
        # A logged refill closes the pump's booked refill visit of that day.
        # pumps sends the signal; care listens: pumps never imports care.
        from care import services
        from pumps.signals import fill_recorded

        fill_recorded.connect(services.close_visit_of_fill, dispatch_uid="care.close_visit_of_fill")

        # Every save of a visit, whatever the door (service, admin, demo), is
        # announced as care.signals.visit_changed for the layers above care.
        from django.db.models.signals import post_save

        from care.models import Appointment

        post_save.connect(
            services.announce_visit_change, sender=Appointment, dispatch_uid="care.visit_changed"
        )
