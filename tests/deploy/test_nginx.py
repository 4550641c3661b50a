"""authsite behind a real nginx, configured by the files in deploy/.

A real gunicorn (deploy/gunicorn.conf.py, uvicorn workers) serves authsite and
a real nginx, from deploy/nginx.test.conf.template, sits in front of it with
the proxy rules of production (deploy/nginx-authsite-proxy.conf, included by
both). The tests check what an operator relies on: the client address authsite
sees cannot be forged, request ids cross the proxy, static files and /metrics
are handled by nginx, and no query string reaches nginx's access log. A
second test proves the production file deploy/nginx.conf parses (nginx -t).

nginx missing: skipped, or failed when CI is set.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.servers import Server, base_env, free_port, manage

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
BIN = Path(sys.executable).parent
READY_TIMEOUT = 20.0  # seconds for a server to answer /health/live
LOG_TIMEOUT = 5.0  # seconds for a log line to appear
LOG_FORMAT_MARKERS = ("# BEGIN authsite log_format", "# END authsite log_format")
MINIMAL_MIME_TYPES = """types {
    text/html html;
    text/css css;
    application/javascript js;
    application/json json;
    image/svg+xml svg;
    image/png png;
    font/woff2 woff2;
}
"""


# --- helpers -------------------------------------------------------------------------


def find_nginx() -> str:
    """Return the nginx binary; skip without it, or fail when CI is set."""
    candidate = shutil.which("nginx") or "/usr/sbin/nginx"
    if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
        return candidate
    reason = "nginx is not installed (apt-get install nginx-light)"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI is set, so the deploy tests must run")
    pytest.skip(reason)


def mime_types_for(nginx: str) -> str:
    """The mime.types shipped with nginx, or a minimal table."""
    prefix = Path(nginx).resolve().parent.parent
    for candidate in (
        Path("/etc/nginx/mime.types"),
        prefix / "conf" / "mime.types",
        prefix / "etc" / "nginx" / "mime.types",
        Path("/usr/local/etc/nginx/mime.types"),
    ):
        if candidate.is_file():
            return candidate.read_text()
    return MINIMAL_MIME_TYPES


class Process:
    """A server subprocess with its output in a file, in its own process group."""

    def __init__(self, name: str, args: list[str], *, env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        self._log_file = log.open("wb")
        self.popen = subprocess.Popen(
            args,
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        self._log_file.flush()
        return self.log.read_text(errors="replace")

    def wait_until_healthy(self, url: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        last_error: Exception | None = None
        with httpx.Client(timeout=1, trust_env=False) as client:
            while time.monotonic() < deadline:
                if self.popen.poll() is not None:
                    pytest.fail(
                        f"{self.name} exited with {self.popen.returncode}:\n{self.output()}"
                    )
                try:
                    if client.get(url).status_code == 200:
                        return
                except httpx.TransportError as exc:
                    last_error = exc
                time.sleep(0.1)
        pytest.fail(
            f"{self.name} did not answer {url} within {READY_TIMEOUT:.0f}s "
            f"({last_error!r}):\n{self.output()}"
        )

    def stop(self) -> None:
        try:
            if self.popen.poll() is None:
                self.popen.terminate()
                try:
                    self.popen.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    pass
            # Whatever is left in the group (workers of a killed master) goes too.
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.popen.wait(timeout=5)
        finally:
            self._log_file.close()


def wait_for_line(path: Path, pattern: re.Pattern[str], what: str) -> re.Match[str]:
    """Return the first line of ``path`` matching ``pattern``, waiting up to LOG_TIMEOUT."""
    deadline = time.monotonic() + LOG_TIMEOUT
    while True:
        text = path.read_text(errors="replace") if path.exists() else ""
        for line in text.splitlines():
            if match := pattern.search(line):
                return match
        if time.monotonic() > deadline:
            tail = "\n".join(text.splitlines()[-20:])
            pytest.fail(f"no line for {what} in {path.name} after {LOG_TIMEOUT}s:\n{tail}")
        time.sleep(0.05)


def new_request_id() -> str:
    return f"test-{uuid.uuid4().hex}"


def gunicorn_access_line(request_id: str) -> re.Pattern[str]:
    # authsite.middleware: "<asctime> INFO authsite.access [<id>] GET /path 200 1.2ms <client>"
    return re.compile(
        rf"authsite\.access \[{re.escape(request_id)}\] (?P<method>\S+) (?P<path>\S+) "
        rf"(?P<status>\d{{3}}) \S+ms (?P<client>\S+)$"
    )


def nginx_access_line(request_id: str) -> re.Pattern[str]:
    # log_format authsite_access in deploy/nginx.conf
    return re.compile(
        rf'^(?P<remote>\S+) - \[[^\]]+\] "(?P<method>\S+) (?P<uri>\S+) [^"]*" '
        rf"(?P<status>\d{{3}}) .* rid={re.escape(request_id)} "
    )


def shared_log_format(path: Path) -> str:
    text = path.read_text()
    begin, end = LOG_FORMAT_MARKERS
    assert text.count(begin) == 1 and text.count(end) == 1, f"{path.name}: markers missing"
    return text[text.index(begin) : text.index(end)]


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def nginx_binary() -> str:
    return find_nginx()


class Gunicorn:
    def __init__(self, server: Server, static_root: Path) -> None:
        self.server = server
        self.port = server.port
        self.static_root = static_root

    def access_line(self, request_id: str) -> re.Match[str]:
        return wait_for_line(
            self.server.log_path, gunicorn_access_line(request_id), f"request {request_id}"
        )

    def saw(self, request_id: str) -> bool:
        return f"[{request_id}]" in self.server.output()


class Nginx:
    def __init__(self, process: Process, port: int, workdir: Path) -> None:
        self.process = process
        self.url = f"http://127.0.0.1:{port}"
        self.access_log = workdir / "access.log"
        self.error_log = workdir / "error.log"

    def errors(self) -> str:
        """The end of nginx's error log, for assertion messages."""
        if not self.error_log.exists():
            return ""
        return "\n".join(self.error_log.read_text(errors="replace").splitlines()[-10:])

    def client(self, local_address: str | None = None) -> httpx.Client:
        transport = httpx.HTTPTransport(local_address=local_address) if local_address else None
        return httpx.Client(base_url=self.url, timeout=5, trust_env=False, transport=transport)

    def access_line(self, request_id: str) -> re.Match[str]:
        return wait_for_line(
            self.access_log, nginx_access_line(request_id), f"request {request_id}"
        )


