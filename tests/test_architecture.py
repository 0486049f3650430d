"""The layering promises of docs/architecture.md, checked rather than hoped for."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tui_trainer.config.loading import tomllib

REPO = Path(__file__).resolve().parents[1]

CORE_PACKAGES = ["config", "data", "engine", "runs"]
"""Every module under these is imported by the UI-free test: a new module cannot be left off a list."""
UI_FREE_COMMANDS = [
    "tui_trainer.cli.check",
    "tui_trainer.cli.train",
    "tui_trainer.cli.model_commands",
    "tui_trainer.cli.explain",
    "tui_trainer.cli.review",
    "tui_trainer.cli.submit",
]
"""Command-line modules outside the core packages that must not start the console's libraries either."""
UI_PACKAGES = ("textual", "textual_plotext", "plotext")


def modules_under(package: str) -> list[str]:
    folder = REPO / "tui_trainer" / package
    names = []
    for path in sorted(folder.rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def ui_imported_by(modules: list[str], rich_allowed: bool = False) -> str:
    """Import `modules` one after another in a fresh interpreter; the first that brings in a UI
    library, with what it brought, or "" when none does."""
    code = (
        "import importlib, sys\n"
        f"ui = {UI_PACKAGES!r} + (() if {rich_allowed!r} else ('rich',))\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "    bad = sorted(m for m in sys.modules if m.split('.')[0] in ui)\n"
        "    if bad:\n"
        "        print(name, 'imports', ','.join(bad[:5]))\n"
        "        break\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return result.stdout.strip()


def test_core_never_imports_the_ui() -> None:
    # One interpreter for all four packages: each pays for importing torch once, and the check after
    # every import still names the first module that brings in a UI library.
    modules = []
    for package in CORE_PACKAGES:
        assert len(modules_under(package)) > 1, package
        modules += modules_under(package)
    assert ui_imported_by(modules) == ""


@pytest.mark.parametrize("module", UI_FREE_COMMANDS)
def test_commands_never_import_the_console(module: str) -> None:
    assert ui_imported_by([module], rich_allowed=module == "tui_trainer.cli.train") == ""


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, relative imports resolved (`from .. import app` names `..app`)."""
    parts = path.relative_to(REPO).with_suffix("").parts
    package = parts[:-1]  # a module's package; an __init__.py's own
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = list(package[: len(package) - node.level + 1]) if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def test_nothing_under_tui_imports_the_app() -> None:
    """Screens talk to the App with messages and hear from the run by a signal: an import of the
    App (even for typing) would make them a circle with it again."""
    offenders = [
        str(path.relative_to(REPO))
        for path in sorted((REPO / "tui_trainer" / "tui").rglob("*.py"))
        if path.name != "app.py" and "tui_trainer.tui.app" in imported_modules(path)
    ]
    assert offenders == []


def test_config_loads_without_torch() -> None:
    code = "import sys, tui_trainer.config, tui_trainer.cli.check; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_every_subpackage_is_listed_for_installation() -> None:
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {".".join(init.parent.relative_to(REPO).parts) for init in (REPO / "tui_trainer").rglob("__init__.py")}
    assert on_disk <= listed
    assert {"tui_trainer.models", "tui_trainer.presets"} <= listed


def test_models_are_not_installed_as_a_bare_top_level_module() -> None:
    code = "import importlib.util; print(importlib.util.find_spec('models') is None)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/")
    assert result.stdout.strip() == "True"
