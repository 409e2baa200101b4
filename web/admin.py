"""The Django admin's registrations (autodiscovered as ``web.admin``)."""

from web import admin_access, outreach_admin, patient_admin, pump_admin  # noqa: F401  (registering is importing)