@pytest.fixture(scope="module")
def gunicorn(nginx_binary, tmp_path_factory) -> Iterator[Gunicorn]:
    var_dir = tmp_path_factory.mktemp("authsite-var")
    env = base_env(
        var_dir,
        # The default, spelled out: collectstatic fills it, nginx serves it.
        STATIC_ROOT=str(var_dir / "static"),
        DEBUG="true",
        LOG_FORMAT="text",
        AUTHSITE_ACCESS_LOG="true",
        AUTHSITE_TRUSTED_PROXIES="127.0.0.1/32",
        AUTHSITE_METRICS_ALLOWED_NETWORKS="127.0.0.1/32",
    )
    for command in (["migrate", "--noinput"], ["collectstatic", "--noinput", "--verbosity", "0"]):
        done = manage(env, *command, timeout=180)
        assert done.returncode == 0, f"manage.py {command[0]} failed:\n{done.stdout}{done.stderr}"
    with Server(env) as server:
        yield Gunicorn(server, Path(env["STATIC_ROOT"]))


@pytest.fixture(scope="module")
def nginx(nginx_binary, gunicorn, tmp_path_factory) -> Iterator[Nginx]:
    workdir = tmp_path_factory.mktemp("nginx")
    port = free_port()
    (workdir / "mime.types").write_text(mime_types_for(nginx_binary))
    config = (DEPLOY / "nginx.test.conf.template").read_text()
    for placeholder, value in {
        "@WORKDIR@": str(workdir),
        "@PORT@": str(port),
        "@UPSTREAM_PORT@": str(gunicorn.port),
        "@STATIC_ROOT@": str(gunicorn.static_root),
        "@DEPLOY_DIR@": str(DEPLOY),
    }.items():
        config = config.replace(placeholder, value)
    assert "@" not in re.sub(r"#.*", "", config), "unrendered placeholder in the template"
    (workdir / "nginx.conf").write_text(config)

    process = Process(
        "nginx",
        [nginx_binary, "-p", f"{workdir}/", "-e", "stderr", "-c", str(workdir / "nginx.conf")],
        env={"PATH": os.environ.get("PATH", "")},
        log=workdir / "nginx.stderr.log",
    )
    server = Nginx(process, port, workdir)
    try:
        process.wait_until_healthy(f"{server.url}/health/live")
        yield server
    finally:
        process.stop()


