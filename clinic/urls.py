"""URLs of the pump clinic."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from clinic.health import healthz, healthz_db
from core.roles import form_page

urlpatterns = [
    path(
        "accounts/login/",
        # Every view declares its methods (core.roles): anything else is a 405
        # (checked before the redirect a signed-in user gets).
        form_page(auth_views.LoginView.as_view(redirect_authenticated_user=True)),
        name="login",
    ),
    path(
        "accounts/logout/",
        auth_views.LogoutView.as_view(http_method_names=["post"]),
        name="logout",
    ),
    # Two-step sign-in and the password pages (issue 13).
    path("accounts/", include("accounts.urls")),
    path("healthz", healthz, name="healthz"),  # no sign-in, no database (clinic/health.py)
    path("healthz/db", healthz_db, name="healthz_db"),  # no sign-in; asks the database
    path("admin/", admin.site.urls),
    path("audit/", include("audit.urls")),  # the audit log's CSV export (administrators)
    path("patients/", include("web.patient_urls")),
    # Staff calendar feeds (issue 15): the feed itself needs no sign-in, its address is secret.
    path("feeds/", include("feeds.urls")),
    path("outreach/", include("web.outreach_urls")),
    path("", include("web.pump_urls")),
]
