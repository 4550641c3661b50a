"""Multi-factor pages: enrolment, removal, recovery codes, and the sign-in step.

The JSON endpoints (WebAuthn) take a JSON body and the CSRF token in the
``X-CSRFToken`` header; errors are ``{"error": code, "detail": message}``
with status 400 (429 when throttled), never a 500.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render, resolve_url
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters

from accounts.exceptions import MFAError, MFARequestError, SignInExpiredError
from accounts.forms_mfa import (
    CurrentPasswordForm,
    RecoveryCodesForm,
    TOTPSetupForm,
    VerifyCodeForm,
    WebAuthnNameForm,
)
from accounts.http import next_url, with_next
from accounts.models import WebAuthnCredential
from accounts.services.mfa import common, recovery, totp, webauthn
from accounts.services.mfa.pending import Pending, signing_in
from common.exceptions import AuthsiteError, ThrottledError

_no_store = [never_cache, sensitive_post_parameters("password", "code")]


def json_error(exc: AuthsiteError) -> JsonResponse:
    response = JsonResponse({"error": exc.code, "detail": exc.message}, status=exc.status)
    if getattr(exc, "retry_after", 0):
        response["Retry-After"] = str(exc.retry_after)
    return response


def json_body(request) -> dict:
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise MFARequestError(_("The request was not valid JSON.")) from None
    if not isinstance(body, dict):
        raise MFARequestError(_("The request was not a JSON object."))
    return body


def signed_in_target(request, pending: Pending) -> str:
    """Where a sign-in that passed its second factor continues."""
    return pending.next_url or next_url(request) or resolve_url(settings.LOGIN_REDIRECT_URL)


# --- overview and enrolment ---


def overview_context(request, **forms) -> dict:
    user = request.user
    return {
        "totp": totp.confirmed_totp(user),
        "credentials": WebAuthnCredential.objects.filter(user=user).order_by("created"),
        "recovery_left": recovery.unused_recovery_codes(user),
        "has_mfa": common.has_mfa(user),
        "remove_form": forms.get("remove_form") or CurrentPasswordForm(user, prefix="remove"),
        "key_form": WebAuthnNameForm(user, prefix="key"),
        "failed_credential": forms.get("failed_credential"),
    }


@method_decorator(_no_store, name="dispatch")
class OverviewView(LoginRequiredMixin, View):
    template_name = "accounts/mfa/overview.html"

    def get(self, request):
        return render(request, self.template_name, overview_context(request))


@method_decorator(_no_store, name="dispatch")
class TOTPSetupView(LoginRequiredMixin, View):
    """Show a new secret (QR code and text); store it once a first code confirms it."""

    template_name = "accounts/mfa/totp_setup.html"

    def get(self, request):
        if totp.confirmed_totp(request.user):
            messages.info(request, _("An authenticator app is already set up."))
            return redirect("accounts:mfa")
        return self.render_form(request, TOTPSetupForm(request.user))

    def post(self, request):
        target = next_url(request)
        form = TOTPSetupForm(request.user, data=request.POST, request=request)
        secret = totp.pending_setup_secret(request.session)
        if form.is_valid() and secret:
            if totp.confirm_totp_setup(request, secret, form.cleaned_data["code"]):
                messages.success(request, _("Your authenticator app is set up."))
                return HttpResponseRedirect(recovery.after_first_factor(request, target))
            form.add_error(
                "code",
                _(
                    "That code does not match. Check the app's clock and enter the code "
                    "it shows now."
                ),
            )
        return self.render_form(request, form, status=200)

    def render_form(self, request, form, status=200):
        secret = totp.setup_secret(request.session)
        form.mark_invalid_fields()
        uri = totp.provisioning_uri(request.user, secret)
        context = {
            "form": form,
            "qr_svg": totp.qr_svg(uri),
            "secret_groups": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
            "next_url": next_url(request) or "",
        }
        return render(request, self.template_name, context, status=status)


@method_decorator(_no_store, name="dispatch")
class TOTPRemoveView(LoginRequiredMixin, View):
    def post(self, request):
        form = CurrentPasswordForm(
            request.user, data=request.POST, prefix="remove", request=request
        )
        if not form.is_valid():
            form.mark_invalid_fields()
            context = overview_context(request, remove_form=form)
            return render(request, "accounts/mfa/overview.html", context, status=400)
        if totp.remove_totp(request.user, request=request):
            messages.success(request, _("The authenticator app was removed."))
        return redirect("accounts:mfa")


@method_decorator(_no_store, name="dispatch")
class RecoveryCodesView(LoginRequiredMixin, View):
    """Show new codes once; regenerate them (replacing all) after the current password."""

    template_name = "accounts/mfa/recovery_codes.html"

    def get(self, request):
        return self.render_page(request, RecoveryCodesForm(request.user))

    def post(self, request):
        form = RecoveryCodesForm(request.user, data=request.POST, request=request)
        if not common.has_mfa(request.user):
            form.add_error(
                None, _("Set up an authenticator app or a security key before recovery codes.")
            )
        if not form.is_valid():
            form.mark_invalid_fields()
            return self.render_page(request, form, status=400)
        recovery.regenerate_recovery_codes(request)
        return HttpResponseRedirect(with_next(reverse("accounts:mfa-recovery-codes"), None))

    def render_page(self, request, form, status=200):
        context = {
            "codes": recovery.take_new_recovery_codes(request.session),
            "remaining": recovery.unused_recovery_codes(request.user),
            "has_mfa": common.has_mfa(request.user),
            "form": form,
            "next_url": next_url(request) or "",
        }
        return render(request, self.template_name, context, status=status)


@method_decorator(never_cache, name="dispatch")
class WebAuthnRegisterOptionsView(LoginRequiredMixin, View):
    raise_exception = True

    def post(self, request):
        try:
            body = json_body(request)
        except MFAError as exc:
            return json_error(exc)
        data = {k: v for k, v in body.items() if isinstance(v, str)}
        form = WebAuthnNameForm(request.user, data=data, request=request)
        if not form.is_valid():
            errors = {name: [str(e) for e in errs] for name, errs in form.errors.items()}
            throttled = any(
                e.code == ThrottledError.code for e in form.errors.as_data().get("password", [])
            )
            return JsonResponse(
                {
                    "error": "invalid_form",
                    "detail": " ".join(sum(errors.values(), [])),
                    "fields": errors,
                },
                status=ThrottledError.status if throttled else 400,
            )
        options = webauthn.registration_options(
            request.session, request.user, name=form.cleaned_data["name"]
        )
        return JsonResponse(json.loads(options))


@method_decorator(never_cache, name="dispatch")
class WebAuthnRegisterVerifyView(LoginRequiredMixin, View):
    raise_exception = True

    def post(self, request):
        try:
            webauthn.enrol_security_key(request, request.body)
        except MFAError as exc:
            return json_error(exc)
        target = next_url(request)
        messages.success(request, _("Your security key was added."))
        return JsonResponse({"redirect": recovery.after_first_factor(request, target)})


@method_decorator(_no_store, name="dispatch")
class WebAuthnRemoveView(LoginRequiredMixin, View):
    def post(self, request, pk: int):
        credential = get_object_or_404(WebAuthnCredential, pk=pk, user=request.user)
        form = CurrentPasswordForm(
            request.user, data=request.POST, prefix=f"key{pk}", request=request
        )
        if not form.is_valid():
            form.mark_invalid_fields()
            context = overview_context(request, failed_credential=(pk, form))
            return render(request, "accounts/mfa/overview.html", context, status=400)
        webauthn.remove_credential(request.user, credential, request=request)
        messages.success(request, _("The security key was removed."))
        return redirect("accounts:mfa")


# --- the sign-in step --------------------------------------------------------------------------


@method_decorator(_no_store, name="dispatch")
class VerifyView(View):
    """The second step of sign-in: a code from the app, a security key, or a recovery code."""

    template_name = "accounts/mfa/verify.html"
    steps = {"totp": totp.sign_in_with_totp, "recovery": recovery.sign_in_with_recovery_code}

    def get(self, request):
        pending = signing_in(request)
        if pending is None:
            return self.expired(request)
        return self.render_page(request, pending)

    def post(self, request):
        pending = signing_in(request)
        if pending is None:
            return self.expired(request)
        form = VerifyCodeForm(data=request.POST)
        if not form.is_valid():
            return self.render_page(
                request, pending, error=_("Enter the code, then choose Verify."), status=400
            )
        method = form.cleaned_data["method"]
        try:
            self.steps[method](request, pending, form.cleaned_data["code"])
        except MFAError as exc:
            return self.render_page(request, pending, error=exc.message, method=method, status=400)
        except ThrottledError as exc:
            return self.render_page(
                request, pending, error=exc.message, method=method, status=exc.status
            )
        if method == "recovery":
            messages.warning(
                request,
                _("You used a recovery code; %(left)s left. Generate new ones if you run low.")
                % {"left": recovery.unused_recovery_codes(pending.user)},
            )
        return HttpResponseRedirect(signed_in_target(request, pending))

    def expired(self, request):
        messages.error(request, _("Your sign-in took too long. Sign in again."))
        return HttpResponseRedirect(with_next(reverse("accounts:login"), next_url(request)))

    def render_page(self, request, pending, *, error="", method="", status=200):
        user = pending.user
        context = {
            "has_totp": totp.confirmed_totp(user) is not None,
            "has_keys": WebAuthnCredential.objects.filter(user=user).exists(),
            "has_recovery": recovery.unused_recovery_codes(user) > 0,
            "error": error,
            "method": method,
            "next_url": pending.next_url or next_url(request) or "",
        }
        return render(request, self.template_name, context, status=status)


@method_decorator(never_cache, name="dispatch")
class VerifyWebAuthnOptionsView(View):
    def post(self, request):
        pending = signing_in(request)
        if pending is None:
            return json_error(SignInExpiredError(_("Your sign-in took too long. Sign in again.")))
        options = webauthn.authentication_options(request.session, pending.user)
        return JsonResponse(json.loads(options))


@method_decorator(never_cache, name="dispatch")
class VerifyWebAuthnView(View):
    def post(self, request):
        pending = signing_in(request)
        if pending is None:
            return json_error(SignInExpiredError(_("Your sign-in took too long. Sign in again.")))
        try:
            webauthn.sign_in_with_security_key(request, pending, request.body)
        except AuthsiteError as exc:
            return json_error(exc)
        return JsonResponse({"redirect": signed_in_target(request, pending)})


@method_decorator(never_cache, name="dispatch")
class PasskeyOptionsView(View):
    """Options for a passwordless sign-in: any passkey of this site, user verification required."""

    def post(self, request):
        return JsonResponse(json.loads(webauthn.authentication_options(request.session)))


@method_decorator(never_cache, name="dispatch")
class PasskeyVerifyView(View):
    def post(self, request):
        try:
            webauthn.sign_in_with_passkey(request, request.body)
        except AuthsiteError as exc:
            return json_error(exc)
        # The body is a JSON object: the sign-in above parsed it.
        target = json.loads(request.body).get("next")
        target = next_url(request, target if isinstance(target, str) else "")
        return JsonResponse({"redirect": target or resolve_url(settings.LOGIN_REDIRECT_URL)})


urlpatterns = [
    path("mfa/", OverviewView.as_view(), name="mfa"),
    path("mfa/totp/setup/", TOTPSetupView.as_view(), name="mfa-setup"),
    path("mfa/totp/remove/", TOTPRemoveView.as_view(), name="mfa-totp-remove"),
    path("mfa/recovery-codes/", RecoveryCodesView.as_view(), name="mfa-recovery-codes"),
    path(
        "mfa/webauthn/register/options/",
        WebAuthnRegisterOptionsView.as_view(),
        name="mfa-webauthn-register-options",
    ),
    path(
        "mfa/webauthn/register/verify/",
        WebAuthnRegisterVerifyView.as_view(),
        name="mfa-webauthn-register-verify",
    ),
    path("mfa/webauthn/<int:pk>/remove/", WebAuthnRemoveView.as_view(), name="mfa-webauthn-remove"),
    path("mfa/verify/", VerifyView.as_view(), name="mfa-verify"),
    path(
        "mfa/verify/webauthn/options/",
        VerifyWebAuthnOptionsView.as_view(),
        name="mfa-verify-webauthn-options",
    ),
    path("mfa/verify/webauthn/", VerifyWebAuthnView.as_view(), name="mfa-verify-webauthn"),
    path("mfa/passkey/options/", PasskeyOptionsView.as_view(), name="mfa-passkey-options"),
    path("mfa/passkey/verify/", PasskeyVerifyView.as_view(), name="mfa-passkey-verify"),
]
