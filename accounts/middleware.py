"""Hold a signed-in user at the second step until they have passed it.

After the password, a user who owes a code (``policy.CODE``) is sent to the code
page, and one whose role requires two-step sign-in but who has no app yet
(``policy.SET_UP``) to the set-up page. Nothing else is served to them but sign-out,
the health checks and static files. After django-otp's OTPMiddleware, which tells
whether this session has passed (``request.user.is_verified()``).
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from accounts import policy

# Pages any signed-in user may reach while the second step is pending.
ALWAYS_ALLOWED = ("logout", "healthz", "healthz_db")


class SecondFactorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            held_at = self.step_page(request)
            if held_at is not None and request.path_info != held_at and not self.exempt(request):
                return self.send_to(request, held_at)
        return self.get_response(request)

    @staticmethod
    def step_page(request: HttpRequest) -> str | None:
        """The page this session must pass first, or None once it may go anywhere."""
        state = request.session.get(policy.SESSION_KEY)
        if state not in policy.STATES:
            # A session from before this app was installed: decide now, once.
            state = policy.refresh(request)
        if state == policy.NONE:
            return None  # no query: most demo and nurse sessions end here
        if state == policy.CODE:
            if request.user.is_verified():  # type: ignore[union-attr]
                return None
            return reverse("accounts:two_step_verify")
        return reverse("accounts:two_step_setup")

    @staticmethod
    def exempt(request: HttpRequest) -> bool:
        path = request.path_info
        if path.startswith("/" + settings.STATIC_URL.lstrip("/")):
            return True
        return path in {reverse(name) for name in ALWAYS_ALLOWED}

    @staticmethod
    def send_to(request: HttpRequest, page: str) -> HttpResponse:
        # Come back to the page asked for; a form's POST cannot be replayed, so
        # after one the user starts from the worklist.
        if request.method == "GET":
            page += "?" + urlencode({"next": request.get_full_path()})
        return HttpResponseRedirect(page)
