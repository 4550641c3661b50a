"""Installing authsite prints no packaging deprecation (the `make run` first impression)."""

from __future__ import annotations

import subprocess
import sys
import tomllib

import pytest

from tests.support.servers import REPO


def test_license_is_an_spdx_expression_with_a_backend_that_reads_it():
    """PEP 639: ``project.license`` is an SPDX string; setuptools reads it from 77 on."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert project["project"]["license"] == "Apache-2.0"
    assert "setuptools>=77" in project["build-system"]["requires"]


@pytest.mark.slow
def test_pip_install_editable_prints_no_license_deprecation():
    """`pip install -e .` (what `make install` runs) builds without the `project.license`
    warning; --dry-run prepares the metadata through the real build backend."""
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps", "-e", ".", "-v"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert "project.license" not in output
    assert "License classifiers are deprecated" not in output
