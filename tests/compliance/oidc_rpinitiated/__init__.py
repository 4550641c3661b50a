"""OpenID Connect RP-Initiated Logout 1.0."""
