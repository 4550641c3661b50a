from __future__ import annotations

from authsite.conf import authsite_settings


def branding(request):
    """Expose the site name to every template."""
    return {"site_name": authsite_settings.SITE_NAME}
