from django.urls import path

from feeds import views

app_name = "feeds"

urlpatterns = [
    path("", views.manage_feeds, name="manage"),
    path("<int:pk>/revoke/", views.revoke_feed, name="revoke"),
    path("<str:token>.ics", views.calendar_feed, name="calendar"),
]
