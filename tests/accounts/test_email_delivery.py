"""The verification e-mail really leaves: web server → broker → Celery worker → SMTP.

Everything is a real process: gunicorn serving authsite on a fresh PostgreSQL
database, a Celery worker consuming a queue of its own on the real broker,
and an SMTP sink (aiosmtpd) started here. The message that arrives must carry
a text and an HTML part and a link that verifies the account.
"""

from __future__ import annotations

import email
import html
import re
import subprocess
import threading
import time
import uuid
from email import policy

import httpx
import pytest
from aiosmtpd.controller import Controller

from tests.support.servers import BIN, REPO, Server, base_env, free_port, manage

pytestmark = [
    pytest.mark.slow,
    pytest.mark.broker,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
VERIFIED_SQL = "select email_verified from accounts_user where email = 'carol@example.com'"


class Inbox:
    """aiosmtpd handler keeping every message it is given."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.arrived = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        self.arrived.set()
        return "250 Message accepted"


def start_worker(env: dict[str, str], queue: str, log_path) -> subprocess.Popen:
    with open(log_path, "w") as log:
        return subprocess.Popen(
            [
                str(BIN / "celery"),
                "-A",
                "authsite",
                "worker",
                "-Q",
                queue,
                "--pool",
                "solo",
                "--without-gossip",
                "--without-mingle",
                "-l",
                "info",
            ],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def wait_for(text: str, log_path, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while text not in log_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    return text in log_path.read_text()


def is_verified(postgres_url) -> bool:
    import psycopg

    with psycopg.connect(postgres_url["url"].replace("postgres://", "postgresql://", 1)) as conn:
        return conn.execute(VERIFIED_SQL).fetchone()[0]


def test_verification_email_is_delivered_by_a_worker_and_its_link_works(
    tmp_path, broker_url, postgres_url
):
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    queue = f"authsite-mail-{uuid.uuid4().hex[:8]}"
    env = base_env(
        tmp_path,
        DATABASE_URL=postgres_url["url"],
        CELERY_BROKER_URL=broker_url,
        CELERY_TASK_DEFAULT_QUEUE=queue,
        EMAIL_URL=f"smtp://127.0.0.1:{smtp.port}",
        DEFAULT_FROM_EMAIL="authsite <noreply@authsite.test>",
        AUTHSITE_REGISTRATION_MODE="open",
    )
    migrate = manage(env, "migrate", "--noinput")
    assert migrate.returncode == 0, migrate.stderr
    server = Server(env)
    # Links in e-mails are built from the public URL: point it at this server.
    server.env["AUTHSITE_PUBLIC_URL"] = env["AUTHSITE_PUBLIC_URL"] = server.url

    smtp.start()
    worker = None
    try:
        server.start()
        worker = start_worker(env, queue, tmp_path / "worker.log")
        with httpx.Client(base_url=server.url, timeout=10) as browser:
            form = browser.get("/accounts/register/")
            assert form.status_code == 200, form.text[:300]
            registered = browser.post(
                "/accounts/register/",
                data={
                    "csrfmiddlewaretoken": CSRF.search(form.text).group(1),
                    "email": "carol@example.com",
                    "username": "carol",
                    "password1": "a long and unusual passphrase 7",
                    "password2": "a long and unusual passphrase 7",
                },
            )
            assert registered.status_code == 303, registered.text[:500]
            assert registered.headers["location"] == "/accounts/register/done/"

            arrived = inbox.arrived.wait(timeout=30)
            assert arrived, (tmp_path / "worker.log").read_text()[-3000:]
            [message] = inbox.messages
            assert message["To"] == "carol@example.com"
            assert "Confirm your e-mail address" in message["Subject"]
            text = message.get_body(("plain",)).get_content()
            html_part = message.get_body(("html",)).get_content()
            link = re.search(re.escape(server.url) + r"/accounts/verify/[^\s]+/", text).group(0)
            assert html.escape(link) in html_part or link in html_part
            assert wait_for("succeeded", tmp_path / "worker.log"), "the worker did not finish"
            assert not is_verified(postgres_url)

            # A fresh browser (the person opens the mail elsewhere): GET, then confirm.
            with httpx.Client(timeout=10) as elsewhere:
                confirm = elsewhere.get(link)
                assert confirm.status_code == 200, confirm.text[:300]
                assert not is_verified(postgres_url)
                done = elsewhere.post(
                    link, data={"csrfmiddlewaretoken": CSRF.search(confirm.text).group(1)}
                )
                assert done.status_code == 200, done.text[:300]
                assert "Your e-mail address is verified" in done.text
            assert is_verified(postgres_url)
    finally:
        if worker is not None:
            stop(worker)
        server.stop()
        smtp.stop()
