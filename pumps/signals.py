"""What the pump services announce to the layers above them.

pumps sits below care (docs/architecture.md): it cannot close a booked visit
itself, so it says that a fill was recorded and care, which owns visits,
listens (care.apps). The signal is sent inside the fill's transaction, so the
visit closes with the fill or not at all.
"""

from django.dispatch import Signal

# Sent with pump_id (int) and refill_date (date) once a refill is stored.
fill_recorded = Signal()
