"""How the benchmark turns /proc readings and runs into the figures it prints."""

from __future__ import annotations

from bench.load import CLK_TCK, cpu_seconds_between
from bench.run import ratio_table


def test_cpu_counts_only_the_window_and_only_counted_processes():
    before = {
        1: (100, True),  # the postmaster
        2: (50, True),  # a backend of the benchmark's database
        3: (5000, False),  # a long-lived backend of another database, exits during the window
        4: (70, False),  # another database's backend, still running
    }
    after = {
        # The postmaster reaped backend 3: its children's time grew by 3's whole lifetime.
        1: (100 + 5000 + 10, True),
        2: (80, True),
        4: (900, False),
        5: (20, True),  # a process that started during the window counts in full
    }
    # 30 ticks of backend 2, 20 of the new process, 10 that backend 3 spent inside the window.
    assert cpu_seconds_between(before, after) == (30 + 20 + 10) / CLK_TCK


def _run(title: str, cpu: dict[str, float]) -> dict:
    return {
        "title": title,
        "results": [{"scenario": name, "cpu_ms_per_request": ms} for name, ms in cpu.items()],
    }


def test_the_ratio_table_divides_authsite_by_each_peer_scenario_by_scenario():
    table = ratio_table(
        [
            _run("authsite", {"discovery": 0.5, "client_credentials": 2.0, "signin": 200.0}),
            _run("plain DOT", {"discovery": 1.0, "client_credentials": 4.0}),
            _run("node", {"discovery": 0.25, "client_credentials": 0.0}),
        ]
    )
    lines = table.splitlines()
    assert "| scenario | authsite ÷ plain DOT | authsite ÷ node |" in lines
    assert "| discovery | 0.50 | 2.00 |" in lines
    # No figure for a peer (not supported, or nothing measured): a dash, never a division by 0.
    assert "| client_credentials | 0.50 | – |" in lines
    assert "| signin | – | – |" in lines
