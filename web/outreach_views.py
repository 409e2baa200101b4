"""The outbox's pages (issue 15): staff see what was sent; the SMS provider's
webhook and the email's unsubscribe link withdraw consent."""

from __future__ import annotations

from django import forms
from django.contrib import messages as flash
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from core.roles import clinical_staff_required, form_page, read_only_page, staff_required
from outreach import optout, reminders, selectors, sms
from outreach.choices import Channel, MessageState
from outreach.models import ConsentEvent, Message, StaffTask
from outreach.outbox import read_unsubscribe_token
from patients.models import Patient

PAGE_SIZE = 50


class OutboxFilter(forms.Form):
    state = forms.ChoiceField(
        choices=[("", "Any state"), *MessageState.choices],
        required=False,
        widget=forms.Select(attrs={"class": "form-select"}),
    )
    channel = forms.ChoiceField(
        choices=[("", "Any channel"), *Channel.choices],
        required=False,
        widget=forms.Select(attrs={"class": "form-select"}),
    )
    day = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date", "class": "form-control"}),
        label="Due on",
    )


@read_only_page
@staff_required
def outbox_page(request: HttpRequest) -> HttpResponse:
    form = OutboxFilter(request.GET or None)
    state, channel, day = "", "", None
    if form.is_bound and form.is_valid():
        state = form.cleaned_data["state"]
        channel = form.cleaned_data["channel"]
        day = form.cleaned_data["day"]
    found = selectors.outbox(state=state, channel=channel, day=day)
    counts = selectors.state_counts(selectors.outbox(channel=channel, day=day))
    page = Paginator(found, PAGE_SIZE).get_page(request.GET.get("page"))
    params = request.GET.copy()
    params.pop("page", None)
    return render(
        request,
        "outreach/outbox.html",
        {
            "form": form,
            "page": page,
            "counts": counts,
            "states": MessageState.choices,
            "tasks": list(selectors.open_tasks()),
            "params": params.urlencode(),
        },
    )


@require_POST
@clinical_staff_required
def task_done(request: HttpRequest, pk: int) -> HttpResponse:
    task = get_object_or_404(StaffTask.objects.select_related("patient"), pk=pk)
    if reminders.close_task(task, now=timezone.now()):
        flash.success(request, f"Task for {task.patient.full_name} marked done.")
    return redirect("outreach:outbox")


@read_only_page
@staff_required
def patient_messages(request: HttpRequest, pk: int) -> HttpResponse:
    patient = get_object_or_404(Patient, pk=pk)
    sent = Message.objects.filter(patient=patient).order_by("-due_at", "-pk")
    page = Paginator(sent, PAGE_SIZE).get_page(request.GET.get("page"))
    events = ConsentEvent.objects.filter(patient=patient).select_related("recorded_by")
    return render(
        request,
        "outreach/patient_messages.html",
        {"patient": patient, "page": page, "events": list(events[:50])},
    )


@csrf_exempt
@require_POST
def sms_inbound(request: HttpRequest) -> HttpResponse:
    """The SMS provider's webhook for replies: signed by the provider (Twilio's
    request validator, or the HTTP provider's HMAC), else refused with 403."""
    backend = sms.get_backend()
    if not backend.verify_inbound(request):
        return HttpResponseForbidden("bad signature")
    sender, text = backend.inbound_message(request)
    optout.handle_inbound_sms(sender, text)
    # An empty TwiML answer: no reply SMS from the app (the provider confirms STOP itself).
    return HttpResponse(
        '<?xml version="1.0" encoding="UTF-8"?><Response></Response>',
        content_type="application/xml",
    )


@csrf_exempt
@form_page
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """The email's link: the signed token names the patient. GET asks (mail
    scanners open links), POST withdraws at once (also RFC 8058 one-click)."""
    read = read_unsubscribe_token(token)
    if read is None:
        return render(request, "outreach/unsubscribe.html", {"invalid": True}, status=400)
    patient_id, message_id = read
    patient = Patient.objects.filter(pk=patient_id).first()
    if patient is None:
        raise Http404
    done = False
    if request.method == "POST":
        if patient.contact_by == Channel.EMAIL or patient.consent_to_contact:
            optout.unsubscribe(patient, message_id=message_id)
        done = True
    return render(
        request,
        "outreach/unsubscribe.html",
        {"done": done, "already": not patient.consent_to_contact and not done},
    )
