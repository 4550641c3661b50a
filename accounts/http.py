"""HTTP helpers every accounts view shares: the safe ``next`` and the 303 redirect."""

from __future__ import annotations

import unicodedata
from urllib.parse import urlencode

from django.http import HttpResponseRedirect
from django.utils.http import url_has_allowed_host_and_scheme


def get_safe_next_url(value: str | None, *, host: str, require_https: bool) -> str | None:
    """Return ``value`` when it is a path on this site, otherwise ``None``.

    ``next`` arrives from anyone, so an unchecked redirect would make the sign-in
    page an open redirector for phishing. Only absolute paths pass: not other
    hosts, not ``//host`` (scheme-relative), not backslashes (browsers read
    ``/\\host`` as ``//host``) and not control or format characters (which some
    browsers strip before parsing).
    """
    if not value or not value.startswith("/") or value.startswith("//"):
        return None
    if "\\" in value or any(unicodedata.category(char)[0] == "C" for char in value):
        return None
    if not url_has_allowed_host_and_scheme(
        value, allowed_hosts={host}, require_https=require_https
    ):
        return None
    return value


def next_url(request, value: str | None = None) -> str | None:
    """The ``next`` to follow when it is safe: ``value`` if given, else the request's
    ``next`` (form field first, then the query string)."""
    if value is None:
        value = request.POST.get("next") or request.GET.get("next")
    return get_safe_next_url(value, host=request.get_host(), require_https=request.is_secure())


def with_next(url: str, target: str | None) -> str:
    """``url`` carrying ``target`` as its ``next`` query parameter, when there is one."""
    return f"{url}?{urlencode({'next': target})}" if target else url


def see_other(url: str) -> HttpResponseRedirect:
    """A 303 after a POST, so reloading the next page never resubmits the form."""
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response
