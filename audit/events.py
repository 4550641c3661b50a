"""The catalogue of auditable actions: ``area.object.verb`` names, documented here once.

Other apps pass these names to :func:`audit.services.record`. Adding an action
means adding it here, so the admin filter and the README stay complete.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Action(models.TextChoices):
    # Sign-in and sessions (accounts)
    LOGIN_SUCCEEDED = "auth.login.succeeded", _("sign-in succeeded")
    LOGIN_FAILED = "auth.login.failed", _("sign-in failed")
    LOGIN_LOCKED = "auth.login.locked", _("sign-in refused: locked")
    LOGOUT = "auth.logout", _("signed out")
    # Account lifecycle (accounts)
    USER_REGISTERED = "user.registered", _("user registered")
    USER_CREATED = "user.created", _("user created")
    USER_CHANGED = "user.changed", _("user changed")
    USER_DISABLED = "user.disabled", _("user disabled")
    USER_UNLOCKED = "user.unlocked", _("user unlocked")
    EMAIL_VERIFIED = "user.email.verified", _("e-mail verified")
    EMAIL_CHANGE_REQUESTED = "user.email.change_requested", _("e-mail change requested")
    EMAIL_CHANGED = "user.email.changed", _("e-mail changed")
    PASSWORD_CHANGED = "user.password.changed", _("password changed")
    PASSWORD_RESET_REQUESTED = "user.password.reset_requested", _("password reset requested")
    PASSWORD_RESET_COMPLETED = "user.password.reset_completed", _("password reset completed")
    MFA_ENROLLED = "user.mfa.enrolled", _("MFA enrolled")
    MFA_USED = "user.mfa.used", _("MFA used")
    MFA_FAILED = "user.mfa.failed", _("MFA failed")
    MFA_RESET = "user.mfa.reset", _("MFA reset")
    # OAuth (oauth)
    CONSENT_GRANTED = "oauth.consent.granted", _("consent granted")
    CONSENT_REVOKED = "oauth.consent.revoked", _("consent revoked")
    CODE_ISSUED = "oauth.code.issued", _("authorization code issued")
    CODE_REPLAYED = "oauth.code.replayed", _("authorization code replayed")
    TOKEN_ISSUED = "oauth.token.issued", _("token issued")
    TOKEN_REFRESHED = "oauth.token.refreshed", _("token refreshed")
    TOKEN_REVOKED = "oauth.token.revoked", _("token revoked")
    REFRESH_TOKEN_REUSED = "oauth.refresh_token.reused", _("refresh token reuse detected")
    CLIENT_CREATED = "oauth.client.created", _("client created")
    CLIENT_CHANGED = "oauth.client.changed", _("client changed")
    CLIENT_SECRET_ROTATED = "oauth.client.secret_rotated", _("client secret rotated")
    CLIENT_DELETED = "oauth.client.deleted", _("client deleted")
    SIGNING_KEY_ROTATED = "oauth.signing_key.rotated", _("signing key rotated")
    # Roles and permissions (rbac)
    ROLE_CHANGED = "rbac.role.changed", _("role changed")
    PERMISSION_CHANGED = "rbac.permission.changed", _("permission changed")
    ASSIGNMENT_CHANGED = "rbac.assignment.changed", _("role assignment changed")
    # The admin console and the trail itself
    ADMIN_ACTION = "admin.action", _("admin action")
    AUDIT_PRUNED = "audit.pruned", _("audit events pruned")


class Outcome(models.TextChoices):
    SUCCESS = "success", _("success")
    FAILURE = "failure", _("failure")


class ActorType(models.TextChoices):
    USER = "user", _("user")
    CLIENT = "client", _("client")
    SYSTEM = "system", _("system")
    ANONYMOUS = "anonymous", _("anonymous")
