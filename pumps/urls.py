from django.urls import path

from pumps import views

app_name = "pumps"

urlpatterns = [
    path("", views.worklist_page, name="worklist"),
    path("pumps/<int:pk>/refill/", views.log_refill, name="log_refill"),
    path("refills/<int:pk>/saved/", views.refill_saved, name="refill_saved"),
    path("api/due-list/", views.due_list_json, name="due_list_json"),
]
