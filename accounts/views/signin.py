"""Sign in and sign out."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpResponseRedirect
from django.shortcuts import render, resolve_url
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters

from accounts.forms import FORM_ERROR_ID, LoginForm
from accounts.http import next_url
from accounts.services.mfa.common import has_mfa
from accounts.services.mfa.pending import start_pending_sign_in
from accounts.services.sign_in import complete_sign_in


@method_decorator([never_cache, sensitive_post_parameters("password")], name="dispatch")
class LoginView(View):
    """The sign-in page that OAuth authorization sends anonymous users to (``LOGIN_URL``)."""

    template_name = "accounts/login.html"

    def get(self, request):
        target = next_url(request)
        # ?reauth=1: an application asked for a fresh sign-in (OIDC prompt=login, max_age).
        if request.user.is_authenticated and target and request.GET.get("reauth") != "1":
            return HttpResponseRedirect(target)
        return self.render_form(request, LoginForm(request), target)

    def post(self, request):
        target = next_url(request)
        form = LoginForm(request, data=request.POST)
        if not form.is_valid():
            return self.render_form(request, form, target)
        user = form.get_user()
        remember = form.cleaned_data["remember"]
        if has_mfa(user):
            # Not signed in yet: the second factor comes first (accounts:mfa-verify).
            # A new session key, so a planted session id gains nothing from this step.
            request.session.cycle_key()
            start_pending_sign_in(request.session, user, next_url=target or "", remember=remember)
            verify = reverse("accounts:mfa-verify")
            return HttpResponseRedirect(
                f"{verify}?{urlencode({'next': target})}" if target else verify
            )
        complete_sign_in(request, user, methods=["pwd"], remember=remember)
        return HttpResponseRedirect(target or resolve_url(settings.LOGIN_REDIRECT_URL))

    def render_form(self, request, form, target):
        context = {"form": form, "next_url": target or "", "form_error_id": FORM_ERROR_ID}
        return render(request, self.template_name, context)


@method_decorator(never_cache, name="dispatch")
class LogoutView(View):
    """Sign out on POST only: a GET (a link, a prefetch, an <img>) must not end a session."""

    template_name = "accounts/logout.html"

    def get(self, request):
        return render(request, self.template_name, {"next_url": next_url(request) or ""})

    def post(self, request):
        target = next_url(request)
        logout(request)
        return HttpResponseRedirect(target or resolve_url(settings.LOGIN_URL))


urlpatterns = [
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", LogoutView.as_view(), name="logout"),
]
