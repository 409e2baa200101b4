"""The message templates in the admin (issue 15): an edit is used only after the
administrator has looked at its preview and approved it."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse

from outreach import texts
from outreach.choices import Channel
from outreach.models import MessageTemplate
from web.admin_access import SYSTEM, RoleAdmin


class MessageTemplateForm(forms.ModelForm):
    class Meta:
        model = MessageTemplate
        fields = ["kind", "channel", "language", "subject", "body"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        try:
            texts.check_template(data.get("subject", ""), data.get("body", ""))
        except ValidationError as error:
            for field, problems in error.message_dict.items():
                self.add_error(field, problems)
        return data


@admin.register(MessageTemplate)
class MessageTemplateAdmin(RoleAdmin, admin.ModelAdmin):
    # Running the system: the administrator writes, previews and approves.
    view_roles = SYSTEM
    edit_roles = SYSTEM
    delete_roles = SYSTEM  # the built-in text is used again
    form = MessageTemplateForm
    list_display = ["__str__", "in_use"]
    readonly_fields = ["approved_by", "approved_at"]

    @admin.display(boolean=True, description="approved and in use")
    def in_use(self, obj: MessageTemplate) -> bool:
        return obj.is_approved

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<int:pk>/preview/",
                self.admin_site.admin_view(self.preview_view),
                name="outreach_messagetemplate_preview",
            ),
            *super().get_urls(),
        ]

    def _to_preview(self, obj: MessageTemplate) -> HttpResponseRedirect:
        return HttpResponseRedirect(
            reverse("admin:outreach_messagetemplate_preview", args=[obj.pk])
        )

    def response_add(self, request: HttpRequest, obj: MessageTemplate, *args: Any) -> HttpResponse:
        return self._to_preview(obj)

    def response_change(self, request: HttpRequest, obj: MessageTemplate) -> HttpResponse:
        return self._to_preview(obj)

    def preview_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        template = get_object_or_404(MessageTemplate, pk=pk)
        if not self.has_change_permission(request, template):
            raise PermissionDenied
        if request.method == "POST":
            try:
                texts.approve(template, request.user)
            except ValidationError as error:
                messages.error(request, " ".join(error.messages))
            else:
                messages.success(request, f"“{template}” is approved: messages use it from now on.")
                return HttpResponseRedirect(reverse("admin:outreach_messagetemplate_changelist"))
        rendered = texts.render_text(template.subject, template.body, texts.sample_moment())
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "template_obj": template,
            "rendered": rendered,
            "is_email": template.channel == Channel.EMAIL,
            "length": len(rendered.text),
            "segments": (len(rendered.text) + 152) // 153 if len(rendered.text) > 160 else 1,
            "title": f"Preview: {template}",
        }
        return TemplateResponse(request, "admin/outreach/messagetemplate/preview.html", context)
