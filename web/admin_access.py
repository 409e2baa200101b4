"""Who may do what in the Django admin: asked of the user's roles (core.roles).

Django's own per-model permissions are not used for the clinic's models: they
would have to be granted row by row in the database and a superuser would hold
them all, clinical ones included. Here each admin class names the roles that
may view, add or change, and delete, so the separation of duties holds in the
admin as on the staff pages:

- the Administrator runs the system: users and groups, the catalogue, the
  policy, sign-in lockouts and two-step devices, the audit log; reads the clinical records (every
  page of them is in the view log) and registers patients;
- clinical records are added and changed by clinical roles only, and the
  physician's decisions by physicians only (the services check again).

A superuser is an Administrator here, nothing more (core.roles.user_roles).
Entering the admin at all still needs ``is_staff``.
"""

from __future__ import annotations

from typing import Any

from axes.admin import AccessAttemptAdmin, AccessFailureLogAdmin, AccessLogAdmin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User
from django.http import HttpRequest
from django_otp.plugins.otp_static.admin import StaticDeviceAdmin
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_q.admin import FailAdmin, QueueAdmin, ScheduleAdmin, TaskAdmin
from django_q.models import Failure, OrmQ, Schedule, Success

from core.roles import ADMINISTRATOR, ALL_ROLES, has_role


class RoleAdmin:
    """Mixin for a ModelAdmin or inline: permissions by role, set per class."""

    view_roles: tuple[str, ...] = ALL_ROLES
    edit_roles: tuple[str, ...] = ()  # add and change
    delete_roles: tuple[str, ...] = ()

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return has_role(request.user, *self.view_roles) or self.has_change_permission(request, obj)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return has_role(request.user, *self.edit_roles)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return has_role(request.user, *self.edit_roles)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return has_role(request.user, *self.delete_roles)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)


SYSTEM: tuple[str, ...] = (ADMINISTRATOR,)


class SystemAdmin(RoleAdmin):
    """Running the system: the Administrator only (a clinician needs none of it)."""

    view_roles = SYSTEM
    edit_roles = SYSTEM
    delete_roles = SYSTEM


class LockoutAdmin(SystemAdmin):
    """Sign-in attempts are written by django-axes only; deleting one lifts a lockout."""

    edit_roles = ()


class DeviceAdmin(SystemAdmin):
    """Two-step sign-in devices (django-otp): set up by their owner on their own
    page (accounts/); the Administrator lists them and deletes a lost phone's."""

    edit_roles = ()


class WorkerRecordAdmin(SystemAdmin):
    """The outbox worker's queue and finished tasks (django-q2): written by the
    worker only; the Administrator reads them and may clear them."""

    edit_roles = ()


# Users, groups, sign-in lockouts, two-step devices and the worker's records, registered
# by their own apps with Django's permissions: registered again, asked of the role.
for _model, _admin_class, _roles in (
    (User, UserAdmin, SystemAdmin),
    (Group, GroupAdmin, SystemAdmin),
    (AccessAttempt, AccessAttemptAdmin, LockoutAdmin),
    (AccessLog, AccessLogAdmin, LockoutAdmin),
    (AccessFailureLog, AccessFailureLogAdmin, LockoutAdmin),
    (TOTPDevice, TOTPDeviceAdmin, DeviceAdmin),
    (StaticDevice, StaticDeviceAdmin, DeviceAdmin),
    (Schedule, ScheduleAdmin, SystemAdmin),
    (Success, TaskAdmin, WorkerRecordAdmin),
    (Failure, FailAdmin, WorkerRecordAdmin),
    (OrmQ, QueueAdmin, WorkerRecordAdmin),
):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)
    admin.site.register(_model, type(_admin_class.__name__, (_roles, _admin_class), {}))
