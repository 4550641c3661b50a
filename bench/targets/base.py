"""The interface every benchmark target implements (authsite, and the peers of `make bench-peers`).

A target starts its server on 127.0.0.1, seeds its data and hands the driver
(bench/run.py) one :class:`Scenario` per scenario name it supports. The driver
loads each scenario with wrk and measures the CPU of ``server_pids()`` (plus
every PostgreSQL and Redis process on the machine) over the timed window.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field

SCENARIOS = (
    "discovery",
    "jwks",
    "client_credentials",
    "code_exchange",
    "refresh",
    "introspect_active",
    "introspect_revoked",
    "revoke",
    "userinfo",
    "authorize",
    "signin",
    "health_ready",
    "floor_django",
    "floor_asgi",
)


@dataclass
class Scenario:
    """One kind of request, sent over and over by wrk.

    ``bodies``: one body per request, each used at most once (codes, refresh
    tokens, revocations); the driver stops sending when they are used up and
    reports it. With ``cycle`` set they are sent round-robin instead, for
    requests that may repeat but should not all be the same (introspecting many
    distinct tokens, signing in as many distinct users).
    ``base_url``: set when the scenario is served by another server than the
    target's ``base_url`` (authsite's floors run in a second gunicorn).
    """

    name: str  # one of SCENARIOS
    method: str
    path: str  # path + query
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None  # the same body every request
    bodies: list[str] | None = None  # one body per request, each used at most once
    expect: tuple[int, ...] = (200,)  # statuses that count as success
    cycle: bool = False  # bodies may be reused round-robin
    base_url: str | None = None  # another server than the target's base_url


class Target(abc.ABC):
    """A server under test. The driver calls start(), prepare(), then runs, then stop()."""

    name: str
    base_url: str  # http://127.0.0.1:PORT
    # Optional: the PostgreSQL databases the server uses. When set, the driver leaves the
    # client backends of other databases on the same PostgreSQL out of the CPU figure
    # (other work on a shared server); empty: every postgres process counts.
    database_names: tuple[str, ...] = ()

    @abc.abstractmethod
    def start(self) -> None:
        """Start the server and wait until it answers."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop every process start() began (always called, also after a failure)."""

    @abc.abstractmethod
    def server_pids(self) -> list[int]:
        """The server's own processes (master + workers); the driver adds PostgreSQL and Redis."""

    @abc.abstractmethod
    def worker_pids(self) -> list[int]:
        """The processes whose RSS is reported."""

    @abc.abstractmethod
    def prepare(self, names: list[str], count: int) -> dict[str, Scenario]:
        """Seed and return the scenarios of ``names`` this target supports.

        Called once, after start(), with every scenario name of the run;
        ``count`` is how many single-use bodies each single-use scenario needs.
        A name the target does not support is left out of the result.
        """
