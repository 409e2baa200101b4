from django.urls import path

from web import board_views, help_views, print_views
from web import pump_views as views

app_name = "pumps"

urlpatterns = [
    path("", views.worklist_page, name="worklist"),
    # Print-outs and the pharmacy order (issue 14).
    path("worklist/print/", print_views.worklist_print, name="worklist_print"),
    path("pharmacy/", print_views.pharmacy_orders, name="pharmacy_orders"),
    path("pharmacy.csv", print_views.pharmacy_orders_csv, name="pharmacy_orders_csv"),
    path("pumps/<int:pk>/refill/", views.log_refill, name="log_refill"),
    path("refills/<int:pk>/saved/", views.refill_saved, name="refill_saved"),
    path("api/due-list/", views.due_list_json, name="due_list_json"),
    # The physician's review (issue 4).
    path("help/entry-safety/", help_views.entry_safety_help, name="help_entry_safety"),
    path("board/", board_views.board_page, name="board"),
    path("board.csv", board_views.board_csv, name="board_csv"),
    path("refills/<int:pk>/sign-off/", board_views.sign_off, name="sign_off"),
    path("pumps/<int:pk>/explant/", board_views.explant, name="explant"),
    path("patients/<int:pk>/implant/", board_views.implant, name="implant"),
]
