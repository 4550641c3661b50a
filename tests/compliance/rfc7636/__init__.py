"""RFC 7636: Proof Key for Code Exchange (PKCE)."""
