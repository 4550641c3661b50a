"""Parity: the native fast path answers exactly what Django answers.

Two real servers (gunicorn + uvicorn, as in production) share one PostgreSQL
database and one Redis: one with ``AUTHSITE_FAST_PATH=on``, one with it off,
where every request goes through Django, DOT and oauthlib. Every request below
is sent to both; the answers must have the same status, the same error code,
the same headers that matter to a client (Content-Type, Cache-Control, Pragma,
WWW-Authenticate, Retry-After, ETag, CORS and the security headers) and the
same body shape (the same keys in the same order). Tokens minted by either
server must introspect and revoke identically on both.

The success cases must really be served by the fast path (its
``authsite_fastpath_requests_total`` counter says so), or the suite would
compare Django with itself. Error cases come from the compliance suite
(tests/compliance/rfc6749, rfc7662, rfc7009, and the odd tokens of
tests/support/odd_tokens.py); the fast path declines each one to Django.

The one stated difference: the fast path caps request bodies at 64 KiB (413),
where Django's limit is ``DATA_UPLOAD_MAX_MEMORY_SIZE``; bodies over 64 KiB are
left out of the comparison and tested in tests/oauth/test_fastpath.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time

import httpx
import pytest
from django_redis import get_redis_connection

from common import ratelimit
from oauth import revocation
from tests.support.odd_tokens import SHAPES
from tests.support.servers import Server, TcpProxy, base_env, manage

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

HEADERS_THAT_MATTER = (
    "content-type",
    "cache-control",
    "pragma",
    "www-authenticate",
    "retry-after",
    "etag",
    "access-control-allow-origin",
    "allow",
    "x-content-type-options",
    "referrer-policy",
    "cross-origin-opener-policy",
    "x-frame-options",
    "content-security-policy",
)
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
BODY_CAP = 64 * 1024

SEED = """
import json, secrets
from datetime import timedelta
from types import SimpleNamespace
from django.utils import timezone
from oauth2_provider.models import set_token_value
from accounts.models import User
from oauth import tokens
from oauth.models import AccessToken, Application, RefreshToken
app = Application.objects.get(client_id="{client_id}")
user = User.objects.create_user(username="parity", email="parity@example.com",
                                password=secrets.token_urlsafe(24))
request = SimpleNamespace(client=app, grant_type="authorization_code", user=user,
                          scopes=["openid", "profile"], resource=None)
access = tokens.mint_access_token(request)
row = AccessToken(user=user, application=app, scope="openid profile",
                  expires=timezone.now() + timedelta(seconds=600))
