"""The account page: profile, signed-in sessions, allowed applications, security events.

Everything here acts on the signed-in user only: a session id that is not
theirs is a 404, exactly like one that does not exist (ASVS 8.2.2).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render, resolve_url
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts import sessions
from accounts.forms_account import ProfileForm
from accounts.http import see_other
from accounts.models import UserSession
from audit.events import Action
from audit.services import recent_events_for_user


def _redirect_to_account():
    return see_other(reverse("accounts:account"))


def _action_label(value: str) -> str:
    try:
        return str(Action(value).label)
    except ValueError:  # an action since removed from the catalogue
        return value


def security_events(user) -> list[dict]:
    """The user's recent security events as the page shows them."""
    return [
        {
            "occurred_at": event.occurred_at,
            "label": _action_label(event.action),
            "failed": event.outcome != "success",
            "ip": event.ip,
            "device": sessions.describe_user_agent(event.user_agent) if event.user_agent else "",
        }
        for event in recent_events_for_user(user)
    ]


@method_decorator([never_cache, login_required], name="dispatch")
class AccountView(View):
    """``account/``: GET shows the page; POST saves the profile form."""

    template_name = "accounts/account/account.html"

    def get(self, request):
        return self.render_page(request, ProfileForm(instance=request.user))

    def post(self, request):
        form = ProfileForm(data=request.POST, instance=request.user)
        if not form.is_valid():
            request.user.refresh_from_db()  # the header must not show rejected values
            return self.render_page(request, form)
        form.save(request=request)
        messages.success(request, _("Your profile was saved."))
        return _redirect_to_account()

    def render_page(self, request, form):
        sessions.touch_session(request)  # "last seen" of this session, at most once a minute
        current = request.session.session_key
        rows = sessions.list_sessions(request.user)
        context = {
            "form": form,
            "sessions": [
                {
                    "id": row.pk,
                    "device": sessions.describe_user_agent(row.user_agent),
                    "user_agent": row.user_agent,
                    "ip": row.ip,
                    "created": row.created,
                    "last_seen": row.last_seen,
                    "is_current": row.session_key == current,
                }
                for row in sorted(rows, key=lambda r: r.session_key != current)
            ],
            "has_other_sessions": any(row.session_key != current for row in rows),
            "events": security_events(request.user),
            "last_seen_granularity_minutes": sessions.LAST_SEEN_GRANULARITY_SECONDS // 60,
        }
        return render(request, self.template_name, context)


@never_cache
@login_required
@require_POST
def end_session(request, session_id: int):
    """``account/sessions/<id>/end/``: sign out one of the user's own sessions."""
    row = UserSession.objects.filter(pk=session_id, user=request.user).first()
    if row is None:
        raise Http404
    if row.session_key == request.session.session_key:
        logout(request)  # this very browser: an ordinary sign-out (audited by the receiver)
        return see_other(resolve_url(settings.LOGIN_URL))
    sessions.end_session(row, request=request)
    messages.success(request, _("That session was signed out."))
    return _redirect_to_account()


@never_cache
@login_required
@require_POST
def end_other_sessions(request):
    """``account/sessions/end-others/``: sign out everywhere except this browser."""
    ended = sessions.end_other_sessions(
        request.user, current_session_key=request.session.session_key, request=request
    )
    if ended:
        messages.success(request, _("All your other sessions were signed out."))
    else:
        messages.info(request, _("You had no other sessions."))
    return _redirect_to_account()


urlpatterns = [
    path("account/", AccountView.as_view(), name="account"),
    path("account/sessions/<int:session_id>/end/", end_session, name="end-session"),
    path("account/sessions/end-others/", end_other_sessions, name="end-other-sessions"),
]
