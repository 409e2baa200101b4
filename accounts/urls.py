"""Two-step sign-in and password pages (issue 13), under /accounts/."""

from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from accounts import views
from core.roles import form_page, read_only_page

app_name = "accounts"

# Every page declares its methods (core.roles): anything else is a 405.
urlpatterns = [
    path("two-step/", views.two_step, name="two_step"),
    path("two-step/set-up/", views.set_up, name="two_step_setup"),
    path("two-step/code/", views.verify, name="two_step_verify"),
    path("two-step/recovery-codes/", views.recovery_codes, name="recovery_codes"),
    path("two-step/turn-off/", views.remove, name="two_step_remove"),
    # Django's own password views, with the app's pages.
    path(
        "password/change/",
        form_page(
            auth_views.PasswordChangeView.as_view(
                template_name="accounts/password_change_form.html",
                success_url=reverse_lazy("accounts:password_change_done"),
            )
        ),
        name="password_change",
    ),
    path(
        "password/change/done/",
        read_only_page(
            auth_views.PasswordChangeDoneView.as_view(
                template_name="accounts/password_change_done.html"
            )
        ),
        name="password_change_done",
    ),
    path(
        "password/reset/",
        form_page(
            auth_views.PasswordResetView.as_view(
                template_name="accounts/password_reset_form.html",
                email_template_name="accounts/password_reset_email.txt",
                subject_template_name="accounts/password_reset_subject.txt",
                success_url=reverse_lazy("accounts:password_reset_done"),
            )
        ),
        name="password_reset",
    ),
    path(
        "password/reset/sent/",
        read_only_page(
            auth_views.PasswordResetDoneView.as_view(
                template_name="accounts/password_reset_done.html"
            )
        ),
        name="password_reset_done",
    ),
    path(
        "password/reset/<uidb64>/<token>/",
        form_page(
            auth_views.PasswordResetConfirmView.as_view(
                template_name="accounts/password_reset_confirm.html",
                success_url=reverse_lazy("accounts:password_reset_complete"),
            )
        ),
        name="password_reset_confirm",
    ),
    path(
        "password/reset/complete/",
        read_only_page(
            auth_views.PasswordResetCompleteView.as_view(
                template_name="accounts/password_reset_complete.html"
            )
        ),
        name="password_reset_complete",
    ),
]
