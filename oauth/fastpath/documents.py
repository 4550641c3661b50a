"""Discovery (both ``.well-known`` documents) and JWKS, served from memory.

Each document is rendered by Django's own view (oauth/views.py), once per
worker and per version, in a thread, and then served as bytes: the same body,
the same headers and the same strong ``ETag`` (a hash of the canonical JSON,
so every worker of every instance gives the same one), and the same ``304``
when ``If-None-Match`` names it. A signing key change replaces
``oauth.keys.KEYS_VERSION_CACHE_KEY``; the version poller
(oauth/fastpath/backends.py) sees it within a second and the next request
renders again. Without Redis a rendering is kept at most ``keys.MEMO_SECONDS``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from django.db import connections
from django.test import RequestFactory
from django.urls import reverse

from oauth import keys, views
from oauth.fastpath.http import Response

logger = logging.getLogger(__name__)

VIEWS = {
    "openid-configuration": views.openid_configuration,
    "authorization-server-metadata": views.authorization_server_metadata,
    "jwks": views.jwks,
}


@dataclass(frozen=True)
class Rendered:
    etag: str
    full: Response
    not_modified: Response
    at: float


def _answer(response) -> Response:
    return Response(response.status_code, bytes(response.content), list(response.items()))


def render(name: str) -> Rendered:
    """Ask Django's view for the document and for its 304 (runs in a thread)."""
    try:
        factory = RequestFactory()
        path = reverse(f"oauth:{name}")
        full = VIEWS[name](factory.get(path))
        etag = full["ETag"]
        not_modified = VIEWS[name](factory.get(path, HTTP_IF_NONE_MATCH=etag))
        return Rendered(etag, _answer(full), _answer(not_modified), time.monotonic())
    finally:
        connections.close_all()  # this thread's connections go back to the pool


class Documents:
    def __init__(self, backends) -> None:
        self.rendered: dict[str, Rendered] = {}
        self.generation = 0
        self.pending: dict[str, asyncio.Future] = {}
        backends.watch(keys.KEYS_VERSION_CACHE_KEY, self.forget)

    def forget(self) -> None:
        self.generation += 1
        self.rendered = {}

    async def get(self, name: str) -> Rendered:
        current = self.rendered.get(name)
        if current is not None and time.monotonic() - current.at < keys.MEMO_SECONDS:
            return current
        pending = self.pending.get(name)
        if pending is None:
            pending = asyncio.ensure_future(self._render(name))
            self.pending[name] = pending
        return await asyncio.shield(pending)

    async def _render(self, name: str) -> Rendered:
        generation = self.generation
        try:
            rendered = await asyncio.to_thread(render, name)
        finally:
            self.pending.pop(name, None)
        if generation == self.generation:
            self.rendered[name] = rendered
        return rendered

    def handler(self, name: str):
        async def handle(request) -> Response | None:
            if request.method != "GET" or "if-none-match" in request.repeated:
                return None  # Django's 405, or its reading of several validators
            try:
                rendered = await self.get(name)
            except Exception:  # the database, say: Django answers (its 503) and logs
                logger.warning("fast path could not render %s; Django answers", name)
                return None
            if rendered.full.status != 200:
                return None
            if request.header("if-none-match") == rendered.etag:
                return rendered.not_modified
            return rendered.full

        return handle
