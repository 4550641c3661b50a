"""Fixtures of the malformed-assertion tests."""

from tests.support.odd_tokens import error_logs  # noqa: F401
