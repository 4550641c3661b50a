"""A dependency outage is logged once per period and kind, with a count, not once per call.

Measured before: about 560 WARNING lines in 20 s of a Redis outage, one per cache
call of every request. Now each kind of failure (session cache, client cache, deny
list, rate limit…) writes one line per ``AUTHSITE_DEPENDENCY_LOG_INTERVAL_SECONDS``,
and the next line written for it says how many were left out.
"""

from __future__ import annotations

import logging
import time

import pytest

from authsite import redis_breaker
from common import logging as authsite_logging
from common import ratelimit
from oauth import client_auth, revocation
from tests.support.own_redis import UNREACHABLE_REDIS

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_state():
    authsite_logging.reset_dependency_failures()
    redis_breaker.reset_breakers()
    yield
    authsite_logging.reset_dependency_failures()
    redis_breaker.reset_breakers()


def warnings_from(caplog, *loggers: str) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.levelno >= logging.WARNING and record.name in loggers
    ]


def test_many_failures_of_one_kind_log_one_line(caplog):
    logger = logging.getLogger("tests.dependency")
    with caplog.at_level(logging.WARNING, logger="tests.dependency"):
        for number in range(500):
            authsite_logging.log_dependency_failure(logger, "thing read", "thing down (%d)", number)

    assert warnings_from(caplog, "tests.dependency") == ["thing down (0)"]


def test_the_next_line_after_the_period_counts_what_was_left_out(settings, caplog):
    settings.AUTHSITE_DEPENDENCY_LOG_INTERVAL_SECONDS = 0.2
    logger = logging.getLogger("tests.dependency")
    with caplog.at_level(logging.WARNING, logger="tests.dependency"):
        for _ in range(50):
            authsite_logging.log_dependency_failure(logger, "thing read", "thing down")
        time.sleep(0.25)
        authsite_logging.log_dependency_failure(logger, "thing read", "thing down")

    lines = warnings_from(caplog, "tests.dependency")
    assert lines[:2] == ["thing down", "thing down"]
    assert lines[2] == "thing read: 49 more failure(s) in the last 0s were not logged"
    assert len(lines) == 3


def test_distinct_kinds_are_each_logged_once(caplog):
    logger = logging.getLogger("tests.dependency")
    with caplog.at_level(logging.WARNING, logger="tests.dependency"):
        for _ in range(100):
            authsite_logging.log_dependency_failure(logger, "thing read", "read failed")
            authsite_logging.log_dependency_failure(logger, "thing write", "write failed")

    assert warnings_from(caplog, "tests.dependency") == ["read failed", "write failed"]


def test_a_redis_outage_under_load_logs_a_handful_of_lines(settings, caplog):
    """200 requests' worth of Redis calls while Redis is unreachable: one line per kind."""
    settings.CACHES = UNREACHABLE_REDIS
    loggers = (
        "authsite.redis_breaker",
        "common.ratelimit",
        "oauth.client_auth",
        "oauth.revocation",
        "oauth.keys",
        "accounts.session_store",
    )
    with caplog.at_level(logging.INFO):
        for _ in range(200):
            client_auth.load_client("some-client-id")
            ratelimit.hit("storm:client", limit=10, window_seconds=60)
            revocation.is_denied("8b4e6c52-7f0e-4a5c-9a53-3c1f1f0b9a11")
            client_auth.forget_clients()

    lines = warnings_from(caplog, *loggers)
    print(f"{len(lines)} warning lines for 800 failed Redis calls:", *lines, sep="\n  ")
    assert 1 <= len(lines) <= 6
    assert any("Redis at 127.0.0.1:1 is unavailable" in line for line in lines)
