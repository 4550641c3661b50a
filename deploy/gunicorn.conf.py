"""gunicorn configuration: uvicorn workers serving authsite.asgi.

Every value can be set from the environment (documented in the README).
Run: gunicorn -c deploy/gunicorn.conf.py authsite.asgi:application
"""

import multiprocessing
import os
import shutil
import tempfile

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
worker_class = "authsite.workers.UvicornWorker"
# Without Redis the cache, counters and rate limits live in each process's
# memory, so the embedded default runs one worker; with Redis, 2 x cores + 1.
_default_workers = 2 * multiprocessing.cpu_count() + 1 if os.environ.get("REDIS_URL") else 1
workers = int(os.environ.get("WEB_CONCURRENCY", _default_workers))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "20"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "0"))
# Proxy headers are handled by authsite from AUTHSITE_TRUSTED_PROXIES.
forwarded_allow_ips = ""
# Access lines are written by authsite itself: one structured line per
# request (text or JSON after LOG_FORMAT, request id included, query strings
# left out because they may carry a code or token); AUTHSITE_ACCESS_LOG=false
# turns them off. uvicorn's own access log is disabled in the worker class.
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
proc_name = "authsite"

_metrics_dir = None


# gunicorn 27's control socket is not used; keep nothing listening that needs no listener.
control_socket_disable = True


def on_starting(server):
    """Validate the configuration in the master, then prepare shared metrics.

    Loading Django's settings here makes an insecure or invalid configuration
    stop gunicorn with its one-line message; raised in a worker instead, it
    would only make gunicorn restart that worker forever.
    """
    global _metrics_dir
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "authsite.settings")
    from django.conf import settings

    settings.SECRET_KEY  # noqa: B018  (importing the settings runs the start-up checks)
    # prometheus_client multiprocess mode, so /metrics sums every worker.
    if workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        _metrics_dir = tempfile.mkdtemp(prefix="authsite-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir


def child_exit(server, worker):
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _metrics_dir:
        shutil.rmtree(_metrics_dir, ignore_errors=True)


# --- The embedded scheduler (authsite/scheduler.py) ---------------------------------------
def post_worker_init(worker):
    """Without a broker, run the periodic jobs (key rotation, audit seals, token clean-up,
    retention) in this server: every worker starts the thread, one at a time holds the lock."""
    from authsite.scheduler import start_embedded_scheduler

    start_embedded_scheduler()


# gunicorn's own lines (start-up, worker boots, errors) in authsite's format,
# so a LOG_FORMAT=json deployment writes nothing but JSON lines.
_formatter = (
    {"()": "common.logging.JsonFormatter"}
    if os.environ.get("LOG_FORMAT", "text") == "json"
    else {
        "()": "common.logging.TextFormatter",
        "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
    }
)
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_context": {"()": "common.logging.RequestContextFilter"},
        "redact_secrets": {"()": "common.logging.RedactSecretsFilter"},
    },
    "formatters": {"authsite": _formatter},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "authsite",
            "filters": ["request_context", "redact_secrets"],
            "stream": "ext://sys.stderr",
        }
    },
    "loggers": {
        "gunicorn.error": {"handlers": ["console"], "level": loglevel.upper(), "propagate": False},
        "gunicorn.access": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
