"""RFC 6750: OAuth 2.0 Bearer Token Usage."""
