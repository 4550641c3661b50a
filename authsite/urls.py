from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from django.views.generic import TemplateView

from authsite import branding, errors, health, metrics_view

# Errors: JSON on machine endpoints, the branded page elsewhere (authsite/errors.py).
handler400 = errors.bad_request
handler403 = errors.permission_denied
handler404 = errors.page_not_found
handler500 = errors.server_error

urlpatterns = [
    path("", TemplateView.as_view(template_name="index.html"), name="index"),
    path("health", health.live, name="health"),
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ready, name="health-ready"),
    path("health/detailed", health.detailed, name="health-detailed"),
    path("metrics", metrics_view.metrics, name="metrics"),
    path("branding.css", branding.stylesheet, name="branding-css"),
    path("accounts/", include("accounts.urls")),
    path("", include("oauth.urls")),
    path("", include("oauth.account_urls")),
    path("admin/", admin.site.urls),
]
