"""What the care services announce to the layers above them.

care sits below outreach (docs/architecture.md): a booked visit that is
cancelled, moved or restored must cancel or replace its queued reminders, but
care cannot import outreach. care says that a visit changed and outreach
listens (outreach.apps), as care listens to pumps.signals.fill_recorded.
"""

from django.dispatch import Signal

# Sent with appointment_id (int) after any save of a visit (booked, status
# changed, moved in the admin), inside the saving transaction.
visit_changed = Signal()
