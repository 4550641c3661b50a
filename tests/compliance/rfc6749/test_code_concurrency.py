"""RFC 6749 §4.1.2: a code is used once, even when it is redeemed twice concurrently.

Real concurrency needs real transactions: each thread has its own HTTP client on
the WSGI app and its own PostgreSQL connection.
"""

from __future__ import annotations

import threading
from http import HTTPStatus

import httpx
import pytest

from django.core.cache import cache
from django.db import connections

from common.conf import authsite_settings
from oauth import keys
from tests.support.oauth import code_for, exchange

PARALLEL = 10


@pytest.fixture
def fresh_keys():
    """The flush after a transactional test drops the signing keys; forget them everywhere."""
    keys._memo.clear()
    cache.delete(keys.JWKS_CACHE_KEY)
    yield
    keys._memo.clear()
    cache.delete(keys.JWKS_CACHE_KEY)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.spec("RFC 6749", "4.1.2")
def test_parallel_redemptions_of_one_code_yield_one_token(fresh_keys, signed_in, first_party):
    """RFC 6749 §4.1.2: 10 simultaneous redemptions of one code → exactly one 200, the rest
    invalid_grant (OAuth 2.1 §4.1.3: a code is used only once)."""
    app, secret = first_party
    code, verifier = code_for(signed_in, app)
    wsgi = signed_in._transport.app
    barrier = threading.Barrier(PARALLEL)
    results: list[httpx.Response | BaseException] = []

    def redeem():
        try:
            transport = httpx.WSGITransport(app=wsgi)
            with httpx.Client(transport=transport, base_url=authsite_settings.PUBLIC_URL) as http:
                barrier.wait(timeout=30)
                results.append(exchange(http, app, secret, code, verifier))
        except BaseException as exc:  # reported below, not lost in the thread
            results.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=redeem) for _ in range(PARALLEL)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert all(isinstance(r, httpx.Response) for r in results), results
    statuses = sorted(r.status_code for r in results)
    assert statuses == [HTTPStatus.OK] + [HTTPStatus.BAD_REQUEST] * (PARALLEL - 1), [
        r.text for r in results
    ]
    errors = {r.json()["error"] for r in results if r.status_code == HTTPStatus.BAD_REQUEST}
    assert errors == {"invalid_grant"}