set_token_value(row, access)
row.save()
refresh = secrets.token_urlsafe(32)
rt = RefreshToken(user=user, application=app, access_token=row)
set_token_value(rt, refresh)
rt.save()
short = Application.objects.get(client_id="{short_id}")
Application.objects.filter(pk=short.pk).update(access_token_lifetime_seconds=1)
print(json.dumps({{"access_token": access, "refresh_token": refresh}}))
"""


def _create(env, *args) -> dict:
    created = manage(env, "createclient", "--json", *args)
    assert created.returncode == 0, created.stderr
    return json.loads(created.stdout)


class Pair:
    def __init__(self, fast: Server, django: Server, env: dict) -> None:
        self.fast = httpx.Client(base_url=fast.url, timeout=10)
        self.django = httpx.Client(base_url=django.url, timeout=10)
        self.servers = {"fast": fast, "django": django}
        self.env = env

    def both(self, method: str, path: str, **kwargs) -> tuple[httpx.Response, httpx.Response]:
        return (
            self.fast.request(method, path, **kwargs),
            self.django.request(method, path, **kwargs),
        )

    def served(self, endpoint: str) -> float:
        """How many requests to ``endpoint`` the fast server answered natively."""
        text = self.fast.get("/metrics").text
        pattern = (
            rf'authsite_fastpath_requests_total\{{endpoint="{endpoint}",outcome="served"\}} (\S+)'
        )
        found = re.search(pattern, text)
        return float(found.group(1)) if found else 0.0


@pytest.fixture(scope="module")
def pair(tmp_path_factory, postgres_url, redis_url):
    var = tmp_path_factory.mktemp("parity")
    env = base_env(
        var,
        DATABASE_URL=postgres_url["url"],
        REDIS_URL=redis_url,
        SECRET_KEY="parity suite secret key, the same for every process of the test",
        # Error cases send wrong secrets to both servers: throttling is tested on its own.
        AUTHSITE_CLIENT_AUTH_FAILURES_PER_CLIENT="100000",
        AUTHSITE_CLIENT_AUTH_FAILURES_PER_IP="100000",
    )
    assert manage(env, "migrate", "--noinput").returncode == 0
    clients = {
        "service": _create(
            env, "--name", "Service", "--confidential", "--grant", "client_credentials"
        ),
        "scoped": _create(
            env,
            "--name",
            "Scoped",
            "--confidential",
            "--grant",
            "client_credentials",
            "--scope",
            "profile",
            "--scope",
            "roles",
        ),
        "short": _create(env, "--name", "Short", "--confidential", "--grant", "client_credentials"),
        "throttled": _create(
            env, "--name", "Throttled", "--confidential", "--grant", "client_credentials"
        ),
        "web": _create(
            env, "--name", "Web", "--confidential", "--redirect-uri", "https://rp.example/cb"
        ),
        "public": _create(
            env, "--name", "App", "--public", "--redirect-uri", "https://rp.example/cb"
        ),
        "web2": _create(
            env, "--name", "Web 2", "--confidential", "--redirect-uri", "https://rp.example/cb"
        ),
    }
    seeded = manage(
        env,
        "shell",
        "-c",
        SEED.format(client_id=clients["web"]["client_id"], short_id=clients["short"]["client_id"]),
    )
    assert seeded.returncode == 0, seeded.stderr
    user_tokens = json.loads(seeded.stdout.strip().splitlines()[-1])
    fast = Server({**env, "AUTHSITE_FAST_PATH": "on"}).start()
    django = Server({**env, "AUTHSITE_FAST_PATH": "off"}).start()
    try:
        result = Pair(fast, django, env)
        result.clients = clients
        result.user_tokens = user_tokens
        yield result
    finally:
        fast.stop()
        django.stop()


def auth(client: dict) -> tuple[str, str]:
    return client["client_id"], client["client_secret"]


def basic(client_id: str, secret: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def claims_of(token: str) -> tuple[dict, dict]:
    header, payload, _ = token.split(".")
    decode = lambda part: json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))  # noqa: E731
    return decode(header), decode(payload)


def assert_same(fast: httpx.Response, django: httpx.Response) -> None:
    """Same status, headers that matter, error code and body shape."""
    context = (
        f"fast {fast.status_code} {fast.text[:300]!r} / "
        f"django {django.status_code} {django.text[:300]!r}"
    )
    assert fast.status_code == django.status_code, context
    for name in HEADERS_THAT_MATTER:
        assert fast.headers.get(name) == django.headers.get(name), (name, context)
    assert ("x-request-id" in fast.headers) and ("x-request-id" in django.headers)
    if fast.headers.get("content-type") == "application/json" and fast.content:
        fast_body, django_body = fast.json(), django.json()
        assert list(fast_body) == list(django_body), context
        for key in ("error", "active", "token_type", "scope", "expires_in", "client_id", "iss"):
            if key in django_body:
                assert fast_body.get(key) == django_body.get(key), (key, context)
    else:
        assert fast.content == django.content, context


# --- token endpoint: the success cases -----------------------------------------------------


def test_client_credentials_success_is_served_natively_and_matches_dot(pair):
    service = pair.clients["service"]
    before = pair.served("token")
    fast, django = pair.both(
        "POST", "/oauth/token", data={"grant_type": "client_credentials"}, auth=auth(service)
    )
    assert fast.status_code == 200
    assert_same(fast, django)
    assert pair.served("token") == before + 1
    fast_header, fast_claims = claims_of(fast.json()["access_token"])
    django_header, django_claims = claims_of(django.json()["access_token"])
    assert fast_header == django_header
    assert list(fast_claims) == list(django_claims)
    for name in ("iss", "sub", "aud", "client_id"):
        assert fast_claims[name] == django_claims[name]
    assert fast_claims["exp"] - fast_claims["iat"] == fast.json()["expires_in"]
    assert fast.headers["content-length"] == str(len(fast.content))


@pytest.mark.parametrize(
    "scope", ["profile", "profile roles", "roles profile"], ids=["one", "two", "reordered"]
)
def test_client_credentials_with_scopes_matches_dot(pair, scope):
    scoped = pair.clients["scoped"]
    before = pair.served("token")
    fast, django = pair.both(
        "POST",
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": scope},
        auth=auth(scoped),
    )
    assert fast.status_code == 200
    assert_same(fast, django)
    assert fast.json()["scope"] == scope
    assert claims_of(fast.json()["access_token"])[1]["scope"] == scope
    assert pair.served("token") == before + 1


def test_client_secret_post_matches_dot(pair):
    service = pair.clients["service"]
    fast, django = pair.both(
        "POST",
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": service["client_id"],
            "client_secret": service["client_secret"],
        },
    )
    assert_same(fast, django)


def test_basic_with_the_same_client_id_in_the_body_matches_dot(pair):
    service = pair.clients["service"]
    fast, django = pair.both(
        "POST",
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": service["client_id"]},
        auth=auth(service),
    )
    assert fast.status_code == 200
    assert_same(fast, django)


# --- token endpoint: every error case --------------------------------------------------------


def _token_error_cases(pair) -> dict:
    service, web, public = pair.clients["service"], pair.clients["web"], pair.clients["public"]
    cc = {"grant_type": "client_credentials"}
    return {
        "unknown client": dict(data=cc, auth=("no-such-client", "secret")),
        "wrong secret": dict(data=cc, auth=(service["client_id"], "wrong")),
        "wrong secret in the body": dict(
            data={**cc, "client_id": service["client_id"], "client_secret": "wrong"}
        ),
        "Basic and a body secret": dict(
            data={
                **cc,
                "client_id": service["client_id"],
                "client_secret": service["client_secret"],
            },
            auth=auth(service),
        ),
        "Basic and another client_id": dict(
            data={**cc, "client_id": web["client_id"]}, auth=auth(service)
        ),
        "malformed Basic": dict(data=cc, headers={"Authorization": "Basic !!!"}),
        "Basic without a colon": dict(
            data=cc,
            headers={"Authorization": "Basic " + base64.b64encode(b"nocolon").decode()},
        ),
        "Bearer instead of Basic": dict(data=cc, headers={"Authorization": "Bearer abc"}),
        "no client authentication": dict(data=cc),
        "client_id only": dict(data={**cc, "client_id": service["client_id"]}),
        "public client": dict(data={**cc, "client_id": public["client_id"]}),
        "client without the grant": dict(data=cc, auth=auth(web)),
        "duplicate grant_type": dict(
            content=b"grant_type=client_credentials&grant_type=client_credentials",
            headers=FORM,
            auth=auth(service),
        ),
        "duplicate scope": dict(
            content=b"grant_type=client_credentials&scope=profile&scope=roles",
            headers=FORM,
            auth=auth(pair.clients["scoped"]),
        ),
        "unsupported grant": dict(data={"grant_type": "password"}, auth=auth(service)),
        "unknown grant": dict(data={"grant_type": "magic"}, auth=auth(service)),
        "missing grant_type": dict(data={}, auth=auth(service)),
        "empty grant_type": dict(data={"grant_type": ""}, auth=auth(service)),
        "invalid scope": dict(data={**cc, "scope": "nonexistent"}, auth=auth(service)),
        "openid without a user": dict(data={**cc, "scope": "openid"}, auth=auth(service)),
        "scope the client may not ask": dict(
            data={**cc, "scope": "email"}, auth=auth(pair.clients["scoped"])
        ),
        "empty scope": dict(data={**cc, "scope": ""}, auth=auth(service)),
        "scope with two spaces": dict(
            data={**cc, "scope": "profile  roles"}, auth=auth(pair.clients["scoped"])
        ),
        "JSON body": dict(json=cc, auth=auth(service)),
        "form with a charset": dict(
            content=b"grant_type=client_credentials",
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
            auth=auth(service),
        ),
        "parameters in the query": dict(
            params={"grant_type": "client_credentials"}, data={}, auth=auth(service)
        ),
        "secret in the query": dict(
            params={"client_secret": service["client_secret"]}, data=cc, auth=auth(service)
        ),
        "resource indicator": dict(
            data={**cc, "resource": "https://api.example"}, auth=auth(service)
        ),
        "unknown parameter": dict(data={**cc, "foo": "bar"}, auth=auth(service)),
        "not UTF-8": dict(
            content=b"grant_type=client_credentials&x=\xff", headers=FORM, auth=auth(service)
        ),
    }


TOKEN_ERROR_CASES = [
    "unknown client",
    "wrong secret",
    "wrong secret in the body",
    "Basic and a body secret",
    "Basic and another client_id",
    "malformed Basic",
    "Basic without a colon",
    "Bearer instead of Basic",
    "no client authentication",
    "client_id only",
    "public client",
    "client without the grant",
    "duplicate grant_type",
    "duplicate scope",
    "unsupported grant",
    "unknown grant",
    "missing grant_type",
    "empty grant_type",
    "invalid scope",
    "openid without a user",
    "scope the client may not ask",
    "empty scope",
    "scope with two spaces",
    "JSON body",
    "form with a charset",
    "parameters in the query",
    "secret in the query",
    "resource indicator",
    "unknown parameter",
    "not UTF-8",
]


@pytest.mark.parametrize("case", TOKEN_ERROR_CASES)
def test_token_request_matches_dot(pair, case):
    """RFC 6749 §5.2 and authsite's stricter rules (tests/compliance/rfc6749, rfc9700):
    whatever the fast path cannot prove, DOT answers, on both servers alike."""
    fast, django = pair.both("POST", "/oauth/token", **_token_error_cases(pair)[case])
    assert_same(fast, django)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "OPTIONS", "HEAD"])
def test_other_methods_at_the_token_endpoint_match_dot(pair, method):
    fast, django = pair.both(method, "/oauth/token")
    assert_same(fast, django)


def test_a_throttled_source_gets_the_same_429(pair):
    """RFC 6585 §4 / OAuth 2.1 §2.4.1: the fast path peeks the same keys with the same
    script; a source Django's throttle refuses is declined, and both answer 429."""
    throttled = pair.clients["throttled"]
    key = f"client-auth:{throttled['client_id']}|127.0.0.1"
    name = ratelimit.redis_name(key)
    redis = get_redis_connection("default")
    now_ms = int(time.time() * 1000)
    # The servers allow 100000 failures per client and address: record as many at once.
    redis.zadd(name, {f"{now_ms}-{i}": now_ms for i in range(100_000)})
    redis.pexpire(name, 300_000)
    try:
        fast, django = pair.both(
            "POST", "/oauth/token", data={"grant_type": "client_credentials"}, auth=auth(throttled)
        )
        assert fast.status_code == 429
        assert_same(fast, django)
    finally:
        redis.delete(name)


