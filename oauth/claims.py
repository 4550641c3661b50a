"""What goes into ID tokens, userinfo and access tokens: pure functions of their inputs."""

from __future__ import annotations

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
SCOPES = {
    "openid": "Sign you in (your account identifier)",
    "profile": "Your name and username",
    "email": "Your e-mail address",
    "roles": "Your roles",
}

# RFC 8176 methods that count as a second factor.
MULTI_FACTOR_METHODS = frozenset({"otp", "hwk", "swk", "mfa", "sms", "fido"})


def subject(user) -> str:
    """The OIDC ``sub`` of a user: the stable public UUID, never the row id."""
    return str(user.uuid)


def for_user(user) -> dict:
    """Standard claims of ``user``; the validator filters them by granted scope."""
    return {
        "name": user.get_full_name() or str(user),
        "given_name": user.first_name,
        "family_name": user.last_name,
        "preferred_username": user.username or user.email,
        "email": user.email,
        "email_verified": bool(user.email_verified),
        "roles": roles(user),
    }


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
