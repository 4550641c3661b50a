"""The embedded scheduler: the periodic jobs run inside the web server when there is no broker.

With ``CELERY_BROKER_URL`` set, Celery beat (one per cluster) sends the jobs of
``CELERY_BEAT_SCHEDULE`` to workers. Without a broker (the embedded default,
``make run``) tasks run inline and no beat exists, so nothing would ever seal
the audit trail, rotate signing keys, clear expired tokens or apply retention.
This module runs the same schedule in a thread of the web server instead:

- every gunicorn worker starts the thread (``post_worker_init`` in
  ``deploy/gunicorn.conf.py``), but only the one holding an exclusive lock on
  ``<AUTHSITE_VAR_DIR>/scheduler.lock`` runs jobs. A server therefore runs one
  scheduler however many workers it has; when that worker exits, the kernel
  releases the lock and another worker takes over within seconds.
- Jobs run one at a time, inline: the same task functions beat would send,
  found by the same names, due by the same ``schedule`` values.
- When each job last ran is kept in ``scheduler-state.json`` next to the
  lock, so a server that is often restarted still runs its daily jobs.

The worker runs it rather than the gunicorn master because a thread doing
database work in the master would be forked into every new worker mid-flight.

A file lock keeps the servers sharing one var directory (one host) apart.
Separate hosts sharing a database without a broker would each run the
schedule; every job is safe to run concurrently (row locks), at the cost of
doing the work more than once. A cluster should run a broker and beat.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from celery.schedules import maybe_schedule

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connections

from authsite.celery import app
from common.conf import authsite_settings

logger = logging.getLogger(__name__)

LOCK_FILE = "scheduler.lock"
STATE_FILE = "scheduler-state.json"


class EmbeddedScheduler:
    """Run ``schedule`` (``CELERY_BEAT_SCHEDULE``'s shape) while holding the var-dir lock."""

    def __init__(
        self,
        schedule: dict,
        var_dir: Path,
        *,
        lock_retry_seconds: float = 5.0,
        max_sleep_seconds: float = 5.0,
    ) -> None:
        self.app = app
        self.jobs = {
            name: (entry["task"], maybe_schedule(entry["schedule"], app=app), entry)
            for name, entry in schedule.items()
        }
        self.var_dir = Path(var_dir)
        self.lock_retry_seconds = lock_retry_seconds
        self.max_sleep_seconds = max_sleep_seconds
        self._stop = threading.Event()
        self._reported: set[str] = set()
        self._failures: dict[str, int] = {}
        self._thread: threading.Thread | None = None

    # --- life cycle ---------------------------------------------------------------

    def start(self) -> EmbeddedScheduler:
        self._thread = threading.Thread(target=self._main, name="authsite-scheduler", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _main(self) -> None:
        try:
            lock = self._acquire_lock()
            if lock is None:
                return  # stopped before getting the lock
            with lock:
                logger.info(
                    "embedded scheduler running in process %s: %s",
                    os.getpid(),
                    ", ".join(sorted(self.jobs)),
                )
                self.app.loader.import_default_modules()  # every app's tasks.py
                self._loop()
        except Exception:  # the server keeps serving; say why the jobs stopped
            logger.exception("embedded scheduler stopped")

    def _acquire_lock(self):
        """Block (until stopped) on the var directory's scheduler lock; the open file holds it."""
        self.var_dir.mkdir(parents=True, exist_ok=True)
        handle = open(self.var_dir / LOCK_FILE, "a+")  # held open for the thread's life
        while not self._stop.is_set():
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self._stop.wait(self.lock_retry_seconds)
                continue
            return handle
        handle.close()
        return None

    # --- the jobs ---------------------------------------------------------------------

    def _loop(self) -> None:
        state = self._load_state()
        while not self._stop.is_set():
            wait = self.max_sleep_seconds
            for name, (task_name, schedule, entry) in self.jobs.items():
                if self._stop.is_set():
                    return
                last = state.get(name)
                if last is None:
                    due, next_in = True, schedule.remaining_estimate(self._now()).total_seconds()
                else:
                    due, next_in = schedule.is_due(datetime.fromtimestamp(last, tz=UTC))
                if due:
                    self._run(name, task_name, entry)
                    state[name] = time.time()
                    self._save_state(state)
                wait = min(wait, max(float(next_in), 0.1))
            self._stop.wait(wait)

    def _run(self, name: str, task_name: str, entry: dict) -> None:
        close_old_connections()
        started = time.monotonic()
        try:
            result = self.app.tasks[task_name](*entry.get("args", ()), **entry.get("kwargs", {}))
        except Exception as exc:
            # One traceback per run of failures (a database outage fails every job each
            # period), then a line with the count until the job succeeds again.
            failures = self._failures[name] = self._failures.get(name, 0) + 1
            if failures == 1 and isinstance(exc, DatabaseError):
                # An outage, not a bug: readiness and the 503s report it; no traceback.
                logger.warning(
                    "scheduled job %s skipped: database unavailable (%s)",
                    name,
                    type(exc).__name__,
                )
            elif failures == 1:
                logger.exception("scheduled job %s (%s) failed", name, task_name)
            else:
                logger.warning(
                    "scheduled job %s failed again (%s; %d times in a row)",
                    name,
                    type(exc).__name__,
                    failures,
                )
        else:
            self._failures.pop(name, None)
            # Once per job and server start, and whenever a job changed something;
            # otherwise a minutely job would write 1,440 lines a day saying nothing.
            first = name not in self._reported
            self._reported.add(name)
            logger.log(
                logging.INFO if first or result else logging.DEBUG,
                "scheduled job %s done in %.2fs%s",
                name,
                time.monotonic() - started,
                f": {result}" if result else "",
            )
        finally:
            # This thread's connections (SQLite file locks, pooled PostgreSQL) go back.
            connections.close_all()

    def _now(self) -> datetime:
        return datetime.now(tz=UTC)

    def _load_state(self) -> dict[str, float]:
        try:
            data = json.loads((self.var_dir / STATE_FILE).read_text())
        except (OSError, ValueError):
            return {}
        return {k: float(v) for k, v in data.items() if k in self.jobs}

    def _save_state(self, state: dict[str, float]) -> None:
        path = self.var_dir / STATE_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
        tmp.replace(path)


def start_embedded_scheduler() -> EmbeddedScheduler | None:
    """Start the scheduler thread when no broker is configured (else beat runs the jobs)."""
    if authsite_settings.BROKER_CONFIGURED or not settings.CELERY_BEAT_SCHEDULE:
        return None
    return EmbeddedScheduler(settings.CELERY_BEAT_SCHEDULE, Path(settings.VAR_DIR)).start()
