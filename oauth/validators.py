"""authsite's one customisation point of django-oauth-toolkit's protocol engine."""

from __future__ import annotations

from oauth2_provider.oauth2_validators import OAuth2Validator


class AuthsiteOAuth2Validator(OAuth2Validator):
    oidc_claim_scope = {**OAuth2Validator.oidc_claim_scope, "roles": "roles"}
