"""The dependency rules of docs/architecture.md, enforced so they cannot drift.

import-linter checks the layers (``[tool.importlinter]`` in pyproject.toml);
the AST checks below cover what import-linter cannot say: imports hidden
inside functions, and which parts of ``accounts`` the ``rbac`` app may see.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from common.exceptions import AuthsiteError

ROOT = Path(__file__).resolve().parent.parent
PROJECT_PACKAGES = ("authsite", "common", "accounts", "oauth", "rbac", "audit")
# The comments that may justify an import inside a function (see docs/architecture.md).
JUSTIFICATIONS = ("# cycle:", "# lazy:")


def _source_files():
    for package in PROJECT_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def _imported_module(node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:  # relative import: inside the project by definition
        return ["."]
    return [node.module or ""]


def _is_project_module(name: str) -> bool:
    return name == "." or name.split(".")[0] in PROJECT_PACKAGES


def _function_level_imports(path: Path):
    """(line, module, comment-line) of each import nested in a function body."""
    tree = ast.parse(path.read_text(), filename=str(path))
    lines = path.read_text().splitlines()
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(function):
            if isinstance(node, ast.Import | ast.ImportFrom):
                # The justification is on the import's line or the line just above it.
                nearby = " ".join(lines[max(0, node.lineno - 2) : node.end_lineno])
                yield node.lineno, _imported_module(node), nearby


def test_import_linter_contracts_hold():
    """The layers of docs/architecture.md: authsite > oauth > rbac > accounts > audit > common,
    and authsite/ imports no app."""
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_imports_inside_functions_name_the_cycle_they_break():
    """An import inside a function hides a dependency from the reader and from the
    layer check; it is allowed only to break a real import cycle (``# cycle: a -> b``),
    or, for a third-party module, to defer a heavy load (``# lazy: why``).
    AppConfig.ready() is exempt: importing receivers there is Django's documented way."""
    offenders = []
    for path in _source_files():
        if path.name == "apps.py":
            continue
        for line, modules, nearby in _function_level_imports(path):
            project = any(_is_project_module(name) for name in modules)
            allowed = ("# cycle:",) if project else JUSTIFICATIONS
            if not any(marker in nearby for marker in allowed):
                offenders.append(f"{path.relative_to(ROOT)}:{line} imports {', '.join(modules)}")
    assert offenders == [], "imports inside functions without a reason:\n" + "\n".join(offenders)


def test_rbac_sees_only_the_user_model_of_accounts():
    """RBAC decisions depend on who the user is, never on how they signed in: rbac may
    import accounts.models (the user model) and nothing else of accounts."""
    offenders = []
    for path in sorted((ROOT / "rbac").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for name in _imported_module(node):
                    if name.split(".")[0] == "accounts" and name not in ("accounts.models",):
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {name}")
    assert offenders == []


@pytest.mark.parametrize("app", ["common", "accounts", "oauth", "rbac", "audit"])
def test_every_error_an_app_defines_is_an_authsite_error(app):
    """Each app keeps its expected failures in <app>/exceptions.py, all under
    common.exceptions.AuthsiteError, so every edge translates them the same way
    (authsite/ is wiring and defines none)."""
    module = importlib.import_module(f"{app}.exceptions")
    defined = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, BaseException)
        and value.__module__ == module.__name__
    ]
    assert defined, f"{app}/exceptions.py defines no error"
    assert [error for error in defined if not issubclass(error, AuthsiteError)] == []
