"""OpenID Connect Core 1.0 (and OpenID Connect Discovery 1.0)."""
