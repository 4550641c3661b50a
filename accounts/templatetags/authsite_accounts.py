"""Template tags of the account pages."""

from __future__ import annotations

from django import template

from common.conf import authsite_settings

register = template.Library()


@register.simple_tag
def registration_open() -> bool:
    """Whether anyone may create an account (``AUTHSITE_REGISTRATION_MODE=open``), so pages
    offer sign-up only when it would work; invitations bring their own link."""
    return authsite_settings.REGISTRATION_MODE == "open"
