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
    "pumps:due_list_json": Audited("due list (JSON export)"),
    "pumps:board_csv": Audited("pump board (CSV export)"),
}