# --- introspection -------------------------------------------------------------------------------


def _mint(pair, server: str, client: str = "service") -> str:
    http = pair.fast if server == "fast" else pair.django
    response = http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=auth(pair.clients[client])
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


@pytest.mark.parametrize("minted_by", ["fast", "django"])
def test_an_active_token_introspects_identically_on_both(pair, minted_by):
    token = _mint(pair, minted_by)
    before = pair.served("introspect")
    fast, django = pair.both(
        "POST", "/oauth/introspect", data={"token": token}, auth=auth(pair.clients["service"])
    )
    assert fast.json()["active"] is True
    assert_same(fast, django)
    assert fast.json() == django.json()
    assert pair.served("introspect") == before + 1


@pytest.mark.parametrize("minted_by", ["fast", "django"])
@pytest.mark.parametrize("revoked_by", ["fast", "django"])
def test_a_revoked_token_is_inactive_on_both(pair, minted_by, revoked_by):
    """RFC 7009 §2.1 / RFC 7662 §2.2: revocation through either server ends the token on both."""
    token = _mint(pair, minted_by)
    service = pair.clients["service"]
    http = pair.fast if revoked_by == "fast" else pair.django
    before = pair.served("revoke")
    revoked = http.post("/oauth/revoke", data={"token": token}, auth=auth(service))
    assert revoked.status_code == 200
    assert pair.served("revoke") == before + (revoked_by == "fast")
    fast, django = pair.both("POST", "/oauth/introspect", data={"token": token}, auth=auth(service))
    assert fast.json() == django.json() == {"active": False}
    assert_same(fast, django)


def test_revocation_answers_identically(pair):
    """RFC 7009 §2.2: 200 for a token of the client, for an unknown token, and the same
    errors for a bad client."""
    service = pair.clients["service"]
    cases = [
        dict(data={"token": _mint(pair, "fast")}, auth=auth(service)),
        dict(data={"token": _mint(pair, "django")}, auth=auth(service)),
        dict(
            data={"token": _mint(pair, "fast"), "token_type_hint": "access_token"},
            auth=auth(service),
        ),
        dict(data={"token": _mint(pair, "fast", client="scoped")}, auth=auth(service)),
        dict(data={"token": pair.user_tokens["access_token"]}, auth=auth(service)),
        dict(data={"token": "a.b.c"}, auth=auth(service)),
        dict(data={"token": _mint(pair, "fast"), "client_id": pair.clients["public"]["client_id"]}),
        dict(data={"token": "not-a-token"}, auth=auth(service)),
        dict(data={"token": _mint(pair, "django")}, auth=(service["client_id"], "wrong")),
        dict(data={"token": "x"}),
        dict(data={}, auth=auth(service)),
    ]
    for case in cases:
        fast, django = pair.both("POST", "/oauth/revoke", **case)
        assert_same(fast, django)


def test_a_users_token_introspects_natively_and_identically(pair):
    """RFC 7662 §2.2: ``sub`` and ``username`` of the user, read from the row."""
    before = pair.served("introspect")
    fast, django = pair.both(
        "POST",
        "/oauth/introspect",
        data={"token": pair.user_tokens["access_token"]},
        auth=auth(pair.clients["service"]),
    )
    assert fast.json()["active"] is True and fast.json()["username"] == "parity@example.com"
    assert_same(fast, django)
    assert fast.json() == django.json()
    assert pair.served("introspect") == before + 1


def test_revoking_a_token_twice_answers_and_audits_alike(pair):
    """RFC 7009 §2.2: a second revocation is still 200; each records token.revoked."""
    service = pair.clients["service"]
    for _ in range(2):
        fast, django = pair.both(
            "POST", "/oauth/revoke", data={"token": _mint(pair, "django")}, auth=auth(service)
        )
        assert_same(fast, django)


def test_a_revoked_token_stays_inactive_when_the_deny_list_is_lost(pair):
    """After a Redis flush or restart the deny list has no epoch: the fast path must read
    the row, never answer a revoked token active."""
    service = pair.clients["service"]
    token = _mint(pair, "fast")
    assert pair.fast.post("/oauth/revoke", data={"token": token}, auth=auth(service)).is_success
    redis = get_redis_connection("default")
    redis.delete(*revocation.deny_list_keys(claims_of(token)[1]["jti"]))  # entry and epoch
    before = pair.served("introspect")
    fast, django = pair.both("POST", "/oauth/introspect", data={"token": token}, auth=auth(service))
    assert fast.json() == django.json() == {"active": False}
    assert pair.served("introspect") == before + 1  # answered natively, from the row
    live = _mint(pair, "django")
    fast, django = pair.both("POST", "/oauth/introspect", data={"token": live}, auth=auth(service))
    assert fast.json()["active"] is True
    assert fast.json() == django.json()


