"""Which pages are a view of a patient's record or an export: the view log's list.

To log another page, add its URL name here (with the URL keyword that holds
the patient's id, if any). tests/security/test_audit_log.py checks that every
name resolves and that every page whose name speaks of an export, a CSV or a
timeline is listed.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Audited:
    what: str
    patient_kwarg: str | None = None


AUDITED_VIEWS: dict[str, Audited] = {
    "patients:detail": Audited("patient record", patient_kwarg="pk"),
    "patients:timeline": Audited("patient timeline", patient_kwarg="pk"),
    # Correcting the record (clinical-rules.md 9): the confirmation page shows
    # the record; the mark itself is in the record's history with its reason.
    "patients:entered_in_error": Audited("entered-in-error confirmation", patient_kwarg="pk"),
    "patients:restore_record": Audited("restore confirmation", patient_kwarg="pk"),
    "pumps:due_list_json": Audited("due list (JSON export)"),
    "pumps:board_csv": Audited("pump board (CSV export)"),
    # Print-outs (issue 14): names, phones and doses on paper.
    "patients:summary": Audited("patient handover summary", patient_kwarg="pk"),
    "pumps:worklist_print": Audited("worklist (print-out)"),
    "pumps:pharmacy_orders": Audited("pharmacy order list"),
    "pumps:pharmacy_orders_csv": Audited("pharmacy order list (CSV export)"),
    # What was sent (issue 15): the patient's messages and the staff outbox.
    "outreach:patient_messages": Audited("patient messages", patient_kwarg="pk"),
    "outreach:outbox": Audited("outbox (messages to patients)"),
}
