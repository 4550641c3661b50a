"""ASGI entry point served by gunicorn with uvicorn workers.

Static files are answered by ServeStatic in front of Django, so they never
enter the middleware stack.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from servestatic import ServeStaticASGI

from django.conf import settings
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "authsite.settings")

django_application = get_asgi_application()
static_root = Path(settings.STATIC_ROOT)
if not static_root.is_dir():
    logging.getLogger(__name__).warning(
        "STATIC_ROOT %s does not exist: run manage.py collectstatic", static_root
    )
application = ServeStaticASGI(
    django_application,
    root=static_root if static_root.is_dir() else None,
    prefix=settings.STATIC_URL,
    max_age=3600,
)
