"""OWASP Application Security Verification Standard 5.0."""
