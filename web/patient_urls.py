from django.urls import path

from web import (
    contact_views,
    correction_views,
    patient_picker,
    print_views,
    registration_views,
    review_views,
    timeline_views,
    trial_views,
)
from web import patient_views as views

app_name = "patients"

urlpatterns = [
    path("new/", registration_views.register, name="register"),
    # The patient picker (issue 14): the search page, and its JSON for search as you type.
    path("find/", patient_picker.find_patient, name="find"),
    path("find.json", patient_picker.find_patient_json, name="find_json"),
    path("<int:pk>/", views.patient_detail, name="detail"),
    path("<int:pk>/summary/", print_views.patient_summary, name="summary"),
    path("<int:pk>/book/", views.book_visit, name="book_visit"),
    # Issue 15, item 6: a call or message to reach the patient.
    path("<int:pk>/contact/", contact_views.contact_attempt, name="contact_attempt"),
    path("visits/", views.appointments_day, name="appointments_day"),
    path("visits/week/", views.appointments_week, name="appointments_week"),
    path("visits/<int:pk>/status/", views.set_visit_status, name="set_visit_status"),
    # The physician's review (issue 4).
    path("review/", review_views.review_queue_page, name="review_queue"),
    path("trials/", trial_views.trials_page, name="trials"),
    path("trials/<int:pk>/decide/", trial_views.decide_trial, name="decide_trial"),
    path("<int:pk>/timeline/", timeline_views.timeline_page, name="timeline"),
    path("<int:pk>/mri/", review_views.record_mri, name="record_mri"),
    path("mri/<int:pk>/checked/", review_views.mri_checked, name="mri_checked"),
    path(
        "<int:pk>/complications/new/", review_views.record_complication, name="record_complication"
    ),
    # Correcting the record (clinical-rules.md 9): ?record=<kind>-<id> names the record.
    path(
        "<int:pk>/entered-in-error/",
        correction_views.mark_entered_in_error,
        name="entered_in_error",
    ),
    path("<int:pk>/restore/", correction_views.restore_record, name="restore_record"),
]
