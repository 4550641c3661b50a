"""Server metadata (RFC 8414, OIDC Discovery 1.0): exactly what the server does."""

from __future__ import annotations

from django.urls import reverse

from oauth import claims, keys, tokens
from oauth.models import Application

GRANT_TYPES = ["authorization_code", "refresh_token", "client_credentials"]
CLIENT_AUTH_METHODS = [
    Application.AUTH_CLIENT_SECRET_BASIC,
    Application.AUTH_CLIENT_SECRET_POST,
    Application.AUTH_PRIVATE_KEY_JWT,
    Application.AUTH_NONE,
]
ENDPOINT_AUTH_METHODS = [m for m in CLIENT_AUTH_METHODS if m != Application.AUTH_NONE]


def url(name: str) -> str:
    return tokens.issuer() + reverse(name)


def authorization_server_metadata() -> dict:
    return {
        "issuer": tokens.issuer(),
        "authorization_endpoint": url("oauth:authorize"),
        "token_endpoint": url("oauth:token"),
        "jwks_uri": url("oauth:jwks"),
        "revocation_endpoint": url("oauth:revoke"),
        "introspection_endpoint": url("oauth:introspect"),
        "scopes_supported": list(claims.SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": GRANT_TYPES,
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": CLIENT_AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256", "PS256"],
        "revocation_endpoint_auth_methods_supported": CLIENT_AUTH_METHODS,
        "introspection_endpoint_auth_methods_supported": ENDPOINT_AUTH_METHODS,
        "authorization_response_iss_parameter_supported": True,
    }


def openid_configuration() -> dict:
    return {
        **authorization_server_metadata(),
        "userinfo_endpoint": url("oauth:userinfo"),
        "end_session_endpoint": url("oauth:end-session"),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": list(keys.SUPPORTED_ALGORITHMS),
        "claims_supported": [
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "amr",
            "acr",
            "sid",
            *claims.STANDARD_CLAIMS,
        ],
        "acr_values_supported": ["1", "2"],
        "prompt_values_supported": ["none", "login", "consent"],
        "claims_parameter_supported": True,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
    }
