"""The admin site: its sign-in asks for the second factor, and staff may be required to have one.

* ``/admin/login/`` stays Django's page, but a user with MFA enrolled is not
  signed in after the password: the same pending step as the hosted sign-in
  page (``accounts:mfa-verify``) comes first (ASVS 6.3.4, every path gets MFA).
* With ``AUTHSITE_STAFF_MFA_REQUIRED`` every admin page needs a session that
  used a second factor (ASVS 6.3.3): staff without MFA are sent to enrolment,
  staff whose session did not use it are asked for it.
"""

from __future__ import annotations

from functools import update_wrapper
from urllib.parse import urlencode

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.views import LoginView
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from accounts.forms import AdminLoginForm
from accounts.services.mfa.common import has_mfa, session_used_second_factor
from accounts.services.mfa.pending import start_pending_sign_in
from accounts.services.sign_in import complete_sign_in
from audit.receivers import audited_admin_class
from common.conf import authsite_settings


class AdminLoginView(LoginView):
    def form_valid(self, form):
        user = form.get_user()
        if has_mfa(user):
            target = self.get_success_url()
            start_pending_sign_in(self.request.session, user, next_url=target)
            query = urlencode({REDIRECT_FIELD_NAME: target})
            return HttpResponseRedirect(f"{reverse('accounts:mfa-verify')}?{query}")
        # Django's LoginView.form_valid, with the sign-in every path ends in.
        complete_sign_in(self.request, user, methods=["pwd"], remember=None)
        return HttpResponseRedirect(self.get_success_url())


class AuthsiteAdminSite(admin.AdminSite):
    # The hosted page's password length limit, so an over-long password is never hashed.
    login_form = AdminLoginForm

    def register(self, model_or_iterable, admin_class=None, **options):
        """Every ModelAdmin, ours and third-party ones (DOT's), audits "delete selected"."""
        admin_class = audited_admin_class(admin_class or admin.ModelAdmin)
        super().register(model_or_iterable, admin_class, **options)

    @method_decorator(never_cache)
    @login_not_required
    def login(self, request, extra_context=None):
        """Django's ``AdminSite.login`` (5.2) with :class:`AdminLoginView`."""
        if request.method == "GET" and self.has_permission(request):
            return HttpResponseRedirect(reverse("admin:index", current_app=self.name))
        context = {
            **self.each_context(request),
            "title": _("Log in"),
            "subtitle": None,
            "app_path": request.get_full_path(),
            "username": request.user.get_username(),
        }
        if REDIRECT_FIELD_NAME not in request.GET and REDIRECT_FIELD_NAME not in request.POST:
            context[REDIRECT_FIELD_NAME] = reverse("admin:index", current_app=self.name)
        context.update(extra_context or {})
        request.current_app = self.name
        return AdminLoginView.as_view(
            extra_context=context,
            authentication_form=self.login_form or AdminAuthenticationForm,
            template_name=self.login_template or "admin/login.html",
        )(request)

    def admin_view(self, view, cacheable=False):
        wrapped = super().admin_view(view, cacheable)

        def inner(request, *args, **kwargs):
            redirect = self.mfa_redirect(request)
            return redirect or wrapped(request, *args, **kwargs)

        return update_wrapper(inner, wrapped)

    def mfa_redirect(self, request):
        """Where staff must go first when MFA is required and this session lacks it."""
        if not authsite_settings.STAFF_MFA_REQUIRED:
            return None
        user = request.user
        if not (user.is_active and user.is_staff):
            return None  # Django's own check sends them to the login page
        if request.path == reverse("admin:logout", current_app=self.name):
            return None
        if session_used_second_factor(request.session):
            return None
        query = urlencode({REDIRECT_FIELD_NAME: request.get_full_path()})
        if has_mfa(user):
            return HttpResponseRedirect(f"{reverse('accounts:mfa-verify')}?{query}")
        return HttpResponseRedirect(f"{reverse('accounts:mfa-setup')}?{query}")