@pytest.fixture(scope="module")
def other_client(nginx) -> Iterator[httpx.Client]:
    """A client connecting from 127.0.0.2: a loopback address that is not 127.0.0.1."""
    with nginx.client(local_address="127.0.0.2") as client:
        try:
            client.get("/health/live")
        except httpx.TransportError as exc:
            pytest.skip(f"cannot connect from 127.0.0.2 on this system: {exc!r}")
        yield client


# --- through nginx ---------------------------------------------------------------------


def test_health_live_through_nginx(nginx):
    with nginx.client() as client:
        response = client.get("/health/live")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"status": "ok"}
    assert response.headers["server"] == "nginx"  # server_tokens off: no version


def test_static_files_are_served_by_nginx(nginx, gunicorn):
    request_id = new_request_id()
    with nginx.client() as client:
        response = client.get("/static/authsite/site.css", headers={"X-Request-ID": request_id})
        assert response.status_code == 200, nginx.errors()
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert response.headers["content-type"].startswith("text/css")
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-request-id"] == request_id
        assert response.content == (gunicorn.static_root / "authsite" / "site.css").read_bytes()
        # A 404 is not cached for a year.
        missing = client.get("/static/authsite/no-such-file.css")
        assert missing.status_code == 404
        assert "cache-control" not in missing.headers
        # Barrier: once a later proxied request is logged, the static one would be too.
        barrier = new_request_id()
        client.get("/health/live", headers={"X-Request-ID": barrier})
    gunicorn.access_line(barrier)
    assert not gunicorn.saw(request_id), "the static file was served by authsite, not nginx"
    assert nginx.access_line(request_id)["uri"] == "/static/authsite/site.css"


def test_metrics_from_localhost_pass_nginx_and_authsite(nginx, gunicorn):
    # The snippet allows 127.0.0.1; authsite then allows it too, because the
    # client address it resolves (X-Forwarded-For from nginx) is 127.0.0.1/32.
    request_id = new_request_id()
    with nginx.client() as client:
        response = client.get("/metrics", headers={"X-Request-ID": request_id})
    assert response.status_code == 200, response.text
    assert "authsite_http_requests_total" in response.text
    assert gunicorn.access_line(request_id)["client"] == "127.0.0.1"


@pytest.mark.parametrize("path", ["/metrics", "/metrics/", "//metrics", "/%6Detrics", "/metrics?x"])
def test_metrics_are_denied_by_nginx_to_other_addresses(nginx, gunicorn, other_client, path):
    request_id = new_request_id()
    # An absolute URL: httpx would resolve a relative "//metrics" to "/".
    response = other_client.get(
        nginx.url + path,
        headers={
            "X-Request-ID": request_id,
            # A forged hop changes nothing: nginx decides on the connection.
            "X-Forwarded-For": "127.0.0.1",
        },
    )
    assert response.status_code == 403
    assert "text/html" in response.headers["content-type"]  # nginx's page, not authsite's JSON
    barrier = new_request_id()
    other_client.get("/health/live", headers={"X-Request-ID": barrier})
    gunicorn.access_line(barrier)
    assert not gunicorn.saw(request_id), f"{path} reached authsite"


def test_forged_x_forwarded_for_does_not_change_the_client_address(nginx, gunicorn):
    request_id = new_request_id()
    with nginx.client() as client:
        response = client.get(
            "/health/live",
            headers={"X-Request-ID": request_id, "X-Forwarded-For": "10.9.9.9"},
        )
    assert response.status_code == 200
    line = gunicorn.access_line(request_id)
    assert line["client"] == "127.0.0.1"
    assert "10.9.9.9" not in line.group(0)


def test_client_address_comes_from_nginx_not_from_the_tcp_peer(nginx, gunicorn, other_client):
    # gunicorn's TCP peer is always nginx (127.0.0.1): seeing 127.0.0.2 proves
    # authsite took the address from nginx's X-Forwarded-For, and only that.
    request_id = new_request_id()
    response = other_client.get(
        "/health/live",
        headers={"X-Request-ID": request_id, "X-Forwarded-For": "10.9.9.9, 127.0.0.1"},
    )
    assert response.status_code == 200
    assert gunicorn.access_line(request_id)["client"] == "127.0.0.2"
    assert nginx.access_line(request_id)["remote"] == "127.0.0.2"