def test_with_redis_down_a_revoked_token_stays_inactive(pair, tmp_path, redis_url):
    """Redis unreachable: the throttle fails open as Django's does, the deny list cannot
    answer, and the row decides; nothing revoked comes back, nothing live goes."""
    service = pair.clients["service"]
    revoked, live = _mint(pair, "fast"), _mint(pair, "fast")
    assert pair.fast.post("/oauth/revoke", data={"token": revoked}, auth=auth(service)).is_success
    database = redis_url.rsplit("/", 1)[1] if redis_url.count("/") > 2 else "0"
    proxy = TcpProxy(6379).start()
    env = {
        **pair.env,
        "AUTHSITE_FAST_PATH": "on",
        "REDIS_URL": f"redis://127.0.0.1:{proxy.port}/{database}",
    }
    try:
        with Server(env) as server:
            http = httpx.Client(base_url=server.url, timeout=10)
            assert http.post("/oauth/introspect", data={"token": live}, auth=auth(service)).json()[
                "active"
            ]
            proxy.cut()
            for token, active in ((revoked, False), (live, True)):
                answer = http.post("/oauth/introspect", data={"token": token}, auth=auth(service))
                assert answer.status_code == 200, answer.text
                assert answer.json()["active"] is active
            minted = http.post(
                "/oauth/token", data={"grant_type": "client_credentials"}, auth=auth(service)
            )
            assert minted.status_code == 200, minted.text
    finally:
        proxy.cut()


def test_an_expired_token_is_inactive_on_both(pair):
    token = _mint(pair, "fast", client="short")
    time.sleep(2.1)
    fast, django = pair.both(
        "POST", "/oauth/introspect", data={"token": token}, auth=auth(pair.clients["service"])
    )
    assert fast.json() == django.json() == {"active": False}
    assert_same(fast, django)


def _introspection_cases(pair) -> dict:
    service, public = pair.clients["service"], pair.clients["public"]
    token = _mint(pair, "fast")
    user_tokens = pair.user_tokens
    return {
        "a user's access token": dict(
            data={"token": user_tokens["access_token"]}, auth=auth(service)
        ),
        "a refresh token": dict(data={"token": user_tokens["refresh_token"]}, auth=auth(service)),
        "a refresh token, hinted": dict(
            data={"token": user_tokens["refresh_token"], "token_type_hint": "refresh_token"},
            auth=auth(service),
        ),
        "an access token hinted as refresh": dict(
            data={"token": token, "token_type_hint": "refresh_token"}, auth=auth(service)
        ),
        "an access token hinted as access": dict(
            data={"token": token, "token_type_hint": "access_token"}, auth=auth(service)
        ),
        "garbage": dict(data={"token": "garbage"}, auth=auth(service)),
        "three garbage segments": dict(data={"token": "a.b.c"}, auth=auth(service)),
        "unauthenticated": dict(data={"token": token}),
        "wrong secret": dict(data={"token": token}, auth=(service["client_id"], "wrong")),
        "public client": dict(data={"token": token, "client_id": public["client_id"]}),
        "no token": dict(data={}, auth=auth(service)),
        "duplicate token": dict(
            content=f"token={token}&token={token}".encode(), headers=FORM, auth=auth(service)
        ),
        "JSON body": dict(json={"token": token}, auth=auth(service)),
        "GET": dict(method="GET"),
    }


INTROSPECTION_CASES = [
    "a user's access token",
    "a refresh token",
    "a refresh token, hinted",
    "an access token hinted as refresh",
    "an access token hinted as access",
    "garbage",
    "three garbage segments",
    "unauthenticated",
    "wrong secret",
    "public client",
    "no token",
    "duplicate token",
    "JSON body",
    "GET",
]


@pytest.mark.parametrize("case", INTROSPECTION_CASES)
def test_introspection_matches_django(pair, case):
    """RFC 7662 §2.2, §2.3 (tests/compliance/rfc7662)."""
    request = dict(_introspection_cases(pair)[case])
    method = request.pop("method", "POST")
    fast, django = pair.both(method, "/oauth/introspect", **request)
    assert_same(fast, django)
    if fast.headers.get("content-type") == "application/json" and fast.status_code == 200:
        assert fast.json() == django.json()


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_odd_tokens_introspect_identically(pair, shape):
    """tests/support/odd_tokens.py: any string is a question with the same answer on both."""
    real = {
        "access_token": _mint(pair, "django"),
        "refresh_token": pair.user_tokens["refresh_token"],
    }
    token = SHAPES[shape](real)
    if len(token.encode()) > BODY_CAP:
        pytest.skip("over the fast path's 64 KiB body cap (tests/oauth/test_fastpath.py)")
    fast, django = pair.both(
        "POST", "/oauth/introspect", data={"token": token}, auth=auth(pair.clients["service"])
    )
    assert_same(fast, django)
    assert fast.json() == django.json()


# --- discovery and JWKS ---------------------------------------------------------------------------

DOCUMENTS = [
    ("/.well-known/openid-configuration", "openid-configuration"),
    ("/.well-known/oauth-authorization-server", "authorization-server-metadata"),
    ("/.well-known/jwks.json", "jwks"),
]


@pytest.mark.parametrize(("path", "endpoint"), DOCUMENTS)
def test_documents_are_served_natively_with_the_same_bytes_and_etag(pair, path, endpoint):
    before = pair.served(endpoint)
    fast, django = pair.both("GET", path)
    assert fast.status_code == 200
    assert_same(fast, django)
    assert fast.content == django.content
    assert fast.headers["etag"] == django.headers["etag"]
    assert pair.served(endpoint) == before + 1

    fast, django = pair.both("GET", path, headers={"If-None-Match": fast.headers["etag"]})
    assert fast.status_code == 304
    assert_same(fast, django)
    assert pair.served(endpoint) == before + 2

    fast, django = pair.both("GET", path, headers={"If-None-Match": '"something-else"'})
    assert fast.status_code == 200
    assert_same(fast, django)


@pytest.mark.parametrize(("path", "endpoint"), DOCUMENTS)
@pytest.mark.parametrize("method", ["HEAD", "POST", "PUT"])
def test_other_methods_on_documents_match(pair, path, endpoint, method):
    fast, django = pair.both(method, path)
    assert_same(fast, django)


