"""In-app help: what entry refuses and what it asks to confirm (clinical-rules.md 8, 9).

Built from the same constants and catalogue rows the checks read, so the page
cannot drift from the rules: an administrator who widens a drug's range sees
the new range here at once.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from core.roles import read_only_page, staff_required
from pumps import entry_safety
from pumps.models import Drug, PumpModel


@read_only_page
@staff_required
def entry_safety_help(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "pumps/help_entry_safety.html",
        {
            "rules": entry_safety,
            "drugs": Drug.objects.order_by("name"),
            "models": PumpModel.objects.order_by("code"),
        },
    )