def test_request_id_crosses_the_proxy(nginx, gunicorn):
    request_id = new_request_id()
    with nginx.client() as client:
        sent = client.get("/health/live", headers={"X-Request-ID": request_id})
        generated = client.get("/health/live")
        insane = client.get("/health/live", headers={"X-Request-ID": "not a sane id"})
    # The caller's id comes back and is the one both logs carry.
    assert sent.headers["x-request-id"] == request_id
    assert gunicorn.access_line(request_id)["path"] == "/health/live"
    assert nginx.access_line(request_id)["uri"] == "/health/live"
    # Without one (or with one authsite would refuse), nginx's $request_id is
    # used, and it is still the same id in nginx's log, authsite's log and the
    # response.
    for response in (generated, insane):
        new_id = response.headers["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", new_id), new_id
        gunicorn.access_line(new_id)
        nginx.access_line(new_id)


def test_query_strings_never_reach_the_access_logs(nginx, gunicorn):
    request_id = new_request_id()
    with nginx.client() as client:
        response = client.get(
            "/health/live?access_token=SECRET123", headers={"X-Request-ID": request_id}
        )
    assert response.status_code == 200
    line = nginx.access_line(request_id)
    assert line["uri"] == "/health/live"
    assert "SECRET123" not in line.group(0)
    assert "SECRET123" not in nginx.access_log.read_text(errors="replace")
    assert gunicorn.access_line(request_id)["path"] == "/health/live"
    assert "SECRET123" not in gunicorn.server.output()


# --- the production configuration ---------------------------------------------------------


def test_log_format_is_the_same_in_production_and_test_configs():
    production = shared_log_format(DEPLOY / "nginx.conf")
    assert production == shared_log_format(DEPLOY / "nginx.test.conf.template")
    format_text = re.sub(r"(?m)^#.*\n", "", production)
    for variable in ("$request ", '$request"', "$request_uri", "$args", "$query_string"):
        assert variable not in format_text, f"{variable.strip()} would log query strings"
    assert "$http_referer" not in format_text, "a Referer carries a query string"
    for config in ("nginx.conf", "nginx.test.conf.template"):
        assert "nginx-authsite-proxy.conf;" in (DEPLOY / config).read_text()


def test_production_config_parses(nginx_binary, tmp_path):
    """nginx -t on deploy/nginx.conf with throwaway certificates and log paths."""
    openssl = shutil.which("openssl")
    if not openssl:
        pytest.skip("openssl is not installed (needed for a throwaway certificate)")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost"]
        + ["-days", "1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    logs = tmp_path / "logs"
    logs.mkdir()

    server_config = (DEPLOY / "nginx.conf").read_text()
    assert "ssl_certificate " in server_config and "ssl_certificate_key " in server_config
    server_config = re.sub(r"(?m)^(\s*ssl_certificate)\s+\S+;", rf"\1 {cert};", server_config)
    server_config = re.sub(r"(?m)^(\s*ssl_certificate_key)\s+\S+;", rf"\1 {key};", server_config)
    server_config = re.sub(
        r"(?m)^(\s*(?:access|error)_log)\s+/\S*/([^/\s]+)",
        lambda m: f"{m[1]} {logs / m[2]}",
        server_config,
    )
    (tmp_path / "common.conf").write_text(server_config)
    # deploy/nginx.conf includes snippets/nginx-authsite-proxy.conf relative to
    # nginx's configuration directory, as on Debian.
    (tmp_path / "snippets").mkdir()
    shutil.copy(DEPLOY / "nginx-authsite-proxy.conf", tmp_path / "snippets")
    (tmp_path / "mime.types").write_text(mime_types_for(nginx_binary))
    temp_paths = "\n".join(
        f"    {kind}_temp_path {tmp_path / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path / 'nginx.pid'};\n"
        f"error_log {logs / 'error.log'};\n"
        "events {}\n"
        "http {\n"
        "    include mime.types;\n"
        f"{temp_paths}\n"
        "    include common.conf;\n"
        "}\n"
    )
    done = subprocess.run(
        [
            nginx_binary,
            "-t",
            "-p",
            f"{tmp_path}/",
            "-e",
            "stderr",
            "-c",
            str(tmp_path / "nginx.conf"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "test is successful" in done.stderr
