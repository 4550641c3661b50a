"""The user's own view of the clients they allowed, under the account page's path."""

from __future__ import annotations

from django.urls import path

from oauth import account_views

app_name = "oauth-account"
urlpatterns = [
    path("accounts/account/applications/", account_views.applications, name="applications"),
    path(
        "accounts/account/applications/<str:client_id>/revoke/",
        account_views.revoke,
        name="revoke",
    ),
]
