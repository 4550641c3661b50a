"""RFC 7662: OAuth 2.0 Token Introspection."""
