"""Hosted account pages: each area's views module declares its URLs; they are mounted here."""

from __future__ import annotations

from accounts.views import account, mfa, passwords, registration, signin

app_name = "accounts"
urlpatterns = [
    *signin.urlpatterns,
    *registration.urlpatterns,
    *passwords.urlpatterns,
    *mfa.urlpatterns,
    *account.urlpatterns,
]
