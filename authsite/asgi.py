"""ASGI entry point served by gunicorn with uvicorn workers.

Static files are answered by ServeStatic in front of Django, so they never
enter the middleware stack. In front of both sits the application named by
the ``ASGI_FAST_PATH`` setting (oauth's native fast path for the hot OAuth
endpoints, docs/architecture.md "The request path"), loaded by dotted path
because authsite/ is wiring and imports no app; it returns the application
unchanged when ``AUTHSITE_FAST_PATH`` turns it off.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from servestatic import ServeStaticASGI

from django.conf import settings
from django.core.asgi import get_asgi_application
from django.utils.module_loading import import_string

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "authsite.settings")

django_application = get_asgi_application()
static_root = Path(settings.STATIC_ROOT)
if not static_root.is_dir():
    logging.getLogger(__name__).warning(
        "STATIC_ROOT %s does not exist: run manage.py collectstatic", static_root
    )
static_and_django = ServeStaticASGI(
    django_application,
    root=static_root if static_root.is_dir() else None,
    prefix=settings.STATIC_URL,
    max_age=3600,
)
application = (
    import_string(settings.ASGI_FAST_PATH)(static_and_django)
    if settings.ASGI_FAST_PATH
    else static_and_django
)
