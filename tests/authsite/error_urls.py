"""authsite's URLs plus views that fail on purpose, for the error-page tests."""

from __future__ import annotations

from django.db import OperationalError
from django.urls import include, path

from authsite.urls import handler400, handler403, handler404, handler500  # noqa: F401


def broken(request):
    raise RuntimeError("a bug")


def database_down(request):
    raise OperationalError("connection refused")


urlpatterns = [
    path("boom", broken),
    path("db-down", database_down),
    path("oauth/token/boom", broken),
    path("oauth/token/db-down", database_down),
    path("", include("authsite.urls")),
]
