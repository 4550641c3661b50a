"""The gunicorn worker class: uvicorn, with proxy handling and access logs left to Django.

uvicorn would otherwise rewrite the client address from X-Forwarded-For on its
own trust list and write access lines that include query strings (where an
``access_token`` sent by mistake would land). authsite does both itself, in
:mod:`authsite.middleware`, from ``AUTHSITE_TRUSTED_PROXIES``.
"""

from __future__ import annotations

from uvicorn_worker import UvicornWorker as _UvicornWorker


class UvicornWorker(_UvicornWorker):
    CONFIG_KWARGS = {
        "loop": "auto",
        "http": "auto",
        "proxy_headers": False,
        "access_log": False,
        "server_header": False,
        "lifespan": "off",
    }
