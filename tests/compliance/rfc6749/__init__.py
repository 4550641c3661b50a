"""RFC 6749: The OAuth 2.0 Authorization Framework (with the OAuth 2.1 draft's rules)."""
