"""URLs of the pump clinic."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from clinic.health import healthz, healthz_db

urlpatterns = [
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Two-step sign-in and the password pages (issue 13).
    path("accounts/", include("accounts.urls")),
    path("healthz", healthz, name="healthz"),  # no sign-in, no database (clinic/health.py)
    path("healthz/db", healthz_db, name="healthz_db"),  # no sign-in; asks the database
    path("admin/", admin.site.urls),
    path("patients/", include("web.patient_urls")),
    path("outreach/", include("web.outreach_urls")),
    path("", include("web.pump_urls")),
]
