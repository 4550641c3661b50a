"""The ASGI application gunicorn's uvicorn workers serve."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dot.settings")
application = get_asgi_application()
