"""RFC 9101: JWT-Secured Authorization Request (JAR)."""
