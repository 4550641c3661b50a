"""The URL `make run` served on is the one later commands use (invitation links, bootstrap
output, the issuer), with no AUTHSITE_PUBLIC_URL exported; the environment still wins."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import httpx
import pytest

from tests.support.servers import REPO, base_env, free_port, manage

pytestmark = pytest.mark.slow


@pytest.fixture
def make_run(tmp_path):
    """`make run PORT=<free port>` as a person types it, in an empty var directory."""
    port = free_port()
    env = base_env(tmp_path)
    log = open(tmp_path / "make-run.log", "w+")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        # -o: the virtualenv is there already; make must not reinstall it here.
        [
            "make",
            "-o",
            ".venv/.installed",
            "run",
            f"PORT={port}",
            "PY=" + str(REPO / ".venv/bin/python"),
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert process.poll() is None, (tmp_path / "make-run.log").read_text()
            try:
                if httpx.get(f"{url}/health/live", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        else:
            pytest.fail("make run did not serve:\n" + (tmp_path / "make-run.log").read_text())
        yield url, env, tmp_path / "make-run.log"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def test_commands_in_another_shell_use_the_url_make_run_served_on(make_run):
    url, env, log = make_run
    assert f"{url}/admin/" in log.read_text()  # make run's own bootstrap output

    discovery = httpx.get(f"{url}/.well-known/openid-configuration").json()
    assert discovery["issuer"] == url

    invite = manage(env, "invite", "new.person@example.com")  # a new shell: nothing exported
    assert invite.returncode == 0, invite.stderr
    assert invite.stdout.startswith(f"{url}/accounts/register/")

    bootstrap = manage(env, "bootstrap", "--json")
    assert bootstrap.returncode == 0, bootstrap.stderr
    assert json.loads(bootstrap.stdout)["issuer"] == url

    # The environment still wins over what make run recorded.
    chosen = "https://id.example.com"
    override = manage({**env, "AUTHSITE_PUBLIC_URL": chosen}, "invite", "other@example.com")
    assert override.returncode == 0, override.stderr
    assert override.stdout.startswith(f"{chosen}/accounts/register/")
