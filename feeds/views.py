"""The staff calendar feed and the page where staff manage its addresses (issue 15, item 7)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from audit.ip import client_ip
from audit.models import AuditEntry
from core.roles import form_page, signed_in_user, staff_required
from feeds import services
from feeds.models import FeedScope, FeedToken

NEW_FEED_SESSION_KEY = "feeds_new_url"


class NewFeedForm(forms.Form):
    scope = forms.ChoiceField(
        label="Visits", choices=FeedScope.choices, widget=forms.RadioSelect, initial="mine"
    )
    label = forms.CharField(
        label="Name it (optional)",
        max_length=60,
        required=False,
        help_text="For example the device or app that reads it.",
    )


@form_page
@staff_required
def manage_feeds(request: HttpRequest) -> HttpResponse:
    """The member's feed addresses: create one (its address is shown once) or revoke."""
    user = signed_in_user(request)
    form = NewFeedForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            feed, token = services.create_feed(
                user=user, scope=form.cleaned_data["scope"], label=form.cleaned_data["label"]
            )
        except ValidationError as error:
            form.add_error(None, error.messages)
        else:
            # Post, redirect, get: the secret crosses the session once and is
            # dropped when shown, so a reload neither repeats the creation nor
            # shows it again.
            request.session[NEW_FEED_SESSION_KEY] = [feed.pk, token]
            return redirect("feeds:manage")
    new_feed_id, new_url = None, ""
    if request.method == "GET" and NEW_FEED_SESSION_KEY in request.session:
        new_feed_id, token = request.session.pop(NEW_FEED_SESSION_KEY)
        new_url = request.build_absolute_uri(reverse("feeds:calendar", args=[token]))
    return render(
        request,
        "feeds/manage.html",
        {
            "form": form,
            "feeds": FeedToken.objects.filter(user=user),
            "new_feed_id": new_feed_id,
            "new_url": new_url,
            "days_back": services.DAYS_BACK,
            "days_ahead": services.DAYS_AHEAD,
        },
    )


@require_POST
@staff_required
def revoke_feed(request: HttpRequest, pk: int) -> HttpResponse:
    """Revoke one of the member's own feeds (another's is a 404)."""
    feed = get_object_or_404(FeedToken, pk=pk, user=signed_in_user(request))
    services.revoke_feed(feed=feed, now=timezone.now())
    messages.success(request, "Feed revoked: its address no longer works.")
    return redirect("feeds:manage")


@require_GET
def calendar_feed(request: HttpRequest, token: str) -> HttpResponse:
    """The iCalendar feed. No sign-in (calendar apps cannot): the address is the secret.

    An unknown or revoked secret is a 404, as for a page that does not exist.
    Each fetch is in the view log under the feed's owner, without the secret.
    """
    feed = services.feed_of_token(token)
    if feed is None:
        raise Http404("No such feed.")
    now = timezone.now()
    body = services.calendar(feed, now=now, host=request.get_host().split(":")[0])
    FeedToken.objects.filter(pk=feed.pk).update(last_used_at=now)
    AuditEntry.objects.create(
        user_id=feed.user.pk,
        username=feed.user.get_username(),
        view_name="feeds:calendar",
        what=f"calendar feed ({feed.get_scope_display().lower()}), no patient data",
        path=f"/feeds/<feed {feed.pk}>.ics",
        ip_address=client_ip(request),
        method=request.method or "GET",
        status=200,
    )
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="clinic-visits.ics"'
    # No proxy keeps a copy (clinic.headers adds no-store and private to every answer);
    # the secret in the address is not sent on as a referrer.
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex"
    return response
