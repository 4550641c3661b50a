"""authsite in the production shape, on 127.0.0.1 only.

gunicorn with uvicorn workers from deploy/gunicorn.conf.py, ``DEBUG`` off,
workers = cores, logging as shipped (one access line per request, to a
file), PostgreSQL and Redis named by the environment but pointed at
the benchmark's own database (created empty, dropped afterwards) and Redis
database (flushed first). The floors (bench/floors.py) run in a second
gunicorn with the same configuration.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx
import psycopg
import redis

from bench.targets.base import Scenario, Target
from tests.support.servers import REPO, base_env, free_port

SEED = REPO / "bench" / "seed.py"
BIN = Path(sys.executable).parent


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _with_redis_db(url: str, db: int) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{db}"))


def _set_cookies(response: httpx.Response) -> dict[str, str]:
    """Cookies the response sets (read by hand: they are Secure, and this is plain http)."""
    found = {}
    for header in response.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        found[name.strip()] = rest.split(";", 1)[0]
    return found


class Gunicorn:
    """One gunicorn in its own process group; stop() kills the whole group."""

    def __init__(
        self, app: str, env: dict[str, str], workers: int, log: Path, port: int | None = None
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = app
        self.env = {
            **env,
            "GUNICORN_BIND": f"127.0.0.1:{self.port}",
            "WEB_CONCURRENCY": str(workers),
        }
        self.log = log
        self.process: subprocess.Popen | None = None

    def start(self, probe: str, timeout: float = 60) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [str(BIN / "gunicorn"), "-c", "deploy/gunicorn.conf.py", self.app],
                cwd=REPO,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.app} exited with {self.process.returncode}: see {self.log}"
                )
            try:
                if httpx.get(self.url + probe, timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError(
            f"{self.app} did not answer {probe} within {timeout:.0f} s: see {self.log}"
        )

    def pids(self) -> list[int]:
        if not self.process or self.process.poll() is not None:
            return []
        return [self.process.pid, *self.workers()]

    def workers(self) -> list[int]:
        if not self.process:
            return []
        try:
            children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
            return [int(p) for p in children.read_text().split()]
        except FileNotFoundError:
            return []

    def stop(self) -> None:
        if not self.process:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait(timeout=10)


class AuthsiteTarget(Target):
    name = "authsite"

    def __init__(
        self,
        *,
        database_url: str,
        redis_url: str,
        database_name: str = "authsite_bench",
        scale: bool = False,
        quick: bool = False,
        workers: int | None = None,
        keep_database: bool = False,
    ) -> None:
        self.admin_url = database_url
        self.database_name = database_name
        self.database_url = _with_database(database_url, database_name)
        self.database_names = (database_name,)
        self.redis_url = redis_url
        self.users, self.tokens = (1_000_000, 10_000_000) if scale else (10_000, 100_000)
        if quick:
            self.users, self.tokens = 200, 1000
        self.clients = 100 if not quick else 3
        self.workers = workers or os.cpu_count() or 1
        self.keep_database = keep_database
        self.tmp = Path(tempfile.mkdtemp(prefix="authsite-bench-"))
        self.log = self.tmp / "server.log"
        self.port = free_port()
        public_url = f"https://127.0.0.1:{self.port}"
        self.env = base_env(
            self.tmp / "var",
            DATABASE_URL=self.database_url,
            REDIS_URL=self.redis_url,
            DEBUG="false",
            SECRET_KEY=secrets.token_urlsafe(50),
            ALLOWED_HOSTS="127.0.0.1",
            AUTHSITE_PUBLIC_URL=public_url,
        )
        self.server: Gunicorn | None = None
        self.floors: Gunicorn | None = None
        self.base_url = ""
        self.argon2: dict | None = None

    # --- lifecycle -----------------------------------------------------------------------

    def _manage(self, *args: str, timeout: float = 600) -> str:
        """Run a Python script of the repository in the benchmark's environment.

        Its ``[seed]`` progress lines are passed on as they come (seeding at
        --scale takes minutes); the rest of stderr is shown only if it fails.
        """
        with tempfile.TemporaryFile(mode="w+") as stdout:
            process = subprocess.Popen(
                [sys.executable, *args],
                cwd=REPO,
                env=self.env,
                stdout=stdout,
                stderr=subprocess.PIPE,
                text=True,
                start_new_session=True,
            )
            timer = threading.Timer(timeout, lambda: os.killpg(process.pid, signal.SIGKILL))
            timer.start()
            errors = []
            try:
                for line in process.stderr:
                    if line.startswith("[seed]"):
                        sys.stderr.write(line)
                        sys.stderr.flush()
                    else:
                        errors.append(line)
                process.wait()
            finally:
                timer.cancel()
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
            stdout.seek(0)
            output = stdout.read()
        if process.returncode:
            raise RuntimeError(
                f"{' '.join(args)} failed ({process.returncode}):\n{''.join(errors)}"
            )
        return output

    def _admin(self):
        return psycopg.connect(_with_database(self.admin_url, "postgres"), autocommit=True)

    def start(self) -> None:
        with self._admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.database_name}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{self.database_name}"')
        redis.Redis.from_url(self.redis_url).flushdb()
        (self.tmp / "var").mkdir(exist_ok=True)
        self._manage("manage.py", "migrate", "--noinput")
        self._manage("manage.py", "collectstatic", "--noinput", "--verbosity", "0")
        self.server = Gunicorn(
            "authsite.asgi:application", self.env, self.workers, self.log, port=self.port
        )
        self.base_url = self.server.url
        self.server.start("/health/ready")
        self.floors = Gunicorn(
            "bench.floors:application",
            {**self.env, "DJANGO_SETTINGS_MODULE": "bench.floors"},
            self.workers,
            self.tmp / "floors.log",
        )
        self.floors.start("/floor/asgi")

    def stop(self) -> None:
        for server in (self.server, self.floors):
            if server:
                server.stop()
        # The logs stay (for the errors a table may show); the static files and var dir go.
        shutil.rmtree(self.tmp / "var", ignore_errors=True)
        print(f"[bench] authsite's server logs: {self.tmp}", file=sys.stderr)
        if not self.keep_database:
            try:
                with self._admin() as admin:
                    admin.execute(f'DROP DATABASE IF EXISTS "{self.database_name}" WITH (FORCE)')
            except psycopg.Error as exc:
                print(f"could not drop {self.database_name}: {exc}", file=sys.stderr)

    def server_pids(self) -> list[int]:
        return [pid for server in (self.server, self.floors) if server for pid in server.pids()]

    def worker_pids(self) -> list[int]:
        return self.server.workers() if self.server else []

    # --- scenarios -----------------------------------------------------------------------

    def prepare(self, names: list[str], count: int) -> dict[str, Scenario]:
        out = self.tmp / "material.json"
        self._manage(
            str(SEED),
            "seed",
            f"--users={self.users}",
            f"--clients={self.clients}",
            f"--tokens={self.tokens}",
            f"--count={count}",
            f"--scenarios={','.join(names)}",
            f"--out={out}",
            timeout=4 * 3600,
        )
        seeded = json.loads(out.read_text())
        out.unlink()  # client secrets and tokens: not left next to the logs
        if "signin" in names:
            self.argon2 = json.loads(self._manage(str(SEED), "argon2"))
        client = seeded["clients"][0]
        basic = base64.b64encode(
            f"{client['client_id']}:{client['client_secret']}".encode()
        ).decode()
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        client_auth = {**form, "Authorization": f"Basic {basic}"}
        material = seeded["material"]
        scenarios = {
            "discovery": Scenario("discovery", "GET", "/.well-known/openid-configuration"),
            "jwks": Scenario("jwks", "GET", "/.well-known/jwks.json"),
            "health_ready": Scenario("health_ready", "GET", "/health/ready"),
            "client_credentials": Scenario(
                "client_credentials",
                "POST",
                "/oauth/token",
                headers=client_auth,
                body="grant_type=client_credentials",
            ),
            "floor_django": Scenario(
                "floor_django", "GET", "/floor/django", base_url=self.floors.url
            ),
            "floor_asgi": Scenario("floor_asgi", "GET", "/floor/asgi", base_url=self.floors.url),
        }
        single_use = {
            "code_exchange": "/oauth/token",
            "refresh": "/oauth/token",
            "revoke": "/oauth/revoke",
        }
        for name, path in single_use.items():
            if name in material:
                scenarios[name] = Scenario(
                    name, "POST", path, headers=client_auth, bodies=material[name]
                )
        for name in ("introspect_active", "introspect_revoked"):
            if name in material:
                scenarios[name] = Scenario(
                    name,
                    "POST",
                    "/oauth/introspect",
                    headers=client_auth,
                    bodies=material[name],
                    cycle=True,
                )
        if "userinfo" in material:
            scenarios["userinfo"] = Scenario(
                "userinfo",
                "GET",
                "/oauth/userinfo",
                headers={"Authorization": f"Bearer {material['userinfo']}"},
            )
        if "authorize" in names or "signin" in names:
            csrf_cookie, csrf_token = self._csrf()
        if "authorize" in names:
            session = self._sign_in(seeded["users"][0], seeded["password"], csrf_cookie, csrf_token)
            verifier = secrets.token_urlsafe(48)
            query = urlencode(
                {
                    "response_type": "code",
                    "client_id": client["client_id"],
                    "redirect_uri": seeded["redirect_uri"],
                    "scope": seeded["scope"],
                    "state": secrets.token_urlsafe(16),
                    "code_challenge": _s256(verifier),
                    "code_challenge_method": "S256",
                }
            )
            scenarios["authorize"] = Scenario(
                "authorize",
                "GET",
                f"/oauth/authorize?{query}",
                headers={"Cookie": f"sessionid={session}"},
                expect=(302,),
            )
            self._check_authorize(scenarios["authorize"], seeded["redirect_uri"])
        if "signin" in names:
            # Many distinct users, round-robin; successful sign-ins never count toward a lock.
            scenarios["signin"] = Scenario(
                "signin",
                "POST",
                "/accounts/login/",
                headers={**form, "Cookie": f"csrftoken={csrf_cookie}"},
                bodies=[
                    urlencode(
                        {
                            "csrfmiddlewaretoken": csrf_token,
                            "username": email,
                            "password": seeded["password"],
                        }
                    )
                    for email in seeded["users"][1:]
                ],
                cycle=True,
                expect=(302, 303),
            )
        return {name: scenario for name, scenario in scenarios.items() if name in names}

    def _csrf(self) -> tuple[str, str]:
        page = httpx.get(f"{self.base_url}/accounts/login/", timeout=10)
        cookie = _set_cookies(page).get("csrftoken")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        if page.status_code != 200 or not cookie or not token:
            raise RuntimeError(f"no CSRF token on the sign-in page ({page.status_code})")
        return cookie, token.group(1)

    def _sign_in(self, email: str, password: str, csrf_cookie: str, csrf_token: str) -> str:
        response = httpx.post(
            f"{self.base_url}/accounts/login/",
            data={"csrfmiddlewaretoken": csrf_token, "username": email, "password": password},
            headers={"Cookie": f"csrftoken={csrf_cookie}"},
            timeout=10,
        )
        session = _set_cookies(response).get("sessionid")
        if response.status_code not in (302, 303) or not session:
            raise RuntimeError(
                f"signing in for the authorize scenario answered {response.status_code}"
            )
        return session

    def _check_authorize(self, scenario: Scenario, redirect_uri: str) -> None:
        response = httpx.get(self.base_url + scenario.path, headers=scenario.headers, timeout=10)
        location = response.headers.get("location", "")
        if (
            response.status_code != 302
            or not location.startswith(redirect_uri)
            or "code=" not in location
        ):
            raise RuntimeError(
                "the authorize scenario does not reach the client "
                f"({response.status_code} {location[:80]})"
            )


def _s256(verifier: str) -> str:
    return (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
