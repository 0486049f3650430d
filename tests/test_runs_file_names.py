"""Only `tui_trainer/runs/` names the files of a run folder: every other module asks it for the path.

A front end or the engine that builds `run_dir / "status.json"` itself reads the file its own way,
and the next change to the format misses it. Docstrings and comments may mention a file; code may not.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tui_trainer"
RUNS = PACKAGE / "runs"

RUN_FOLDER_FILES = (
    "status.json",
    "metrics.jsonl",
    "progress.json",
    "val_paths.json",
    "val_images.npy",
    "predictions-",  # predictions-last.npz, predictions-best.npz
    "predictions.npz",
    "report.json",
)
CHECKPOINT_FILES = ("last.pt", "best.pt")
"""The front ends may say these to a user ("the run keeps last.pt"); the layers below runs/ never do."""
BELOW_RUNS = ("config", "data", "engine")


def _code_strings(path: Path) -> list[tuple[int, str]]:
    """The string constants of a module's code, f-string parts included, documentation left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    documentation = {
        id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in documentation
    ]


def _modules_outside_runs() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if RUNS not in p.parents)


def test_the_scan_sees_the_names_runs_spells() -> None:
    """The check below can fail: runs/ itself holds every name it looks for."""
    spelled = " ".join(text for path in RUNS.rglob("*.py") for _, text in _code_strings(path))
    assert all(name in spelled for name in RUN_FOLDER_FILES + CHECKPOINT_FILES)


@pytest.mark.parametrize("path", _modules_outside_runs(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_outside_runs_spells_a_run_folder_file(path: Path) -> None:
    below_runs = path.relative_to(PACKAGE).parts[0] in BELOW_RUNS
    names = RUN_FOLDER_FILES + (CHECKPOINT_FILES if below_runs else ())
    found = [f"line {line}: {text!r}" for line, text in _code_strings(path) for name in names if name in text]
    assert not found, f"{path.relative_to(PACKAGE)} spells run-folder file names; ask tui_trainer.runs: {found}"


RUN_STATE_WRITERS = ("write_status", "write_failure", "change_state", "_overwrite_status")
"""RunFolder's writers of status.json; the front ends call typed records (record_abort, record_crash) instead."""


@pytest.mark.parametrize("path", _modules_outside_runs(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_outside_runs_writes_a_runs_status_or_log(path: Path) -> None:
    """A front end that writes status.json or log.txt itself writes its own idea of a run's state."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    calls = [
        f"line {node.lineno}: .{node.func.attr}()"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in RUN_STATE_WRITERS
    ]
    appends = [  # append_line is how a run folder's log.txt and metrics.jsonl grow
        f"line {node.lineno}: imports append_line"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and any(alias.name == "append_line" for alias in node.names)
    ]
    if path.name != "atomic.py":
        assert not calls + appends, f"{path.relative_to(PACKAGE)} writes a run folder; ask tui_trainer.runs"
