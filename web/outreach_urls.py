from django.urls import path

from web import outreach_views as views

app_name = "outreach"

urlpatterns = [
    path("", views.outbox_page, name="outbox"),
    path("tasks/<int:pk>/done/", views.task_done, name="task_done"),
    path("patients/<int:pk>/", views.patient_messages, name="patient_messages"),
    # No sign-in: the provider's webhook (signed) and the email's link (signed token).
    path("sms/inbound/", views.sms_inbound, name="sms_inbound"),
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
]
