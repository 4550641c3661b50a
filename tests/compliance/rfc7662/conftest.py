"""Fixtures of the odd-token tests."""

from tests.support.odd_tokens import error_logs  # noqa: F401
