from django.urls import path

from patients import views

app_name = "patients"

urlpatterns = [
    path("<int:pk>/", views.patient_detail, name="detail"),
    path("<int:pk>/book/", views.book_visit, name="book_visit"),
    path("visits/", views.appointments_day, name="appointments_day"),
    path("visits/week/", views.appointments_week, name="appointments_week"),
    path("visits/<int:pk>/status/", views.set_visit_status, name="set_visit_status"),
]
