"""The router: a plain ASGI application in front of Django (``wrap``).

It answers exactly the paths in its route table and passes every other
request to the wrapped application without reading it. On its own paths it
does what Django's middleware would (authsite/middleware.py): the request id
(the caller's ``X-Request-ID`` when sane, else a new one, in the response and
on every log line), the same security headers, the ALLOWED_HOSTS check (400),
the same request metrics and access log line, and a try/except that logs an
unexpected exception with its traceback and answers a JSON 500 carrying the
request id. Bodies are capped at :data:`MAX_BODY_BYTES` (413, JSON).

A handler that returns ``None`` declines: the request goes to Django with its
buffered body replayed and the request id it was given, so Django answers
it exactly as if the fast path did not exist.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.urls import reverse

from common import metrics
from common.conf import authsite_settings
from common.logging import printable, request_id_var
from common.net import in_networks, resolve_client_ip
from common.web import CONTENT_SECURITY_POLICY, REQUEST_ID_HEADER, request_id_from
from oauth.fastpath import documents, introspection, revoke, token, userinfo
from oauth.fastpath.backends import DATABASE_UNAVAILABLE, Backends
from oauth.fastpath.http import NO_STORE, Request, Response

logger = logging.getLogger(__name__)
access_logger = logging.getLogger("authsite.access")

MAX_BODY_BYTES = 64 * 1024
_REQUEST_ID = REQUEST_ID_HEADER.lower().encode()


def enabled() -> bool:
    """``AUTHSITE_FAST_PATH``: ``off``; ``auto``, on with PostgreSQL and Redis; ``on``, the
    same, but saying so in the log when it cannot run (it needs both)."""
    mode = authsite_settings.FAST_PATH
    if mode == "off":
        return False
    postgres = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    usable = postgres and bool(authsite_settings.REDIS_URL)
    if mode == "on" and not usable:
        logger.warning(
            "AUTHSITE_FAST_PATH=on needs PostgreSQL and Redis: every request goes to Django"
        )
    return usable


def wrap(application):
    """The ASGI application to serve: the fast path in front of ``application``, or
    ``application`` itself when the fast path is off (``AUTHSITE_FAST_PATH``)."""
    if not enabled():
        return application
    return FastPath(application)


class FastPath:
    def __init__(self, inner) -> None:
        self.inner = inner
        self.backends = Backends()
        self.documents = documents.Documents(self.backends)
        self.clients = token.clients_for(self.backends)
        self.routes = {
            reverse("oauth:token"): ("token", token.Endpoint(self.backends, self.clients).handle),
            reverse("oauth:introspect"): (
                "introspect",
                introspection.Endpoint(self.backends, self.clients).handle,
            ),
            reverse("oauth:revoke"): (
                "revoke",
                revoke.Endpoint(self.backends, self.clients).handle,
            ),
            reverse("oauth:userinfo"): ("userinfo", userinfo.Endpoint(self.backends).handle),
            reverse("oauth:openid-configuration"): (
                "openid-configuration",
                self.documents.handler("openid-configuration"),
            ),
            reverse("oauth:authorization-server-metadata"): (
                "authorization-server-metadata",
                self.documents.handler("authorization-server-metadata"),
            ),
            reverse("oauth:jwks"): ("jwks", self.documents.handler("jwks")),
        }
        self.trusted_proxies = tuple(authsite_settings.TRUSTED_PROXIES)
        self.allowed_hosts = list(settings.ALLOWED_HOSTS)
        if settings.DEBUG and not self.allowed_hosts:  # as HttpRequest.get_host()
            self.allowed_hosts = [".localhost", "127.0.0.1", "[::1]"]
        self.security_headers = [
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", settings.SECURE_REFERRER_POLICY),
            ("Cross-Origin-Opener-Policy", "same-origin"),
            ("X-Frame-Options", settings.X_FRAME_OPTIONS),
        ]
        self.hsts = None
        if settings.SECURE_HSTS_SECONDS:
            self.hsts = f"max-age={settings.SECURE_HSTS_SECONDS}"
            if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
                self.hsts += "; includeSubDomains"
            if settings.SECURE_HSTS_PRELOAD:
                self.hsts += "; preload"
        self.proxy_ssl_header = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
        self.forwarded_host = getattr(settings, "USE_X_FORWARDED_HOST", False)

    # --- ASGI -------------------------------------------------------------------------------
    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            route = self.routes.get(scope["path"])
            if route is not None:
                return await self.serve(route, scope, receive, send)
        elif scope["type"] == "lifespan":
            return await self.lifespan(receive, send)
        return await self.inner(scope, receive, send)

    async def lifespan(self, receive, send) -> None:
        """Open the connections at start-up, close them at shutdown (Django's handler
        speaks no lifespan, so it is answered here and not passed on)."""
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.backends.pool()
                    self.backends.start_poller()
                except Exception as exc:  # the first request retries
                    logger.warning("fast path could not open its connections: %s", exc)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.backends.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def serve(self, route, scope, receive, send) -> None:
        started = time.perf_counter()
        name, handler = route
        headers: dict[str, str] = {}
        repeated = set()
        for raw_name, raw_value in scope["headers"]:
            key = raw_name.decode("latin-1").lower()
            if key in headers:
                repeated.add(key)
            headers[key] = raw_value.decode("latin-1")
        request_id = request_id_from(
            None if REQUEST_ID_HEADER.lower() in repeated else headers.get("x-request-id")
        )
        context = request_id_var.set(request_id)
        try:
            body, too_large = await self.read_body(receive, headers)
            meta = {"REMOTE_ADDR": (scope.get("client") or ("",))[0]}
            if "x-forwarded-for" in headers:
                meta["HTTP_X_FORWARDED_FOR"] = headers["x-forwarded-for"]
            client_ip = resolve_client_ip(meta, self.trusted_proxies)
            method = scope["method"]
            response = None
            if too_large:
                response = self.json_error(413, "The request body is too large.")
            elif (host := self.host(headers)) is None:
                response = None  # Django reads an absent or forwarded Host itself
                self.backends.start_poller()
                return await self.decline(name, scope, body, receive, send, request_id)
            elif not host:
                logger.warning("refused request (DisallowedHost): %s", printable(headers["host"]))
                response = self.json_error(
                    400, "The Host header names a host this server does not serve."
                )
            else:
                self.backends.start_poller()
                request = Request(
                    method=method,
                    path=scope["path"],
                    query=scope.get("query_string", b""),
                    headers=headers,
                    body=body,
                    client_ip=client_ip,
                    request_id=request_id,
                    repeated=frozenset(repeated),
                )
                try:
                    response = await handler(request)
                except DATABASE_UNAVAILABLE as exc:
                    # One line, no traceback: an outage is a state; Django answers its 503.
                    logger.warning("fast path %s: database unavailable (%s)", name, exc)
                    response = None
                except Exception:
                    logger.exception("fast path %s failed", name)
                    response = self.json_error(500)
                if response is None:
                    return await self.decline(name, scope, body, receive, send, request_id)
            await self.send(scope, send, response, request_id, headers)
            self.count(name, "served", method, response.status, started, scope, client_ip)
        finally:
            request_id_var.reset(context)

    async def read_body(self, receive, headers) -> tuple[bytes, bool]:
        """The whole body, or (what was read, True) past MAX_BODY_BYTES."""
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
            return b"", True
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break  # the client went away: the answer goes nowhere
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                return b"", True
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks), False

    def host(self, headers) -> str | None:
        """The request's host when allowed, ``""`` when refused, None when Django should
        decide (no Host header, or a forwarded one)."""
        if self.forwarded_host and "x-forwarded-host" in headers:
            return None
        host = headers.get("host")
        if not host:
            return None
        domain, _port = split_domain_port(host)
        return host if domain and validate_host(domain, self.allowed_hosts) else ""

    async def decline(self, name, scope, body, receive, send, request_id) -> None:
        """Hand the request to Django: its body replayed, its request id kept."""
        metrics.fastpath_requests_total.labels(name, "declined").inc()
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        headers = [(k, v) for k, v in scope["headers"] if k.lower() != _REQUEST_ID]
        headers.append((_REQUEST_ID, request_id.encode()))
        await self.inner({**scope, "headers": headers}, replay, send)

    def is_secure(self, scope, headers, client_ip) -> bool:
        if self.proxy_ssl_header and in_networks(
            (scope.get("client") or ("",))[0], self.trusted_proxies
        ):
            header, value = self.proxy_ssl_header
            name = header.removeprefix("HTTP_").replace("_", "-").lower()
            if name in headers:
                return headers[name].split(",")[0].strip() == value
        return scope.get("scheme") == "https"

    async def send(self, scope, send, response: Response, request_id: str, headers) -> None:
        out = [
            (name.encode("latin-1"), value.encode("latin-1")) for name, value in response.headers
        ]
        present = {name.lower() for name, _ in response.headers}
        out.append((b"content-length", str(len(response.body)).encode()))
        out.append((_REQUEST_ID, request_id.encode()))
        for name, value in self.security_headers:
            if name.lower() not in present:
                out.append((name.encode(), value.encode()))
        content_type = next(
            (value for name, value in response.headers if name.lower() == "content-type"), ""
        )
        if content_type.startswith("text/html"):
            out.append((b"content-security-policy", CONTENT_SECURITY_POLICY.encode()))
        if self.hsts and self.is_secure(scope, headers, ""):
            out.append((b"strict-transport-security", self.hsts.encode()))
        await send({"type": "http.response.start", "status": response.status, "headers": out})
        await send({"type": "http.response.body", "body": response.body})

    def count(self, name, outcome, method, status, started, scope, client_ip) -> None:
        elapsed = time.perf_counter() - started
        method = metrics.method_label(method)
        metrics.fastpath_requests_total.labels(name, outcome).inc()
        metrics.http_requests_total.labels(method, str(status)).inc()
        metrics.http_request_duration_seconds.labels(method).observe(elapsed)
        if authsite_settings.ACCESS_LOG:
            path = printable(scope["path"])
            access_logger.info(
                "%s %s %s %.1fms %s",
                method,
                path,
                status,
                elapsed * 1000,
                client_ip,
                extra={
                    "method": method,
                    "path": path,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                    "client_ip": client_ip,
                },
            )

    @staticmethod
    def json_error(status: int, description: str | None = None) -> Response:
        """The body authsite/errors.py's ``json_error`` gives (its fixed sentences)."""
        error, default = {
            400: ("invalid_request", "The request is malformed."),
            413: ("invalid_request", "The request body is too large."),
            500: ("server_error", "The server could not complete the request."),
        }[status]
        return Response.json(
            {"error": error, "error_description": description or default}, status, NO_STORE
        )
