"""Password reset, password change and e-mail change pages.

Views parse, authorise, call :mod:`accounts.services.passwords` or
:mod:`accounts.services.email_change` and respond; every
page with a form or a secret is ``no-store``, every POST is followed by a
redirect (303) on success.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters

from accounts.exceptions import (
    EmailChangeError,
    InvalidResetLinkError,
    ThrottledError,
    WrongCurrentPasswordError,
)
from accounts.forms_passwords import (
    EmailChangeForm,
    PasswordChangeForm,
    PasswordResetRequestForm,
    SetPasswordForm,
)
from accounts.http import see_other
from accounts.services import email_change, passwords
from common.conf import authsite_settings


@method_decorator(never_cache, name="dispatch")
class PasswordResetView(View):
    """Ask for a reset link. The answer never depends on whether the account exists."""

    template_name = "accounts/passwords/reset_form.html"

    def get(self, request):
        return render(request, self.template_name, {"form": PasswordResetRequestForm()})

    def post(self, request):
        form = PasswordResetRequestForm(data=request.POST)
        if not form.is_valid():
            return render(request, self.template_name, {"form": form})
        passwords.request_password_reset(form.cleaned_data["email"], request=request)
        return see_other(reverse("accounts:password-reset-done"))


@method_decorator(never_cache, name="dispatch")
class PasswordResetDoneView(View):
    template_name = "accounts/passwords/reset_done.html"

    def get(self, request):
        minutes = max(1, authsite_settings.PASSWORD_RESET_TIMEOUT_SECONDS // 60)
        return render(request, self.template_name, {"valid_minutes": minutes})


@method_decorator([never_cache, sensitive_post_parameters()], name="dispatch")
class PasswordResetConfirmView(View):
    """Set a new password from a reset link.

    As Django's view does, the token moves from the URL into the session and
    the browser is redirected to a token-less URL, so the token cannot leak
    through the Referer header or the history of the form page.
    """

    template_name = "accounts/passwords/reset_confirm.html"

    def dispatch(self, request, uidb64, token):
        if token != passwords.RESET_URL_TOKEN:
            if passwords.get_reset_user(uidb64, token) is None:
                return self.invalid(request)
            request.session[passwords.RESET_SESSION_KEY] = token
            url = reverse(
                "accounts:password-reset-confirm",
                kwargs={"uidb64": uidb64, "token": passwords.RESET_URL_TOKEN},
            )
            return HttpResponseRedirect(url)
        self.token = request.session.get(passwords.RESET_SESSION_KEY)
        self.user = passwords.get_reset_user(uidb64, self.token)
        if self.user is None:
            return self.invalid(request)
        self.uidb64 = uidb64
        return super().dispatch(request, uidb64, token)

    def get(self, request, uidb64, token):
        return render(request, self.template_name, {"form": SetPasswordForm(self.user)})

    def post(self, request, uidb64, token):
        form = SetPasswordForm(self.user, data=request.POST)
        if form.is_valid():
            try:
                passwords.reset_password(
                    self.uidb64, self.token, form.cleaned_data["new_password1"], request=request
                )
            except InvalidResetLinkError:
                return self.invalid(request)
            except ValidationError as error:
                form.add_error("new_password1", error)
            else:
                request.session.pop(passwords.RESET_SESSION_KEY, None)
                return see_other(reverse("accounts:password-reset-complete"))
        return render(request, self.template_name, {"form": form})

    def invalid(self, request):
        request.session.pop(passwords.RESET_SESSION_KEY, None)
        return render(
            request,
            self.template_name,
            {"invalid_link": True, "error": InvalidResetLinkError.message},
            status=400,
        )


class PasswordResetCompleteView(View):
    """Done; the user signs in normally, so every factor of the account still applies."""

    template_name = "accounts/passwords/reset_complete.html"

    def get(self, request):
        return render(request, self.template_name)


@method_decorator([never_cache, login_required, sensitive_post_parameters()], name="dispatch")
class PasswordChangeView(View):
    template_name = "accounts/passwords/change_form.html"

    def get(self, request):
        return render(request, self.template_name, {"form": PasswordChangeForm(request.user)})

    def post(self, request):
        form = PasswordChangeForm(request.user, data=request.POST)
        if form.is_valid():
            try:
                passwords.change_password(
                    request.user,
                    form.cleaned_data["current_password"],
                    form.cleaned_data["new_password1"],
                    request=request,
                )
            except (WrongCurrentPasswordError, ThrottledError) as error:
                form.add_error("current_password", str(error.message))
            except ValidationError as error:
                form.add_error("new_password1", error)
            else:
                messages.success(
                    request,
                    _(
                        "Your password has been changed. You were signed out everywhere "
                        "else, and apps you had signed in to must ask you to sign in again."
                    ),
                )
                return see_other(reverse("accounts:password-change"))
        return render(request, self.template_name, {"form": form})


@method_decorator([never_cache, login_required, sensitive_post_parameters()], name="dispatch")
class EmailChangeView(View):
    template_name = "accounts/passwords/email_change_form.html"

    def get(self, request):
        return render(request, self.template_name, {"form": EmailChangeForm(request.user)})

    def post(self, request):
        form = EmailChangeForm(request.user, data=request.POST)
        if form.is_valid():
            new_email = form.cleaned_data["new_email"]
            try:
                email_change.request_email_change(
                    request.user,
                    new_email,
                    form.cleaned_data["current_password"],
                    request=request,
                )
            except WrongCurrentPasswordError as error:
                form.add_error("current_password", str(error.message))
            except ThrottledError as error:
                field = "current_password"
                if error.scope == email_change.EMAIL_CHANGE_SCOPE:
                    field = "new_email"
                form.add_error(field, str(error.message))
            except EmailChangeError as error:
                form.add_error("new_email", str(error.message))
            else:
                messages.success(
                    request,
                    _(
                        "We sent a confirmation link to %(new)s. Your address changes only "
                        "when you open that link; until then you keep signing in with %(old)s."
                    )
                    % {"new": new_email, "old": request.user.email},
                )
                return see_other(reverse("accounts:email-change"))
        return render(request, self.template_name, {"form": form})


@method_decorator(never_cache, name="dispatch")
class EmailChangeConfirmView(View):
    """GET shows what will change and a button; only the POST changes anything
    (mail scanners and link previews open links with GET)."""

    template_name = "accounts/passwords/email_change_confirm.html"

    def get(self, request, token):
        try:
            user, new_email = email_change.read_email_change(token)
        except EmailChangeError as error:
            return self.failed(request, error)
        return render(
            request, self.template_name, {"old_email": user.email, "new_email": new_email}
        )

    def post(self, request, token):
        try:
            user = email_change.confirm_email_change(token, request=request)
        except EmailChangeError as error:
            return self.failed(request, error)
        return render(request, self.template_name, {"done": True, "new_email": user.email})

    def failed(self, request, error):
        return render(request, self.template_name, {"error": str(error.message)}, status=400)


urlpatterns = [
    path("password/reset/", PasswordResetView.as_view(), name="password-reset"),
    path("password/reset/done/", PasswordResetDoneView.as_view(), name="password-reset-done"),
    path(
        "password/reset/complete/",
        PasswordResetCompleteView.as_view(),
        name="password-reset-complete",
    ),
    path(
        "password/reset/<str:uidb64>/<str:token>/",
        PasswordResetConfirmView.as_view(),
        name="password-reset-confirm",
    ),
    path("password/change/", PasswordChangeView.as_view(), name="password-change"),
    path("email/change/", EmailChangeView.as_view(), name="email-change"),
    path(
        "email/change/confirm/<str:token>/",
        EmailChangeConfirmView.as_view(),
        name="email-change-confirm",
    ),
]
