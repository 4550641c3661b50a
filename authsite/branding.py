"""The site's look: the generated accent stylesheet and the expired-form (CSRF failure) page.

The accent colour is a setting, but the CSP forbids inline styles on our
pages, so it is served as a tiny stylesheet (``/branding.css``) linked from
``templates/base.html``; its URL carries a version so it can be cached long.
Nothing here touches the database: error pages must render when it is down.
"""

from __future__ import annotations

import hashlib

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from common.conf import authsite_settings

STYLESHEET_MAX_AGE_SECONDS = 24 * 3600


def _relative_luminance(color: str) -> float:
    """WCAG 2.x relative luminance of ``#rrggbb``."""
    channels = []
    for i in (1, 3, 5):
        c = int(color[i : i + 2], 16) / 255
        channels.append(c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4)
    red, green, blue = channels
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def text_color_on(color: str) -> str:
    """White or black, whichever contrasts more with ``color`` (button labels stay legible)."""
    luminance = _relative_luminance(color)
    on_white = 1.05 / (luminance + 0.05)
    on_black = (luminance + 0.05) / 0.05
    return "#ffffff" if on_white >= on_black else "#000000"


def stylesheet_text() -> str:
    accent = authsite_settings.ACCENT_COLOR  # validated #rrggbb, never raw input
    return f":root {{ --accent: {accent}; --on-accent: {text_color_on(accent)}; }}\n"


def stylesheet_version() -> str:
    """Changes whenever the generated stylesheet does; base.html puts it in the URL."""
    return hashlib.sha256(stylesheet_text().encode()).hexdigest()[:12]


@require_safe
def stylesheet(request):
    """``/branding.css``: the accent colour as CSS custom properties, cacheable."""
    body = stylesheet_text()
    response = HttpResponse(body, content_type="text/css; charset=utf-8")
    response["Cache-Control"] = f"public, max-age={STYLESHEET_MAX_AGE_SECONDS}"
    response["ETag"] = f'"{stylesheet_version()}"'
    return response


@never_cache
def csrf_failure(request, reason: str = "", template_name: str = "403_csrf.html"):
    """``CSRF_FAILURE_VIEW``: explain that the form expired; the technical reason is
    only logged (by Django's ``django.security.csrf`` logger), never shown."""
    return render(request, template_name, status=403)
