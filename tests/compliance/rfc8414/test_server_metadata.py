"""RFC 8414 and OIDC Discovery §3: the server metadata names the exact issuer, and offers
nothing RFC 9700 forbids."""

from __future__ import annotations

import pytest

from common.conf import authsite_settings

pytestmark = pytest.mark.django_db


@pytest.mark.spec("RFC 8414", "2")
@pytest.mark.parametrize(
    "path", ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"]
)
def test_metadata_names_the_issuer_and_offers_nothing_unsafe(http, path):
    """RFC 8414 §2, §3.3, OIDC Discovery §3: issuer is exact, endpoints live under it, and
    nothing unsafe is offered; DPoP (RFC 9700 §2.2.1) is not advertised, as it is not
    supported."""
    metadata = http.get(path).json()
    issuer = authsite_settings.PUBLIC_URL
    assert metadata["issuer"] == issuer
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri", "revocation_endpoint"):
        assert metadata[name].startswith(issuer + "/")
    assert set(metadata["grant_types_supported"]).isdisjoint({"implicit", "password"})
    assert metadata["response_types_supported"] == ["code"]
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["authorization_response_iss_parameter_supported"] is True
    assert "none" not in metadata.get("id_token_signing_alg_values_supported", [])
    assert "dpop_signing_alg_values_supported" not in metadata
