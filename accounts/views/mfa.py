"""Multi-factor pages: enrolment, removal, recovery codes, and the sign-in step.

The JSON endpoints (WebAuthn) take a JSON body and the CSRF token in the
``X-CSRFToken`` header; errors are ``{"error": code, "detail": message}``
with status 400 (429 when throttled), never a 500.
"""

from __future__ import annotations

import json
import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render, resolve_url
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters

from accounts import mfa, sessions
from accounts.forms_mfa import CurrentPasswordForm, TOTPSetupForm, VerifyCodeForm, WebAuthnNameForm
from accounts.http import next_url, with_next
from accounts.models import WebAuthnCredential
from common.net import client_ip

_no_store = [never_cache, sensitive_post_parameters("password", "code")]


def json_error(exc: mfa.MFAError) -> JsonResponse:
    status = 429 if exc.code == "throttled" else 400
    response = JsonResponse({"error": exc.code, "detail": exc.message}, status=status)
    if exc.retry_after:
        response["Retry-After"] = str(exc.retry_after)
    return response


def json_body(request) -> dict:
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise mfa.MFAError(_("The request was not valid JSON."), code="bad_request") from None
    if not isinstance(body, dict):
        raise mfa.MFAError(_("The request was not a JSON object."), code="bad_request")
    return body


def keep_new_recovery_codes(request, codes: list[str]) -> None:
    """Hand freshly generated codes to the next page view, encrypted, for one showing."""
    request.session[mfa.NEW_RECOVERY_CODES_KEY] = {
        "codes": mfa.encrypt(" ".join(codes)),
        "at": int(time.time()),
    }


def after_first_factor(request, target: str | None) -> str:
    """Where to go after enrolling: the recovery codes first, when the user has none."""
    if mfa.unused_recovery_codes(request.user) == 0:
        keep_new_recovery_codes(request, mfa.generate_recovery_codes(request.user, request=request))
        return with_next(reverse("accounts:mfa-recovery-codes"), target)
    return target or reverse("accounts:mfa")


# --- overview and enrolment ---