def test_a_key_rotation_reaches_the_served_jwks(pair):
    """A forced rotation (manage.py rotatekeys) shows in the fast path's JWKS within seconds."""
    before = pair.fast.get("/.well-known/jwks.json")
    rotated = manage(pair.env, "rotatekeys", "--force", "--algorithm", "ES256")
    assert rotated.returncode == 0, rotated.stderr
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        after = pair.fast.get("/.well-known/jwks.json")
        if after.headers["etag"] != before.headers["etag"]:
            break
        time.sleep(0.2)
    assert after.headers["etag"] != before.headers["etag"]
    fast, django = pair.both("GET", "/.well-known/jwks.json")
    assert fast.content == django.content
    # A token minted after the rotation is signed with a key the served JWKS publishes.
    kid = claims_of(_mint(pair, "fast"))[0]["kid"]
    assert kid in {key["kid"] for key in fast.json()["keys"]}


# --- what the fast path stores -------------------------------------------------------------


def test_fast_path_rows_and_audit_events_verify(pair):
    """Every token row has its audit event, and the audit trail's HMACs verify."""
    _mint(pair, "fast")
    verified = manage(pair.env, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    counted = manage(
        pair.env,
        "shell",
        "-c",
        "from audit.models import AuditEvent; from oauth.models import AccessToken; "
        "print(AccessToken.objects.filter(user=None).count(), "
        "AuditEvent.objects.filter(action='oauth.token.issued').count())",
    )
    rows, events = counted.stdout.split()[-2:]
    assert rows == events


# --- userinfo ------------------------------------------------------------------------------------

USERINFO = "/oauth/userinfo"

USERINFO_SEED = """
import json, secrets
from datetime import timedelta
from types import SimpleNamespace
from django.contrib.auth.models import Group
from django.utils import timezone
from oauth2_provider.models import set_token_value
from accounts.models import User
from oauth import tokens
from oauth.models import AccessToken, Application
web = Application.objects.get(client_id="{web_id}")
short = Application.objects.get(client_id="{short_id}")
service = Application.objects.get(client_id="{service_id}")
def person(username, email, **fields):
    return User.objects.create_user(username=username, email=email,
                                    password=secrets.token_urlsafe(24), **fields)
ada = person("ada", "ada@example.com", first_name="Ada", last_name="Lovelace",
             email_verified=True)
ada.groups.add(Group.objects.create(name="zeta-ops"), Group.objects.create(name="alpha-read"))
plain = person(None, "plain@example.com")
gone = person("gone", "gone@example.com", first_name="Gone")
def mint(user, scope, app=web, expires_in=600, grant_type="authorization_code"):
    request = SimpleNamespace(client=app, grant_type=grant_type, user=user,
                              scopes=scope.split(), resource=None)
    access = tokens.mint_access_token(request)
    row = AccessToken(user=user, application=app, scope=scope,
                      expires=timezone.now() + timedelta(seconds=expires_in))
    set_token_value(row, access)
    row.save()
    return access, row
out = {{}}
out["full"], _ = mint(ada, "openid profile email roles")
out["profile email"], _ = mint(ada, "openid profile email")
out["openid only"], _ = mint(ada, "openid")
out["no openid"], _ = mint(ada, "profile email")
out["plain user"], _ = mint(plain, "openid profile email")
out["row expired"], _ = mint(ada, "openid profile", expires_in=-5)
out["expired"], _ = mint(ada, "openid profile", app=short, expires_in=1)
out["revoked"], revoked = mint(ada, "openid profile email")
revoked.revoke()
out["revoked, deny list lost"], lost = mint(ada, "openid profile")
lost.revoke()
out["revoked, no openid"], lost2 = mint(ada, "profile")
lost2.revoke()
out["inactive user"], _ = mint(gone, "openid profile email")
out["inactive user, no openid"], _ = mint(gone, "profile")
User.objects.filter(pk=gone.pk).update(is_active=False)
out["client's token with openid"], _ = mint(None, "openid", app=service,
                                            grant_type="client_credentials")
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def userinfo_tokens(pair) -> dict:
    seeded = manage(
        pair.env,
        "shell",
        "-c",
        USERINFO_SEED.format(
            web_id=pair.clients["web"]["client_id"],
            short_id=pair.clients["short"]["client_id"],
            service_id=pair.clients["service"]["client_id"],
        ),
    )
    assert seeded.returncode == 0, seeded.stderr
    minted = json.loads(seeded.stdout.strip().splitlines()[-1])
    time.sleep(2.1)  # "expired": its JWT's exp (a one-second lifetime) has passed
    return minted


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def assert_same_userinfo(fast: httpx.Response, django: httpx.Response) -> None:
    """userinfo answers alike: headers that matter, the body byte for byte, and an
    ``Expires`` as ``never_cache`` gives Django's."""
    assert_same(fast, django)
    assert fast.content == django.content
    assert ("expires" in fast.headers) == ("expires" in django.headers)


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("case", ["full", "profile email", "openid only", "plain user"])
def test_userinfo_is_served_natively_with_the_same_claims(pair, userinfo_tokens, case, method):
    """OIDC Core §5.3.2, §5.4: ``sub`` and the claims the granted scopes release,
    the same bytes from both servers; the fast server answers natively."""
    before = pair.served("userinfo")
    fast, django = pair.both(method, USERINFO, headers=bearer(userinfo_tokens[case]))
    assert fast.status_code == 200, fast.text
    assert_same_userinfo(fast, django)
    assert pair.served("userinfo") == before + 1
    if case == "full":
        assert fast.json() == {
            "sub": fast.json()["sub"],
            "name": "Ada Lovelace",
            "given_name": "Ada",
            "family_name": "Lovelace",
            "preferred_username": "ada",
            "email": "ada@example.com",
            "email_verified": True,
            "roles": ["alpha-read", "zeta-ops"],
        }


def test_userinfo_with_the_token_in_a_form_body_is_served_natively(pair, userinfo_tokens):
    """RFC 6750 §2.2: ``access_token`` in a form-encoded POST body."""
    before = pair.served("userinfo")
    fast, django = pair.both(
        "POST", USERINFO, data={"access_token": userinfo_tokens["profile email"]}
    )
    assert fast.status_code == 200, fast.text
    assert_same_userinfo(fast, django)
    assert pair.served("userinfo") == before + 1


# Answered natively: the fast path proves Django's answer.
USERINFO_NATIVE_ERRORS = {
    "no openid": 403,
    "row expired": 401,
    "revoked": 401,
    "revoked, no openid": 401,
    "inactive user": 401,
    "inactive user, no openid": 403,
}


@pytest.mark.parametrize("case", sorted(USERINFO_NATIVE_ERRORS))
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_userinfo_refusals_are_served_natively_and_match_django(
    pair, userinfo_tokens, case, method
):
    """RFC 6750 §3.1: ``invalid_token`` (401) for a revoked or expired token or a
    deactivated user, ``insufficient_scope`` (403, ``scope="openid"``) for a live
    token without ``openid``; the same challenge, body and cache headers."""
    before = pair.served("userinfo")
    fast, django = pair.both(method, USERINFO, headers=bearer(userinfo_tokens[case]))
    assert fast.status_code == USERINFO_NATIVE_ERRORS[case], fast.text
    assert_same_userinfo(fast, django)
    assert pair.served("userinfo") == before + 1


def test_no_credentials_get_the_bare_challenge_natively(pair):
    """RFC 6750 §3.1: no credentials, no error code: 401 with ``Bearer realm``."""
    before = pair.served("userinfo")
    for method in ("GET", "POST"):
        fast, django = pair.both(method, USERINFO)
        assert fast.status_code == 401
        assert fast.headers["www-authenticate"] == 'Bearer realm="authsite"'
        assert_same_userinfo(fast, django)
    assert pair.served("userinfo") == before + 2


def test_a_revoked_token_stays_refused_when_the_deny_list_is_lost(pair, userinfo_tokens):
    """A Redis flush loses the deny list and its epoch: the row decides, natively,
    and a revoked token is never answered with claims."""
    token = userinfo_tokens["revoked, deny list lost"]
    redis = get_redis_connection("default")
    redis.delete(*revocation.deny_list_keys(claims_of(token)[1]["jti"]))  # entry and epoch
    before = pair.served("userinfo")
    fast, django = pair.both("GET", USERINFO, headers=bearer(token))
    assert fast.status_code == 401
    assert fast.json()["error"] == "invalid_token"
    assert_same_userinfo(fast, django)
    assert pair.served("userinfo") == before + 1
    live = pair.fast.get(USERINFO, headers=bearer(userinfo_tokens["openid only"]))
    assert live.status_code == 200


def test_with_redis_down_userinfo_refuses_revoked_tokens_and_serves_live_ones(
    pair, userinfo_tokens, redis_url
):
    """Redis unreachable: the deny list cannot answer, the row decides."""
    database = redis_url.rsplit("/", 1)[1] if redis_url.count("/") > 2 else "0"
    proxy = TcpProxy(6379).start()
    env = {
        **pair.env,
        "AUTHSITE_FAST_PATH": "on",
        "REDIS_URL": f"redis://127.0.0.1:{proxy.port}/{database}",
    }
    try:
        with Server(env) as server:
            http = httpx.Client(base_url=server.url, timeout=10)
            assert http.get(USERINFO, headers=bearer(userinfo_tokens["full"])).status_code == 200
            proxy.cut()
            for case, status in (("revoked", 401), ("full", 200), ("inactive user", 401)):
                answer = http.get(USERINFO, headers=bearer(userinfo_tokens[case]))
                assert answer.status_code == status, (case, answer.text)
            served = re.search(
                r'authsite_fastpath_requests_total\{endpoint="userinfo",outcome="served"\} (\S+)',
                http.get("/metrics").text,
            )
            assert served is not None and float(served.group(1)) >= 4
    finally:
        proxy.cut()


def _userinfo_cases(tokens: dict) -> dict:
    full = tokens["full"]
    return {
        "expired": dict(headers=bearer(tokens["expired"])),
        "client's token with openid": dict(headers=bearer(tokens["client's token with openid"])),
        "malformed token": dict(headers=bearer("not-a-jwt")),
        "three garbage segments": dict(headers=bearer("a.b.c")),
        "altered signature": dict(
            headers=bearer(full[:-4] + ("AAAA" if full[-4:] != "AAAA" else "BBBB"))
        ),
        "lower-case scheme": dict(headers={"Authorization": f"bearer {full}"}),
        "two spaces": dict(headers={"Authorization": f"Bearer  {full}"}),
        "scheme only": dict(headers={"Authorization": "Bearer"}),
        "two tokens": dict(headers={"Authorization": f"Bearer {full} {full}"}),
        "Basic": dict(headers={"Authorization": "Basic YTpi"}),
        "token in the query": dict(params={"access_token": full}),
        "header and query": dict(headers=bearer(full), params={"x": "1"}),
        "header and body": dict(method="POST", headers=bearer(full), data={"access_token": full}),
        "body token twice": dict(
            method="POST",
            content=f"access_token={full}&access_token={full}".encode(),
            headers=FORM,
        ),
        "empty body token": dict(method="POST", data={"access_token": ""}),
        "body token with a charset": dict(
            method="POST",
            content=f"access_token={full}".encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        ),
        "JSON body": dict(method="POST", json={"access_token": full}),
        "other form parameter": dict(method="POST", headers=bearer(full), data={"x": "1"}),
        "GET with a body token": dict(content=f"access_token={full}".encode(), headers=FORM),
        "HEAD": dict(method="HEAD", headers=bearer(full)),
        "PUT": dict(method="PUT", headers=bearer(full)),
        "OPTIONS": dict(method="OPTIONS"),
    }


USERINFO_DECLINED_CASES = [
    "expired",
    "client's token with openid",
    "malformed token",
    "three garbage segments",
    "altered signature",
    "lower-case scheme",
    "two spaces",
    "scheme only",
    "two tokens",
    "Basic",
    "token in the query",
    "header and query",
    "header and body",
    "body token twice",
    "empty body token",
    "body token with a charset",
    "JSON body",
    "other form parameter",
    "GET with a body token",
    "HEAD",
    "PUT",
    "OPTIONS",
]


@pytest.mark.parametrize("case", USERINFO_DECLINED_CASES)
def test_userinfo_requests_match_django(pair, userinfo_tokens, case):
    """RFC 6750 §2, §3 (tests/compliance/rfc6750): whatever the fast path leaves to
    Django, or answers itself, both servers answer alike."""
    request = dict(_userinfo_cases(userinfo_tokens)[case])
    method = request.pop("method", "GET")
    fast, django = pair.both(method, USERINFO, **request)
    assert_same_userinfo(fast, django)


# --- the user grants: authorization code and refresh token ----------------------------------

REDIRECT_URI = "https://rp.example/cb"
CODES = """
import base64, hashlib, json, secrets
from datetime import timedelta
from django.utils import timezone
from accounts.models import User
from oauth.models import Application, Grant
user = User.objects.get(username="parity")
out = []
for spec in json.loads(SPECS):
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    code = secrets.token_urlsafe(32)
    Grant.objects.create(
        application=Application.objects.get(client_id=spec["client_id"]), user=user, code=code,
        expires=timezone.now() + timedelta(seconds=spec["expires_in"]),
        redirect_uri="https://rp.example/cb", scope=spec["scope"],
        code_challenge=base64.urlsafe_b64encode(digest).rstrip(b"=").decode(),
        code_challenge_method="S256", auth_time=timezone.now() - timedelta(minutes=5),
        amr="pwd otp", sid="parity-session", nonce="n-0S6_WzA2Mj")
    out.append([code, verifier])
print(json.dumps(out))
"""


def issue_codes(pair, count: int, *, scope="profile email", expires_in=300, client="web"):
    """``count`` authorization codes of ``client`` for the parity user, as the authorization
    endpoint stores them (PKCE S256, the sign-in's auth_time): [(code, verifier), ...]."""
    specs = [
        {"client_id": pair.clients[client]["client_id"], "scope": scope, "expires_in": expires_in}
    ] * count
    shell = CODES.replace("json.loads(SPECS)", f"json.loads({json.dumps(json.dumps(specs))})")
    made = manage(pair.env, "shell", "-c", shell)
    assert made.returncode == 0, made.stderr
    return [tuple(item) for item in json.loads(made.stdout.strip().splitlines()[-1])]


def exchange_on(pair, server: str, code: str, verifier: str | None, client="web", **change):
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
        **change,
    }
    data = {name: value for name, value in data.items() if value is not None}
    http = pair.fast if server == "fast" else pair.django
    return http.post("/oauth/token", data=data, auth=auth(pair.clients[client]))


