"""Prometheus metrics that authsite itself defines.

Label values are bounded sets (HTTP method, status code, outcome), never user
input, so a client cannot blow up the series count. Later features increment
the counters declared here.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

http_requests_total = Counter(
    "authsite_http_requests_total", "HTTP requests answered.", ["method", "status"]
)
http_request_duration_seconds = Histogram(
    "authsite_http_request_duration_seconds",
    "Time spent answering HTTP requests inside Django.",
    ["method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
logins_total = Counter("authsite_logins_total", "Sign-in attempts by outcome.", ["outcome"])
tokens_issued_total = Counter(
    "authsite_tokens_issued_total", "OAuth tokens issued by grant type.", ["grant_type"]
)
audit_events_total = Counter(
    "authsite_audit_events_total",
    "Audit events recorded, by catalogued action and outcome.",
    ["action", "outcome"],
)
health_check_failures_total = Counter(
    "authsite_health_check_failures_total", "Failed dependency checks.", ["check"]
)


def method_label(method: str | None) -> str:
    return method if method in HTTP_METHODS else "other"


fastpath_requests_total = Counter(
    "authsite_fastpath_requests_total",
    "Requests to the native fast path's endpoints, answered there (served) or by Django "
    "(declined).",
    ["endpoint", "outcome"],
)
