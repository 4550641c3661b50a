"""Helpers every app shares, below all of them.

``common`` imports no app and nothing from ``authsite`` (the project wiring):
product settings (``conf``), the error base (``exceptions``), client addresses
(``net``), logging and redaction (``logging``), metrics (``metrics``) and the
rate limiter (``ratelimit``). docs/architecture.md gives the dependency rules,
and tests/test_architecture.py enforces them.
"""
