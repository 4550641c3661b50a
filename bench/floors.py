"""The floors: what a request costs before authsite does anything.

Served by a second gunicorn with deploy/gunicorn.conf.py (the product's server
configuration), with ``DJANGO_SETTINGS_MODULE=bench.floors`` so that Django runs
authsite's own settings and middleware but only the trivial view below:

- ``/floor/django``: a Django view returning two bytes, through authsite's middleware;
- ``/floor/asgi``: a raw ASGI callable, answered before Django is reached.

Nothing here is mounted in the product.
"""

from __future__ import annotations

from django.core.asgi import get_asgi_application  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from django.urls import path  # noqa: E402

from authsite.settings import *  # noqa: F403  (the product's settings, one URLconf less)

ROOT_URLCONF = "bench.floors"


def floor_view(request):
    return HttpResponse(b"ok", content_type="text/plain")


urlpatterns = [path("floor/django", floor_view)]

_django = None
_BODY = b"ok"
_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/plain"), (b"content-length", b"2")],
}


async def application(scope, receive, send):
    global _django
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "http" and scope["path"] == "/floor/asgi":
        await send(_START)
        await send({"type": "http.response.body", "body": _BODY})
        return
    if _django is None:
        _django = get_asgi_application()
    await _django(scope, receive, send)
