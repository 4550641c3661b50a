"""With CELERY_BROKER_URL set, tasks leave the web process and a real worker runs them."""

from __future__ import annotations

import subprocess
import time
import uuid

import pytest

from tests.support.servers import BIN, REPO, base_env, manage

pytestmark = [pytest.mark.slow, pytest.mark.broker]

SEED_EXPIRED_GRANT = """
from datetime import timedelta
from django.utils import timezone
from accounts.models import User
from oauth.models import Application, Grant
user = User.objects.create_user(email="w@example.com", password="worker test password 1")
app = Application.objects.create(name="w", client_type="public",
    authorization_grant_type="authorization-code", redirect_uris="https://rp.example/cb")
common = dict(user=user, application=app, redirect_uri="https://rp.example/cb",
    code_challenge="x" * 43, code_challenge_method="S256")
Grant.objects.create(code="expired-code", expires=timezone.now() - timedelta(minutes=5), **common)
Grant.objects.create(code="live-code", expires=timezone.now() + timedelta(minutes=5), **common)
"""
COUNT_GRANTS = (
    "from oauth.models import Grant; print(sorted(Grant.objects.values_list('code', flat=True)))"
)
ENQUEUE = (
    "from oauth.tasks import clear_expired_tokens; r = clear_expired_tokens.delay(); print(r.id)"
)


def shell(env, code):
    result = manage(env, "shell", "--verbosity", "0", "-c", code)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_task_is_sent_to_the_broker_and_run_by_a_worker(tmp_path, broker_url):
    queue = f"authsite-test-{uuid.uuid4().hex[:8]}"
    env = base_env(tmp_path, CELERY_BROKER_URL=broker_url, CELERY_TASK_DEFAULT_QUEUE=queue)
    assert manage(env, "migrate", "--noinput").returncode == 0
    shell(env, SEED_EXPIRED_GRANT)

    task_id = shell(env, ENQUEUE)
    # Nothing ran inline: the expired code is still there until a worker consumes the queue.
    assert shell(env, COUNT_GRANTS) == "['expired-code', 'live-code']"

    log = tmp_path / "worker.log"
    with open(log, "w") as out:
        worker = subprocess.Popen(
            [
                str(BIN / "celery"),
                "-A",
                "authsite",
                "worker",
                "--pool=solo",
                "-Q",
                queue,
                "--without-gossip",
                "--without-mingle",
                "-l",
                "info",
            ],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while f"{task_id}] succeeded" not in log.read_text() and time.monotonic() < deadline:
            assert worker.poll() is None, log.read_text()
            time.sleep(0.3)
        assert f"Task oauth.clear_expired_tokens[{task_id}] succeeded" in log.read_text()
    finally:
        worker.terminate()
        worker.wait(timeout=20)
    assert shell(env, COUNT_GRANTS) == "['live-code']"
