"""RFC 9068: JSON Web Token (JWT) Profile for OAuth 2.0 Access Tokens."""
