"""The account page's "applications you allowed" list, with "revoke access" (ASVS 10.7.x).

It lives in oauth because accounts never imports oauth; the account page
links here. Only the signed-in user's own consents are listed or revoked:
any other client id is a 404, whether the client exists or not.
"""

from __future__ import annotations

from oauth2_provider.scopes import get_scopes_backend

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from oauth import services
from oauth.models import Application, Consent


def list_consented_applications(user) -> list[dict]:
    """One entry per client the user allowed: the client, the scopes granted, when.

    A client approved for several scope sets shows their union and the latest date.
    """
    descriptions = get_scopes_backend().get_all_scopes()
    entries: dict[int, dict] = {}
    rows = Consent.objects.filter(user=user).select_related("application").order_by("created")
    for row in rows:
        entry = entries.setdefault(
            row.application_id, {"application": row.application, "scopes": [], "granted": None}
        )
        for scope in row.scope.split():
            if scope not in entry["scopes"]:
                entry["scopes"].append(scope)
        entry["granted"] = row.created
    result = []
    for entry in entries.values():
        entry["scope_descriptions"] = [descriptions.get(s, s) for s in entry["scopes"]]
        result.append(entry)
    return sorted(result, key=lambda e: e["granted"], reverse=True)


def get_consented_application(user, client_id: str) -> Application:
    """The client ``user`` has allowed, or Http404 (someone else's or unknown: same answer)."""
    application = Application.objects.filter(
        client_id=client_id[:100], pk__in=Consent.objects.filter(user=user).values("application")
    ).first()
    if application is None:
        raise Http404
    return application


@never_cache
@login_required
def applications(request):
    """``account/applications/``: the clients the user allowed, each with "revoke access"."""
    context = {"entries": list_consented_applications(request.user)}
    return render(request, "oauth/account/applications.html", context)


@never_cache
@login_required
@require_POST
def revoke(request, client_id: str):
    """``account/applications/<client_id>/revoke/``: POST only, the user's own consents only."""
    application = get_consented_application(request.user, client_id)
    services.revoke_access(request.user, application, request=request)
    messages.success(
        request,
        _("%(name)s can no longer use your account. It will ask again if you sign in to it.")
        % {"name": application.name or application.client_id},
    )
    return HttpResponseRedirect(reverse("oauth-account:applications"), status=303)