def refresh_on(pair, server: str, refresh_token: str, client="web", **extra):
    http = pair.fast if server == "fast" else pair.django
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token, **extra}
    return http.post("/oauth/token", data=data, auth=auth(pair.clients[client]))


def exchanged_pair(pair, **codes) -> tuple[httpx.Response, httpx.Response]:
    """One code redeemed on each server (each its own code): (fast, django)."""
    (fast_code, fast_verifier), (django_code, django_verifier) = issue_codes(pair, 2, **codes)
    return (
        exchange_on(pair, "fast", fast_code, fast_verifier),
        exchange_on(pair, "django", django_code, django_verifier),
    )


def assert_same_tokens(fast: httpx.Response, django: httpx.Response) -> None:
    """Same response shape, and access tokens with the same header and claims."""
    assert fast.status_code == 200, fast.text
    assert_same(fast, django)
    assert fast.json()["scope"] == django.json()["scope"]
    fast_header, fast_claims = claims_of(fast.json()["access_token"])
    django_header, django_claims = claims_of(django.json()["access_token"])
    assert fast_header == django_header
    assert list(fast_claims) == list(django_claims)
    for name in ("iss", "sub", "aud", "client_id", "scope", "auth_time"):
        assert fast_claims.get(name) == django_claims.get(name), name
    assert fast_claims["exp"] - fast_claims["iat"] == fast.json()["expires_in"]


