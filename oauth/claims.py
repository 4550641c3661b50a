"""What goes into ID tokens, userinfo and access tokens: pure functions of their inputs.

Which claims a client gets, and where (OIDC Core §5.4, §5.5):

- A scope releases its claims (``CLAIM_SCOPES``); the user consented to the
  scopes, so nothing outside the granted scopes is ever released.
- Released claims go to userinfo. The code flow always issues an access
  token, so the ID token carries only the protocol claims (``sub``,
  ``auth_time``, ``amr``…) plus the released claims the client names in the
  ``id_token`` member of the ``claims`` parameter.
- The ``claims`` parameter relocates, it never widens: a claim requested
  (even ``essential``) whose scope was not granted is left out, which
  §5.5.1 allows ("not an error condition"). A ``sub`` requested with a
  ``value`` must be the signed-in user's (§5.5.1.1), checked by the validator.
- A claim with no value (an empty name, no e-mail) is left out, never sent
  as ``""`` or ``null`` (§5.3.2).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from oauth2_provider.scopes import BaseScopes
from oauth2_provider.settings import oauth2_settings

from django.core.exceptions import ImproperlyConfigured

from oauth.exceptions import ClaimsRequestError

# Claims userinfo and ID tokens may carry, by the scope that releases them.
STANDARD_CLAIMS = (
    "name",
    "given_name",
    "family_name",
    "preferred_username",
    "email",
    "email_verified",
    "roles",
)
# The scope that releases each claim (DOT's table for the standard ones, plus roles).
CLAIM_SCOPES = {
    "name": "profile",
    "given_name": "profile",
    "family_name": "profile",
    "preferred_username": "profile",
    "email": "email",
    "email_verified": "email",
    "roles": "roles",
}
# Every scope the server offers, with the description the consent page shows.
SCOPES = {
    "openid": "Sign you in (your account identifier)",
    "profile": "Your name and username",
    "email": "Your e-mail address",
    "roles": "Your roles",
}

# RFC 8176 methods that count as a second factor.
MULTI_FACTOR_METHODS = frozenset({"otp", "hwk", "swk", "mfa", "sms", "fido"})


class Scopes(BaseScopes):
    """DOT's scopes backend (``SCOPES_BACKEND_CLASS``): the scopes are :data:`SCOPES`.

    ``DEFAULT_SCOPES`` stays a DOT setting and is read as DOT's own
    ``SettingsScopes`` reads it: ``__all__`` means every scope, and a default
    the server does not offer is a configuration error.
    """

    def get_all_scopes(self) -> dict[str, str]:
        return dict(SCOPES)

    def get_available_scopes(self, application=None, request=None, *args, **kwargs) -> list[str]:
        return list(SCOPES)

    def get_default_scopes(self, application=None, request=None, *args, **kwargs) -> list[str]:
        defaults = oauth2_settings.DEFAULT_SCOPES
        if "__all__" in defaults:
            return list(SCOPES)
        unknown = [scope for scope in defaults if scope not in SCOPES]
        if unknown:
            raise ImproperlyConfigured("Defined DEFAULT_SCOPES not present in SCOPES")
        return list(defaults)


def subject(user) -> str:
    """The OIDC ``sub`` of a user: the stable public UUID, never the row id."""
    return str(user.uuid)


@dataclass(frozen=True)
class Person:
    """The user's fields that claims are made of, as plain values.

    Built from a ``User`` (:func:`person`) on Django's path and from one row on
    the fast path (oauth/fastpath/userinfo.py), so both release claims through
    the same rules (:func:`release`). ``roles`` is None when they were not read
    (the ``roles`` scope not granted).
    """

    public_id: str
    username: str | None
    email: str
    email_verified: bool
    first_name: str
    last_name: str
    roles: tuple[str, ...] | None = None


def person(user, scopes) -> Person:
    """The :class:`Person` of ``user``; its roles are read only when ``scopes`` grant them."""
    return Person(
        public_id=subject(user),
        username=user.username,
        email=user.email,
        email_verified=bool(user.email_verified),
        first_name=user.first_name,
        last_name=user.last_name,
        roles=tuple(roles(user)) if "roles" in set(scopes or ()) else None,
    )


def released(user, scopes) -> dict:
    """The claims of ``user`` that ``scopes`` release (see :func:`release`)."""
    return release(person(user, scopes), scopes)


def release(who: Person, scopes) -> dict:
    """The claims of ``who`` that ``scopes`` release, leaving out those with no value.

    ``name`` falls back to the username, then the e-mail (what ``User.__str__``
    shows). ``email_verified`` goes only with an ``email`` (it says something
    about it). An empty ``roles`` list is a value (the user has no roles) and
    is kept; roles are sorted, whoever read them.
    """
    granted = set(scopes or ())
    if not granted.intersection(CLAIM_SCOPES.values()):
        return {}
    full_name = f"{who.first_name} {who.last_name}".strip()
    values = {
        "name": full_name or who.username or who.email,
        "given_name": who.first_name,
        "family_name": who.last_name,
        "preferred_username": who.username or who.email,
        "email": who.email,
        "email_verified": bool(who.email_verified),
    }
    if "roles" in granted:
        assert who.roles is not None, "roles scope granted: build the Person with its roles"
        values["roles"] = sorted(who.roles)
    if not values["email"]:
        values["email_verified"] = None
    return {
        name: value
        for name, value in values.items()
        if CLAIM_SCOPES[name] in granted and value is not None and value != ""
    }


def userinfo(who: Person, scopes) -> dict:
    """The userinfo answer (OIDC Core §5.3.2): ``sub`` and every claim ``scopes`` release."""
    return {"sub": who.public_id, **release(who, scopes)}


def for_id_token(released_claims: dict, claims_request) -> dict:
    """The released claims the ``claims`` parameter asks for in the ID token (§5.5)."""
    wanted = requested(claims_request, "id_token")
    return {name: value for name, value in released_claims.items() if name in wanted}


def requested(claims_request, member: str) -> dict:
    """The claim requests of ``member`` (``id_token`` or ``userinfo``) in a parsed request.

    Tolerates anything (an old grant, a hand-edited form): what is not a JSON
    object asks for nothing.
    """
    if not isinstance(claims_request, dict):
        return {}
    entries = claims_request.get(member)
    return entries if isinstance(entries, dict) else {}


def requested_subject(claims_request) -> str | None:
    """The ``sub`` value an ID token is requested for, if any (OIDC Core §5.5.1.1)."""
    entry = requested(claims_request, "id_token").get("sub")
    if isinstance(entry, dict) and isinstance(entry.get("value"), str):
        return entry["value"]
    return None


def _reject_constant(name):
    raise ClaimsRequestError(f"The claims parameter is not JSON ({name} is not a JSON number).")


def parse_claims_request(raw: str) -> dict:
    """Parse the ``claims`` authorization parameter (OIDC Core §5.5) or raise
    ``ClaimsRequestError``.

    A JSON object whose ``userinfo`` and ``id_token`` members, when present,
    are objects mapping claim names to ``null`` or to an object where
    ``essential`` is a boolean, ``value`` a string, number or boolean and
    ``values`` an array of them. Other top-level and per-claim members are
    ignored, as §5.5 asks. Deep nesting is refused, not a recursion error.
    """
    try:
        document = json.loads(raw, parse_constant=_reject_constant)
    except ClaimsRequestError:
        raise
    except (ValueError, RecursionError):
        raise ClaimsRequestError("The claims parameter is not valid JSON.") from None
    if not isinstance(document, dict):
        raise ClaimsRequestError("The claims parameter must be a JSON object.")
    for member in ("userinfo", "id_token"):
        if member not in document:
            continue
        entries = document[member]
        if not isinstance(entries, dict):
            raise ClaimsRequestError(f"The {member} member of claims must be a JSON object.")
        for name, entry in entries.items():
            name = name[:40]  # named in the error description, which is not an echo chamber
            if entry is None:
                continue
            if not isinstance(entry, dict):
                raise ClaimsRequestError(
                    f"The request for claim {name} must be null or a JSON object."
                )
            _check_claim_request(name, entry)
    return document


def _is_scalar(value) -> bool:
    if isinstance(value, float) and not math.isfinite(value):
        return False
    return isinstance(value, str | int | float | bool)


def _check_claim_request(name: str, entry: dict) -> None:
    if "essential" in entry and not isinstance(entry["essential"], bool):
        raise ClaimsRequestError(f"essential of claim {name} must be true or false.")
    if "value" in entry and not _is_scalar(entry["value"]):
        raise ClaimsRequestError(f"value of claim {name} must be a string, number or boolean.")
    if "values" in entry and not (
        isinstance(entry["values"], list) and all(_is_scalar(v) for v in entry["values"])
    ):
        raise ClaimsRequestError(f"values of claim {name} must be an array of such values.")
    if "value" in entry and "values" in entry:
        raise ClaimsRequestError(f"Claim {name} has both value and values.")


def roles(user) -> list[str]:
    """Role names for the ``roles`` scope (the RBAC feature refines this)."""
    return sorted(user.groups.values_list("name", flat=True))


def authentication_context(methods: list[str]) -> dict:
    """``amr`` and ``acr`` for the methods used at sign-in.

    ``acr`` is ``"2"`` when a second factor was used, else ``"1"`` (documented
    in the README), so a relying party can require MFA by checking it.
    """
    amr = sorted(set(methods)) or ["pwd"]
    multi = bool(MULTI_FACTOR_METHODS.intersection(amr)) and len(amr) > 1
    if multi and "mfa" not in amr:
        amr.append("mfa")
    return {"amr": amr, "acr": "2" if multi else "1"}