def overview_context(request, **forms) -> dict:
    user = request.user
    return {
        "totp": mfa.confirmed_totp(user),
        "credentials": WebAuthnCredential.objects.filter(user=user).order_by("created"),
        "recovery_left": mfa.unused_recovery_codes(user),
        "has_mfa": mfa.has_mfa(user),
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
        if mfa.confirmed_totp(request.user):
            messages.info(request, _("An authenticator app is already set up."))
            return redirect("accounts:mfa")
        return self.render_form(request, TOTPSetupForm(request.user))

    def post(self, request):
        target = next_url(request)
        form = TOTPSetupForm(request.user, data=request.POST)
        secret = self.pending_secret(request)
        if form.is_valid() and secret:
            if mfa.confirm_totp(request.user, secret, form.cleaned_data["code"], request=request):
                request.session.pop(mfa.TOTP_SETUP_KEY, None)
                mfa.note_second_factor(request.session, ["otp"])
                messages.success(request, _("Your authenticator app is set up."))
                return HttpResponseRedirect(after_first_factor(request, target))
            form.add_error(
                "code",
                _(
                    "That code does not match. Check the app's clock and enter the code "
                    "it shows now."
                ),
            )
        return self.render_form(request, form, status=200)

    def pending_secret(self, request) -> str | None:
        stored = request.session.get(mfa.TOTP_SETUP_KEY)
        if isinstance(stored, dict) and time.time() - stored.get("at", 0) < 3600:
            return mfa.decrypt(stored.get("secret", ""))
        return None

    def render_form(self, request, form, status=200):
        secret = self.pending_secret(request)
        if secret is None:
            # Kept encrypted in the session until confirmed; a reload shows the same one.
            secret = mfa.new_totp_secret()
            request.session[mfa.TOTP_SETUP_KEY] = {
                "secret": mfa.encrypt(secret),
                "at": int(time.time()),
            }
        form.mark_invalid_fields()
        uri = mfa.provisioning_uri(request.user, secret)
        context = {
            "form": form,
            "qr_svg": mfa.qr_svg(uri),
            "secret_groups": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
            "next_url": next_url(request) or "",
        }
        return render(request, self.template_name, context, status=status)


@method_decorator(_no_store, name="dispatch")
class TOTPRemoveView(LoginRequiredMixin, View):
    def post(self, request):
        form = CurrentPasswordForm(request.user, data=request.POST, prefix="remove")
        if not form.is_valid():
            form.mark_invalid_fields()
            context = overview_context(request, remove_form=form)
            return render(request, "accounts/mfa/overview.html", context, status=400)
        if mfa.remove_totp(request.user, request=request):
            messages.success(request, _("The authenticator app was removed."))
        return redirect("accounts:mfa")


@method_decorator(_no_store, name="dispatch")
class RecoveryCodesView(LoginRequiredMixin, View):
    """Show new codes once; regenerate them (replacing all) after the current password."""

    template_name = "accounts/mfa/recovery_codes.html"

    def get(self, request):
        return self.render_page(request, CurrentPasswordForm(request.user))

    def post(self, request):
        form = CurrentPasswordForm(request.user, data=request.POST)
        if not mfa.has_mfa(request.user):
            form.add_error(
                None, _("Set up an authenticator app or a security key before recovery codes.")
            )
        if not form.is_valid():
            form.mark_invalid_fields()
            return self.render_page(request, form, status=400)
        keep_new_recovery_codes(request, mfa.generate_recovery_codes(request.user, request=request))
        return HttpResponseRedirect(with_next(reverse("accounts:mfa-recovery-codes"), None))

    def render_page(self, request, form, status=200):
        codes = []
        stored = request.session.pop(mfa.NEW_RECOVERY_CODES_KEY, None)
        if isinstance(stored, dict) and time.time() - stored.get("at", 0) < 600:
            codes = (mfa.decrypt(stored.get("codes", "")) or "").split()
        context = {
            "codes": codes,
            "remaining": mfa.unused_recovery_codes(request.user),
            "has_mfa": mfa.has_mfa(request.user),
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
        except mfa.MFAError as exc:
            return json_error(exc)
        data = {k: v for k, v in body.items() if isinstance(v, str)}
        form = WebAuthnNameForm(request.user, data=data)
        if not form.is_valid():
            errors = {name: [str(e) for e in errs] for name, errs in form.errors.items()}
            throttled = any(
                e.code == "throttled" for e in form.errors.as_data().get("password", [])
            )
            return JsonResponse(
                {
                    "error": "invalid_form",
                    "detail": " ".join(sum(errors.values(), [])),
                    "fields": errors,
                },
                status=429 if throttled else 400,
            )
        options = mfa.registration_options(
            request.session, request.user, name=form.cleaned_data["name"]
        )
        return JsonResponse(json.loads(options))


@method_decorator(never_cache, name="dispatch")
class WebAuthnRegisterVerifyView(LoginRequiredMixin, View):
    raise_exception = True

    def post(self, request):
        try:
            body = json_body(request)
            mfa.register_credential(request.session, request.user, body, request=request)
        except mfa.MFAError as exc:
            return json_error(exc)
        mfa.note_second_factor(request.session, ["hwk"])
        target = next_url(request)
        messages.success(request, _("Your security key was added."))
        return JsonResponse({"redirect": after_first_factor(request, target)})


@method_decorator(_no_store, name="dispatch")
class WebAuthnRemoveView(LoginRequiredMixin, View):
    def post(self, request, pk: int):
        credential = get_object_or_404(WebAuthnCredential, pk=pk, user=request.user)
        form = CurrentPasswordForm(request.user, data=request.POST, prefix=f"key{pk}")
        if not form.is_valid():
            form.mark_invalid_fields()
            context = overview_context(request, failed_credential=(pk, form))
            return render(request, "accounts/mfa/overview.html", context, status=400)
        mfa.remove_credential(request.user, credential, request=request)
        messages.success(request, _("The security key was removed."))
        return redirect("accounts:mfa")


# --- the sign-in step --------------------------------------------------------------------------


def signing_in(request) -> mfa.Pending | None:
    """The pending sign-in, or the signed-in user asked to prove a second factor (step-up)."""
    pending = mfa.pending_sign_in(request.session)
    if pending is None and request.user.is_authenticated and mfa.has_mfa(request.user):
        return mfa.Pending(user=request.user, next_url=next_url(request) or "", backend="")
    return pending


def finish_sign_in(request, pending: mfa.Pending, *, methods: list[str], method: str) -> str:
    """Sign in now that the second factor passed; return where to go."""
    user = pending.user
    mfa.end_pending_sign_in(request.session)
    mfa.forget_attempts(user)
    mfa.record_used(user, method, request)
    request.authsite_amr = methods  # read by accounts.receivers on user_logged_in
    backend = pending.backend or settings.AUTHENTICATION_BACKENDS[0]
    remember = bool(request.session.get(sessions.REMEMBER_KEY))
    login(request, user, backend=backend)  # rotates the session key
    sessions.apply_remember_choice(request.session, remember)
    return pending.next_url or next_url(request) or resolve_url(settings.LOGIN_REDIRECT_URL)


@method_decorator(_no_store, name="dispatch")
class VerifyView(View):
    """The second step of sign-in: a code from the app, a security key, or a recovery code."""

    template_name = "accounts/mfa/verify.html"

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
        code = form.cleaned_data["code"]
        try:
            mfa.check_attempt(pending.user, client_ip(request) or "")
        except mfa.MFAError as exc:
            mfa.record_failed(pending.user, method, request, reason="throttled")
            return self.render_page(request, pending, error=exc.message, method=method, status=429)
        if method == "totp" and mfa.use_totp(pending.user, code):
            return HttpResponseRedirect(
                finish_sign_in(request, pending, methods=mfa.AMR_TOTP, method="totp")
            )
        if method == "recovery" and mfa.use_recovery_code(pending.user, code):
            target = finish_sign_in(
                request, pending, methods=mfa.AMR_RECOVERY_CODE, method="recovery_code"
            )
            left = mfa.unused_recovery_codes(pending.user)
            messages.warning(
                request,
                _("You used a recovery code; %(left)s left. Generate new ones if you run low.")
                % {"left": left},
            )
            return HttpResponseRedirect(target)
        mfa.record_failed(pending.user, method, request)
        error = (
            _("That code is not valid or was already used. Enter the code the app shows now.")
            if method == "totp"
            else _("That recovery code is not valid or was already used. Check it and retry.")
        )
        return self.render_page(request, pending, error=error, method=method, status=400)

    def expired(self, request):
        messages.error(request, _("Your sign-in took too long. Sign in again."))
        return HttpResponseRedirect(with_next(reverse("accounts:login"), next_url(request)))

    def render_page(self, request, pending, *, error="", method="", status=200):
        user = pending.user
        context = {
            "has_totp": mfa.confirmed_totp(user) is not None,
            "has_keys": WebAuthnCredential.objects.filter(user=user).exists(),
            "has_recovery": mfa.unused_recovery_codes(user) > 0,
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
            return json_error(
                mfa.MFAError(_("Your sign-in took too long. Sign in again."), code="expired")
            )
        return JsonResponse(json.loads(mfa.authentication_options(request.session, pending.user)))


@method_decorator(never_cache, name="dispatch")
class VerifyWebAuthnView(View):
    def post(self, request):
        pending = signing_in(request)
        if pending is None:
            return json_error(
                mfa.MFAError(_("Your sign-in took too long. Sign in again."), code="expired")
            )
        try:
            body = json_body(request)
            mfa.check_attempt(pending.user, client_ip(request) or "")
            mfa.authenticate_credential(request.session, body, pending.user)
        except mfa.MFAError as exc:
            mfa.record_failed(pending.user, "webauthn", request, reason=exc.code)
            return json_error(exc)
        target = finish_sign_in(request, pending, methods=mfa.AMR_SECURITY_KEY, method="webauthn")
        return JsonResponse({"redirect": target})


@method_decorator(never_cache, name="dispatch")
class PasskeyOptionsView(View):
    """Options for a passwordless sign-in: any passkey of this site, user verification required."""

    def post(self, request):
        return JsonResponse(json.loads(mfa.authentication_options(request.session)))


@method_decorator(never_cache, name="dispatch")
class PasskeyVerifyView(View):
    def post(self, request):
        try:
            body = json_body(request)
            mfa.check_address(client_ip(request) or "")
            credential = mfa.authenticate_credential(request.session, body)
        except mfa.MFAError as exc:
            mfa.record_passkey_failed(request, reason=exc.code)
            return json_error(exc)
        user = credential.user
        mfa.record_used(user, "passkey", request)
        request.authsite_amr = mfa.AMR_PASSKEY
        login(request, user, backend=settings.AUTHENTICATION_BACKENDS[0])
        target = body.get("next") if isinstance(body.get("next"), str) else None
        target = next_url(request, target or "")
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
