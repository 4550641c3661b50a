"""The endpoints authsite offers, and only those (not DOT's URLs wholesale).

No application self-registration, device flow or token-management pages are
mounted; discovery lists exactly what is here.
"""

from __future__ import annotations

from django.urls import path

from oauth import views

app_name = "oauth"
urlpatterns = [
    path("oauth/authorize", views.AuthorizationView.as_view(), name="authorize"),
    path("oauth/token", views.TokenView.as_view(), name="token"),
    path("oauth/revoke", views.revoke, name="revoke"),
    path("oauth/introspect", views.introspect, name="introspect"),
    path("oauth/userinfo", views.UserInfoView.as_view(), name="userinfo"),
    path("oauth/logout", views.EndSessionView.as_view(), name="end-session"),
    path(
        ".well-known/openid-configuration", views.openid_configuration, name="openid-configuration"
    ),
    path(
        ".well-known/oauth-authorization-server",
        views.authorization_server_metadata,
        name="authorization-server-metadata",
    ),
    path(".well-known/jwks.json", views.jwks, name="jwks"),
]