def test_a_code_exchange_is_served_natively_and_matches_dot(pair):
    """RFC 6749 §4.1.3, §5.1: the same answer, the same access-token claims."""
    before = pair.served("token")
    fast, django = exchanged_pair(pair)
    assert_same_tokens(fast, django)
    assert pair.served("token") == before + 1


def test_a_refresh_is_served_natively_and_matches_dot(pair):
    """RFC 6749 §6: refresh tokens minted by either server rotate alike on both."""
    fast, django = exchanged_pair(pair)
    before = pair.served("token")
    refreshed = (
        refresh_on(pair, "fast", fast.json()["refresh_token"]),
        refresh_on(pair, "django", django.json()["refresh_token"]),
    )
    assert_same_tokens(*refreshed)
    assert pair.served("token") == before + 1
    crossed = (
        refresh_on(pair, "fast", refreshed[1].json()["refresh_token"]),
        refresh_on(pair, "django", refreshed[0].json()["refresh_token"]),
    )
    assert_same_tokens(*crossed)
    assert pair.served("token") == before + 2
    narrowed = (
        refresh_on(pair, "fast", crossed[0].json()["refresh_token"], scope="email"),
        refresh_on(pair, "django", crossed[1].json()["refresh_token"], scope="email"),
    )
    assert_same_tokens(*narrowed)
    assert narrowed[0].json()["scope"] == "email"


def assert_same_id_tokens(fast: httpx.Response, django: httpx.Response) -> None:
    """OIDC Core §2, §3.1.3.6: the same header and claims, each bound to its access token."""
    fast_header, fast_claims = claims_of(fast.json()["id_token"])
    django_header, django_claims = claims_of(django.json()["id_token"])
    assert fast_header == django_header
    assert list(fast_claims) == list(django_claims)
    for name in ("aud", "iss", "sub", "auth_time", "amr", "acr", "sid", "nonce", "email"):
        assert fast_claims.get(name) == django_claims.get(name), name
    assert fast_claims["exp"] - fast_claims["iat"] == django_claims["exp"] - django_claims["iat"]
    for answer, claims in ((fast, fast_claims), (django, django_claims)):
        digest = hashlib.sha256(answer.json()["access_token"].encode()).digest()
        expected = base64.urlsafe_b64encode(digest[:16]).decode().rstrip("=")
        assert claims["at_hash"] == expected


def test_an_openid_code_exchange_is_served_natively_with_the_same_id_token(pair):
    """OIDC Core §3.1.3.3: the ID token is built as DOT and the validator build it."""
    before = pair.served("token")
    fast, django = exchanged_pair(pair, scope="openid profile email")
    assert_same_tokens(fast, django)
    assert list(fast.json())[-1] == "id_token"
    assert_same_id_tokens(fast, django)
    assert pair.served("token") == before + 1
    refreshed = (
        refresh_on(pair, "fast", fast.json()["refresh_token"]),
        refresh_on(pair, "django", django.json()["refresh_token"]),
    )
    assert_same_tokens(*refreshed)
    assert_same_id_tokens(*refreshed)
    assert pair.served("token") == before + 2


def _introspect_both(pair, token: str):
    return pair.both(
        "POST", "/oauth/introspect", data={"token": token}, auth=auth(pair.clients["service"])
    )


