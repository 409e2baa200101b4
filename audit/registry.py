"""Which pages the view log records, and what each one shows: the one list.

Every request a signed-in user makes that reaches a view is recorded,
whatever its method (audit/middleware.py), unless the page is listed here as
showing no patient data. So a new page is recorded until someone decides it
shows nothing of a patient; forgetting it leaves an entry too many, never one
too few.

- ``AUDITED_VIEWS``: the staff pages, each with what it shows and, for a
  page about one record, the model whose id the URL holds (the entry then
  names that record's patient).
- The Django admin's pages are named by their URL (``admin:<app>_<model>_<page>``):
  recorded unless the model is one of ``SYSTEM_MODELS`` (users, catalogue,
  policy, sign-in attempts: nothing of a patient). Their object pages name the
  patient through ``PATIENT_FIELDS``.
- ``NOT_PATIENT_DATA``: the pages that show no patient data (sign-in, health
  checks, the entry-safety help built from the catalogue...).

tests/security/test_every_request_is_audited.py requests every URL pattern
with every method as every role and fails on any answer that is neither a
refusal nor recorded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db.models import BigIntegerField, CharField, Model, Subquery, Value
from django.db.models.functions import Coalesce


@dataclass(frozen=True)
class Audited:
    what: str
    # The model whose primary key is in the URL keyword ``kwarg`` (app label and
    # model name, "pumps.refill"): the entry names the record's patient.
    model: str | None = None
    kwarg: str = "pk"
    # A query parameter that names a patient by record number (the audit export).
    mrn_param: str | None = None


PATIENT = "patients.patient"

AUDITED_VIEWS: dict[str, Audited] = {
    # Lists of many patients: the entry names the list (and its filters, in the path).
    "pumps:worklist": Audited("worklist"),
    "pumps:board": Audited("pump board"),
    "patients:review_queue": Audited("review queue"),
    "patients:trials": Audited("trials and referrals"),
    "patients:appointments_day": Audited("visits of a day"),
    "patients:appointments_week": Audited("visits of a week"),
    # Exports.
    "pumps:due_list_json": Audited("due list (JSON export)"),
    "pumps:board_csv": Audited("pump board (CSV export)"),
    "audit:export": Audited("audit log (CSV export)", mrn_param="mrn"),
    # Print-outs (issue 14): names, phones and doses on paper.
    "patients:summary": Audited("patient handover summary", model=PATIENT),
    "pumps:worklist_print": Audited("worklist (print-out)"),
    "pumps:pharmacy_orders": Audited("pharmacy order list"),
    "pumps:pharmacy_orders_csv": Audited("pharmacy order list (CSV export)"),
    # The patient picker (issue 14): names, record numbers and birth dates of the
    # matches; the path keeps what was searched for.
    "patients:find": Audited("patient search"),
    "patients:find_json": Audited("patient search (as you type)"),
    # One patient's record, and the forms that show or change it.
    "patients:detail": Audited("patient record", model=PATIENT),
    "patients:timeline": Audited("patient timeline", model=PATIENT),
    "patients:register": Audited("register a patient"),
    "patients:book_visit": Audited("book a visit", model=PATIENT),
    "patients:set_visit_status": Audited("visit status", model="care.appointment"),
    "pumps:log_refill": Audited("refill form", model="pumps.pump"),
    "pumps:refill_saved": Audited("refill saved", model="pumps.refill"),
    "pumps:sign_off": Audited("discrepancy sign-off", model="pumps.refill"),
    "pumps:explant": Audited("explant or replacement", model="pumps.pump"),
    "pumps:implant": Audited("implant", model=PATIENT),
    "patients:decide_trial": Audited("trial decision", model="care.trial"),
    "patients:record_mri": Audited("record an MRI", model=PATIENT),
    "patients:mri_checked": Audited("post-MRI pump check", model="care.mriscan"),
    "patients:record_complication": Audited("record a complication", model=PATIENT),
    # Correcting the record (clinical-rules.md 9): the page shows the record;
    # the mark itself is in the record's history with its reason.
    "patients:entered_in_error": Audited("entered-in-error confirmation", model=PATIENT),
    "patients:restore_record": Audited("restore confirmation", model=PATIENT),
    # The admin's pages that belong to no model (its model pages: below).
    "admin:index": Audited("admin home (lists your recent changes)"),
    "admin:autocomplete": Audited("admin search (autocomplete)"),
    "admin:view_on_site": Audited("admin link to a record's page"),
    # Issue 15: the contact attempt page shows the patient's phone and attempts.
    "patients:contact_attempt": Audited("contact attempts", model=PATIENT),
    # What was sent (issue 15): the patient's messages and the staff outbox.
    "outreach:patient_messages": Audited("patient messages", model=PATIENT),
    "outreach:outbox": Audited("outbox (messages to patients)"),
    "outreach:task_done": Audited("outbox task done", model="outreach.stafftask"),
}

NOT_PATIENT_DATA: frozenset[str] = frozenset(
    {
        "login",
        "logout",
        "healthz",
        "healthz_db",
        "pumps:help_entry_safety",  # the rules, from the catalogue
        "admin:login",
        "admin:logout",
        "admin:password_change",
        "admin:password_change_done",
        "admin:jsi18n",
        "admin:auth_user_password_change",  # a user's password
        "admin:app_list",  # an app's list of models
        # django-otp's pages of a device's secret (refused: OTP_ADMIN_HIDE_SENSITIVE_DATA).
        "admin:otp_totp_totpdevice_config",
        "admin:otp_totp_totpdevice_qrcode",
        # The user's own two-step sign-in and password (accounts/): no patient
        # data; their changes are in the audit as account events (accounts/events.py).
        "accounts:two_step",
        "accounts:two_step_setup",
        "accounts:two_step_verify",
        "accounts:recovery_codes",
        "accounts:two_step_remove",
        "accounts:password_change",
        "accounts:password_change_done",
        "accounts:password_reset",
        "accounts:password_reset_done",
        "accounts:password_reset_confirm",
        "accounts:password_reset_complete",
        # No sign-in (issue 15): the SMS provider's signed webhook and the email's
        # signed unsubscribe link. A withdrawal is in the patient's consent log
        # (outreach.ConsentEvent), which staff see on the patient's messages page.
        "outreach:sms_inbound",
        "outreach:unsubscribe",
        # A member's own calendar feed addresses (issue 15): no patient data.
        "feeds:manage",
        "feeds:revoke",
        # The feed itself holds visit numbers and rooms only, and its view
        # records each fetch under the feed's owner (no sign-in: a calendar app).
        "feeds:calendar",
        # ".../<id>/" only redirects to ".../<id>/change/", which is recorded.
        "admin:django.views.generic.base.RedirectView",
    }
)

# Admin pages of these models show no patient data (their history pages neither).
SYSTEM_MODELS: frozenset[str] = frozenset(
    {
        "auth.user",
        "auth.group",
        "pumps.pumpmodel",
        "pumps.drug",
        "pumps.schedulepolicy",
        "axes.accessattempt",
        "axes.accesslog",
        "axes.accessfailurelog",
        "otp_totp.totpdevice",  # two-step sign-in devices (django-otp)
        "otp_static.staticdevice",
        "outreach.messagetemplate",  # reminder wording: never a patient's data
        "feeds.feedtoken",
        # The outbox worker's schedules, queue and finished tasks (django-q2): the
        # jobs carry no patient data (outreach/worker.py).
        "django_q.schedule",
        "django_q.success",
        "django_q.failure",
        "django_q.ormq",  # a calendar feed's hashed secret and its owner
    }
)

# How a record reaches its patient: the paths to the patient's id and record
# number. A change-history row (``HistoricalRefill``...) goes the same way as
# its record.
PATIENT_FIELDS: dict[str, tuple[str, str]] = {
    PATIENT: ("pk", "mrn"),
    "pumps.pump": ("patient_id", "patient__mrn"),
    "pumps.refill": ("pump__patient_id", "pump__patient__mrn"),
    "pumps.doseadjustment": ("pump__patient_id", "pump__patient__mrn"),
    "care.trial": ("patient_id", "patient__mrn"),
    "care.complication": ("patient_id", "patient__mrn"),
    "care.mriscan": ("patient_id", "patient__mrn"),
    "care.appointment": ("patient_id", "patient__mrn"),
    "care.contactattempt": ("patient_id", "patient__mrn"),
    "outreach.stafftask": ("patient_id", "patient__mrn"),
    "outreach.message": ("patient_id", "patient__mrn"),
    "outreach.consentevent": ("patient_id", "patient__mrn"),
    "audit.auditentry": ("patient_id", "patient_mrn"),
}
HISTORICAL_PATIENT: tuple[str, str] = ("id", "mrn")  # a patient's history row

ADMIN = "admin:"
# The admin's pages of a model, in the entry's words. Longest first:
# "simple_history" also ends with "_history".
ADMIN_PAGES = {
    "simple_history": "old version",
    "changelist": "list",
    "history": "history",
    "change": "record",
    "delete": "delete confirmation",
    "add": "add form",
}


@dataclass(frozen=True)
class Seen:
    """What one request showed: the entry's ``what`` and the patient, if one.

    The patient's id and record number are values or SQL expressions (a
    subquery from the record in the URL to its patient), so that writing the
    entry is one INSERT whatever the page: a lookup would cost every page of a
    record one more query.
    """

    what: str
    patient_id: Any = None
    patient_mrn: Any = ""


def admin_page(view_name: str) -> tuple[type[Model], str] | None:
    """The model and page of an admin URL name (``admin:pumps_refill_change``)."""
    if not view_name.startswith(ADMIN):
        return None
    name = view_name.removeprefix(ADMIN)
    for page in ADMIN_PAGES:
        if name.endswith(f"_{page}"):
            app_label, _, model_name = name.removesuffix(f"_{page}").partition("_")
            try:
                return apps.get_model(app_label, model_name), page
            except (LookupError, ValueError):
                return None
    return None


def is_recorded(view_name: str) -> bool:
    """Whether a request that reaches this page is recorded (see the module's note)."""
    if view_name in NOT_PATIENT_DATA:
        return False
    found = admin_page(view_name)
    return found is None or found[0]._meta.label_lower not in SYSTEM_MODELS


def _patient_fields(model: type[Model]) -> tuple[str, str] | None:
    label = model._meta.label_lower
    if label in PATIENT_FIELDS:
        return PATIENT_FIELDS[label]
    app_label, _, model_name = label.partition(".")
    live = f"{app_label}.{model_name.removeprefix('historical')}"
    if live == PATIENT:
        return HISTORICAL_PATIENT
    if model_name.startswith("historical") and live in PATIENT_FIELDS:
        return PATIENT_FIELDS[live]
    return None


def _patient_of(model: type[Model], raw_id: object) -> tuple[Any, Any]:
    """The patient of the record ``raw_id`` of ``model``, as subqueries
    (no patient: ``(None, "")``)."""
    fields = _patient_fields(model)
    text = str(raw_id)
    # Every id here is an integer key; anything else names no record (and a
    # number too long for the column would fail in the INSERT).
    if fields is None or raw_id is None or not text.isdigit() or len(text) > 18:
        return None, ""
    rows = model._default_manager.filter(pk=int(text))
    id_path, mrn_path = fields
    patient_id: Any = Subquery(rows.values(id_path)[:1])
    if fields == PATIENT_FIELDS[PATIENT]:
        # Gone (a deleted patient): the patient's own id is still known.
        patient_id = Coalesce(patient_id, Value(int(text)), output_field=BigIntegerField())
    mrn = Coalesce(Subquery(rows.values(mrn_path)[:1]), Value(""), output_field=CharField())
    return patient_id, mrn


def describe(
    view_name: str,
    kwargs: Mapping[str, object],
    query: Mapping[str, str],
    args: Sequence[object] = (),
) -> Seen:
    """What the page ``view_name`` with these URL keywords (or positional
    arguments) and query showed."""
    audited = AUDITED_VIEWS.get(view_name)
    if audited is not None:
        if audited.mrn_param and (mrn := query.get(audited.mrn_param, "").strip()[:32]):
            patients = apps.get_model(PATIENT)._default_manager.filter(mrn=mrn)
            return Seen(audited.what, Subquery(patients.values("pk")[:1]), mrn)
        if audited.model is None:
            return Seen(audited.what)
        patient_id, mrn = _patient_of(apps.get_model(audited.model), kwargs.get(audited.kwarg))
        return Seen(audited.what, patient_id, mrn)
    found = admin_page(view_name)
    if found is not None:
        model, page = found
        what = f"admin: {model._meta.verbose_name} {ADMIN_PAGES[page]}"
        # The history's old versions (simple-history) take the id positionally.
        raw_id = kwargs.get("object_id", args[0] if args else None)
        patient_id, mrn = _patient_of(model, raw_id)
        return Seen(what[:200], patient_id, mrn)
    # A page nobody described yet (or an admin page such as the autocomplete's
    # search): recorded under its URL name; the path keeps its query.
    return Seen(view_name[:200] or "unnamed page")
