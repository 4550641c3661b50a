"""authsite's settings with every periodic job due each second and no audit seal grace.

For tests of the embedded scheduler (tests/authsite/test_embedded_scheduler.py),
which must see seals and rotations within seconds of a server starting.
"""

from authsite.settings import *  # noqa: F403
from authsite.settings import CELERY_BEAT_SCHEDULE as _SCHEDULE

AUTHSITE_AUDIT_SEAL_GRACE_SECONDS = 0
CELERY_BEAT_SCHEDULE = {name: {**entry, "schedule": 1.0} for name, entry in _SCHEDULE.items()}