def test_user_grant_tokens_introspect_and_revoke_identically(pair):
    """RFC 7662 §2.2, RFC 7009 §2.1: tokens from either server's grants answer the same on
    both, and a refresh ends the access token it replaced on both."""
    fast, django = exchanged_pair(pair)
    for minted in (fast, django):
        answers = _introspect_both(pair, minted.json()["access_token"])
        assert answers[0].json()["active"] is True
        assert answers[0].json() == answers[1].json()
    refreshed = refresh_on(pair, "fast", fast.json()["refresh_token"])
    assert refreshed.status_code == 200
    answers = _introspect_both(pair, fast.json()["access_token"])
    assert answers[0].json() == answers[1].json() == {"active": False}
    web = pair.clients["web"]
    revoked = pair.django.post(
        "/oauth/revoke", data={"token": refreshed.json()["refresh_token"]}, auth=auth(web)
    )
    assert revoked.status_code == 200
    answers = _introspect_both(pair, refreshed.json()["access_token"])
    assert answers[0].json() == answers[1].json() == {"active": False}


CODE_ERRORS = {
    "wrong verifier": dict(code_verifier="w" * 43),
    "missing verifier": dict(code_verifier=None),
    "wrong redirect_uri": dict(redirect_uri="https://rp.example/other"),
    "code for another client": dict(client="web2"),
    "wrong client secret": dict(secret="wrong"),
    "code in the query": dict(query=True),
    "unknown code": dict(code="no-such-code"),
}


@pytest.mark.parametrize("case", list(CODE_ERRORS))
def test_a_code_exchange_error_matches_dot(pair, case):
    """RFC 6749 §4.1.3, §5.2, RFC 7636 §4.6: the same error on both, and afterwards the
    code is in the same state on both (a failed PKCE or redirect_uri check spends it)."""
    change = dict(CODE_ERRORS[case])
    answers, retries = [], []
    for server, (code, verifier) in zip(("fast", "django"), issue_codes(pair, 2), strict=True):
        http = pair.fast if server == "fast" else pair.django
        client = pair.clients[change.get("client", "web")]
        data = {
            "grant_type": "authorization_code",
            "code": change.get("code", code),
            "redirect_uri": change.get("redirect_uri", REDIRECT_URI),
            "code_verifier": change.get("code_verifier", verifier),
        }
        data = {name: value for name, value in data.items() if value is not None}
        credentials = (client["client_id"], change.get("secret", client["client_secret"]))
        if change.get("query"):
            answers.append(http.post("/oauth/token", params=data, data={}, auth=credentials))
        else:
            answers.append(http.post("/oauth/token", data=data, auth=credentials))
        retries.append(exchange_on(pair, server, code, verifier))
    assert answers[0].status_code >= 400
    assert_same(*answers)
    assert retries[0].status_code == retries[1].status_code, (retries[0].text, retries[1].text)
    assert_same(*retries)


def test_an_expired_code_matches_dot(pair):
    (fast_code, fast_verifier), (django_code, django_verifier) = issue_codes(pair, 2, expires_in=-1)
    fast = exchange_on(pair, "fast", fast_code, fast_verifier)
    django = exchange_on(pair, "django", django_code, django_verifier)
    assert fast.json()["error"] == "invalid_grant"
    assert_same(fast, django)


def test_a_replayed_code_revokes_the_family_on_both(pair):
    """RFC 9700 §4.5, OAuth 2.1 §4.1.3: the replay is invalid_grant, and every token the
    code minted (and its refreshes minted since) is inactive on both servers."""
    codes = issue_codes(pair, 2)
    first, refreshed, replays = [], [], []
    for server, (code, verifier) in zip(("fast", "django"), codes, strict=True):
        first.append(exchange_on(pair, server, code, verifier))
        refreshed.append(refresh_on(pair, server, first[-1].json()["refresh_token"]))
        replays.append(exchange_on(pair, server, code, verifier))
    assert replays[0].json()["error"] == "invalid_grant"
    assert_same(*replays)
    for answer in refreshed:
        introspected = _introspect_both(pair, answer.json()["access_token"])
        assert introspected[0].json() == introspected[1].json() == {"active": False}
        again = (
            refresh_on(pair, "fast", answer.json()["refresh_token"]),
            refresh_on(pair, "django", answer.json()["refresh_token"]),
        )
        assert again[0].json()["error"] == "invalid_grant"
        assert_same(*again)


def test_a_reused_refresh_token_revokes_the_family_on_both(pair):
    """RFC 9700 §4.14.2: a rotated refresh token that comes back is invalid_grant, and the
    whole family (the newest pair included) ends on both servers."""
    fast, django = exchanged_pair(pair)
    rotated = (
        refresh_on(pair, "fast", fast.json()["refresh_token"]),
        refresh_on(pair, "django", django.json()["refresh_token"]),
    )
    reused = (
        refresh_on(pair, "fast", fast.json()["refresh_token"]),
        refresh_on(pair, "django", django.json()["refresh_token"]),
    )
    assert reused[0].json()["error"] == "invalid_grant"
    assert_same(*reused)
    for answer in rotated:
        introspected = _introspect_both(pair, answer.json()["access_token"])
        assert introspected[0].json() == introspected[1].json() == {"active": False}
        newest = (
            refresh_on(pair, "fast", answer.json()["refresh_token"]),
            refresh_on(pair, "django", answer.json()["refresh_token"]),
        )
        assert_same(*newest)
        assert newest[0].json()["error"] == "invalid_grant"


REFRESH_ERRORS = {
    "scope widening": dict(scope="profile email roles"),
    "unknown scope": dict(scope="nonexistent"),
    "wrong client secret": dict(secret="wrong"),
    "another client": dict(client="web2"),
    "unknown refresh token": dict(refresh_token="no-such-token"),
    "no refresh token": dict(refresh_token=None),
    "an access token": dict(refresh_token="ACCESS"),
}


@pytest.mark.parametrize("case", list(REFRESH_ERRORS))
def test_a_refresh_error_matches_dot(pair, case):
    """RFC 6749 §6, §5.2: the same error on both, and the presented token is still usable
    (or not) alike on both afterwards."""
    change = dict(REFRESH_ERRORS[case])
    minted = exchanged_pair(pair)
    answers, retries = [], []
    for server, token in zip(("fast", "django"), minted, strict=True):
        http = pair.fast if server == "fast" else pair.django
        client = pair.clients[change.get("client", "web")]
        presented = change.get("refresh_token", token.json()["refresh_token"])
        if presented == "ACCESS":
            presented = token.json()["access_token"]
        data = {"grant_type": "refresh_token", "refresh_token": presented}
        if "scope" in change:
            data["scope"] = change["scope"]
        data = {name: value for name, value in data.items() if value is not None}
        credentials = (client["client_id"], change.get("secret", client["client_secret"]))
        answers.append(http.post("/oauth/token", data=data, auth=credentials))
        retries.append(refresh_on(pair, server, token.json()["refresh_token"]))
    assert answers[0].status_code >= 400
    assert_same(*answers)
    assert_same(*retries)
