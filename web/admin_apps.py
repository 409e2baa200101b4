"""The admin app, with the clinic's site (web/admin_site.py) as ``admin.site``.

A module of its own: an app config module is imported before the models are
ready, so it must not import the site (which imports the roles and the models).
"""

from django.contrib.admin.apps import AdminConfig


class ClinicAdminConfig(AdminConfig):
    default_site = "web.admin_site.ClinicAdminSite"
