"""Compliance tests, one package per specification.

Each test lives under the specification whose behaviour it proves, cites the section in
its docstring (``RFC 6749 §4.1.2.1: …``) and names it in the ``spec(document, section)``
marker. Shared data comes from tests/factories.py; the HTTP client and OAuth helpers from
tests/support/oauth.py.
"""
