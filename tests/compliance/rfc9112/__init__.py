"""RFC 9112: HTTP/1.1 message framing."""
