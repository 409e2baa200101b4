"""The clinic's today: one function, read once by each view or command and passed down.

Pure code and services take ``today`` as an argument (style.md 5); only the
entry points (views, commands, the admin, the demo and the importer) ask
this module. A clinic with several sites or time zones changes this one
function, not every caller.
"""

from datetime import date

from django.utils import timezone


def clinic_today() -> date:
    """The clinic's local date now (settings.TIME_ZONE; clinical-rules.md section 3)."""
    return timezone.localdate()
