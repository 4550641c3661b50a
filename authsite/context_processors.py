from __future__ import annotations

from django.urls import NoReverseMatch, reverse

from authsite.branding import stylesheet_version
from common.conf import authsite_settings


def branding(request):
    """Expose the site's name, logo, support contact and stylesheet to every template.

    Settings only, never the database, so error pages can use it too.
    (Django renders 400.html and 500.html without any context processor; the
    templates fall back to defaults there.)
    """
    try:
        stylesheet_url = reverse("branding-css")
    except NoReverseMatch:  # a test's own URLconf
        stylesheet_url = "/branding.css"
    return {
        "site_name": authsite_settings.SITE_NAME,
        "site_logo_url": authsite_settings.LOGO_URL,
        "support_email": authsite_settings.SUPPORT_EMAIL,
        "branding_css_url": f"{stylesheet_url}?v={stylesheet_version()}",
    }
