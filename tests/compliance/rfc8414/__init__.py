"""RFC 8414: OAuth 2.0 Authorization Server Metadata."""
