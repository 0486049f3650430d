"""The layering promises of docs/architecture.md, checked rather than hoped for."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tui_trainer.config.loading import tomllib

REPO = Path(__file__).resolve().parents[1]

CORE_MODULES = [
    "tui_trainer.config",
    "tui_trainer.cli.check",
    "tui_trainer.data",
    "tui_trainer.engine.trainer",
    "tui_trainer.runs.launch",
    "tui_trainer.runs.folder",
    "tui_trainer.runs.view",
    "tui_trainer.cli.train",
    "tui_trainer.cli.model_commands",
    "tui_trainer.runs.evaluate",
    "tui_trainer.runs.predict",
    "tui_trainer.runs.export",
]


@pytest.mark.parametrize("module", CORE_MODULES)
def test_core_never_imports_the_ui(module: str) -> None:
    code = (
        f"import sys, {module}\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'textual_plotext', 'plotext'))\n"
        "bad += ['rich'] if 'rich' in sys.modules and " + repr(module) + " != 'tui_trainer.cli.train' else []\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


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
