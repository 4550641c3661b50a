"""Registration and e-mail verification pages.

Every page answers the same whether or not an address has an account. Rate
limits: past the per-address-of-requester limit, registration and resend
answer 429 with ``Retry-After``; past the per-e-mail-address limit the page
looks the same and no e-mail is sent (saying so would reveal the account).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import render, resolve_url
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters

from accounts.exceptions import (
    InvitationError,
    RegistrationClosedError,
    ThrottledError,
    VerificationLinkError,
)
from accounts.forms_registration import RegistrationForm, ResendVerificationForm
from accounts.http import next_url, see_other, with_next
from accounts.services import registration
from common.conf import authsite_settings

TEMPLATES = "accounts/registration/"


def rate_limited(request, exc: ThrottledError):
    response = render(
        request, TEMPLATES + "rate_limited.html", {"message": exc.message}, status=429
    )
    response["Retry-After"] = str(exc.retry_after)
    return response


@method_decorator(
    [never_cache, sensitive_post_parameters("password1", "password2")], name="dispatch"
)
class RegisterView(View):
    """Create an account (``AUTHSITE_REGISTRATION_MODE``: open, invite or closed)."""

    template_name = TEMPLATES + "register.html"

    def dispatch(self, request, *args, **kwargs):
        mode = authsite_settings.REGISTRATION_MODE
        if mode == "closed":
            return render(request, TEMPLATES + "closed.html", status=403)
        self.invitation = None
        self.invited_email = None
        if mode == "invite":
            self.invitation = request.POST.get("invitation") or request.GET.get("invitation")
            if not self.invitation:
                return render(request, TEMPLATES + "invitation_required.html", status=403)
            try:
                self.invited_email = registration.check_invitation(self.invitation)
            except InvitationError as exc:
                return self.invitation_error(request, exc)
        return super().dispatch(request, *args, **kwargs)

    def get(self, request):
        return self.render_form(request, RegistrationForm(invited_email=self.invited_email))

    def post(self, request):
        form = RegistrationForm(request.POST, invited_email=self.invited_email)
        if not form.is_valid():
            return self.render_form(request, form)
        data = form.cleaned_data
        try:
            registration.register(
                data["email"],
                data["username"],
                data["password1"],
                invitation=self.invitation,
                next_url=next_url(request),
                request=request,
            )
        except ThrottledError as exc:
            return rate_limited(request, exc)
        except InvitationError as exc:
            form.add_error("email", exc.message)
            return self.render_form(request, form)
        except RegistrationClosedError:
            return render(request, TEMPLATES + "closed.html", status=403)
        except ValidationError as exc:
            for field, errors in exc.update_error_dict({}).items():
                form.add_error(field if field in form.fields else None, errors)
            return self.render_form(request, form)
        return see_other(reverse("accounts:register-done"))

    def render_form(self, request, form):
        context = {
            "form": form,
            "invitation": self.invitation or "",
            "next_url": next_url(request) or "",
        }
        return render(request, self.template_name, context)

    def invitation_error(self, request, exc):
        return render(
            request, TEMPLATES + "invitation_invalid.html", {"error": exc.message}, status=400
        )


@method_decorator(never_cache, name="dispatch")
class RegisterDoneView(View):
    """ "Check your e-mail": the same page whether or not the address was new."""

    def get(self, request):
        context = {"resend_form": ResendVerificationForm()}
        return render(request, TEMPLATES + "done.html", context)


@method_decorator(never_cache, name="dispatch")
class VerifyView(View):
    """GET shows a button; only the POST uses the link, so mail scanners that open
    links do not consume it."""

    def get(self, request, token):
        try:
            user = registration.check_verification_token(token)
        except VerificationLinkError as exc:
            return self.failed(request, exc)
        return render(request, TEMPLATES + "verify_confirm.html", {"email": user.email})

    def post(self, request, token):
        try:
            done = registration.complete_verification(token, request=request)
        except VerificationLinkError as exc:
            return self.failed(request, exc)
        target = next_url(request, done.next_url) if done.next_url else None
        if done.was_signed_in:
            messages.success(request, _("Your e-mail address is verified."))
            return see_other(target or resolve_url(settings.LOGIN_REDIRECT_URL))
        if done.signed_in:  # this browser registered the account a moment ago
            messages.success(request, _("Your e-mail address is verified. You are signed in."))
            return see_other(target or resolve_url(settings.LOGIN_REDIRECT_URL))
        login_url = reverse("accounts:login")
        if target:
            login_url += "?" + urlencode({"next": target})
        return render(request, TEMPLATES + "verified.html", {"login_url": login_url})

    def failed(self, request, exc):
        context = {"error": exc.message, "code": exc.code, "resend_form": ResendVerificationForm()}
        if exc.code == "used":
            context["login_url"] = reverse("accounts:login")
        return render(request, TEMPLATES + "verify_failed.html", context, status=400)


@method_decorator(never_cache, name="dispatch")
class ResendView(View):
    """Send a new verification link: to the signed-in account, or to an address typed in."""

    def get(self, request):
        return render(request, TEMPLATES + "resend.html", {"form": ResendVerificationForm()})

    def post(self, request):
        target = next_url(request)
        if request.user.is_authenticated:
            try:
                sent = registration.resend_verification(
                    user=request.user, next_url=target, request=request
                )
            except ThrottledError as exc:
                return rate_limited(request, exc)
            if request.user.email_verified:
                return see_other(target or resolve_url(settings.LOGIN_REDIRECT_URL))
            if sent:
                messages.success(
                    request, _("We sent a new link to %(email)s.") % {"email": request.user.email}
                )
            else:
                messages.warning(
                    request,
                    _(
                        "We already sent several links to %(email)s recently. Check your inbox "
                        "and spam folder, or try again in an hour."
                    )
                    % {"email": request.user.email},
                )
            url = reverse("accounts:verify-required")
            return see_other(with_next(url, target))
        form = ResendVerificationForm(request.POST)
        if not form.is_valid():
            return render(request, TEMPLATES + "resend.html", {"form": form}, status=400)
        try:
            registration.resend_verification(email=form.cleaned_data["email"], request=request)
        except ThrottledError as exc:
            return rate_limited(request, exc)
        return see_other(reverse("accounts:register-done"))


@method_decorator(never_cache, name="dispatch")
class VerifyRequiredView(View):
    """Where OAuth authorization sends a signed-in account whose e-mail is unverified."""

    def get(self, request):
        target = next_url(request)
        if not request.user.is_authenticated:
            here = request.get_full_path()
            return HttpResponseRedirect(reverse("accounts:login") + "?" + urlencode({"next": here}))
        if request.user.email_verified:
            return HttpResponseRedirect(target or resolve_url(settings.LOGIN_REDIRECT_URL))
        # Following the link in this browser then returns to the application.
        registration.remember_registration(request.session, request.user, next_url=target)
        context = {"email": request.user.email, "next_url": target or ""}
        return render(request, TEMPLATES + "verify_required.html", context)


urlpatterns = [
    path("register/", RegisterView.as_view(), name="register"),
    path("register/done/", RegisterDoneView.as_view(), name="register-done"),
    path("verify/resend/", ResendView.as_view(), name="verify-resend"),
    path("verify/required/", VerifyRequiredView.as_view(), name="verify-required"),
    path("verify/<str:token>/", VerifyView.as_view(), name="verify"),
]
