"""ASGI entry point served by gunicorn with uvicorn workers.

Static files are answered by ServeStatic in front of Django, so they never
enter the middleware stack.
"""

from __future__ import annotations

import os

from servestatic import ServeStaticASGI

from django.conf import settings
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "authsite.settings")

django_application = get_asgi_application()
application = ServeStaticASGI(
    django_application,
    root=settings.STATIC_ROOT,
    prefix=settings.STATIC_URL,
    max_age=3600,
)
