"""The Celery application (the standard Celery-Django layout).

Configuration comes from Django settings prefixed ``CELERY_``. With no
``CELERY_BROKER_URL`` tasks run inline (``CELERY_TASK_ALWAYS_EAGER``).
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "authsite.settings")

app = Celery("authsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
