"""Check `model.target` before a run: the module imports, the factory takes `num_classes` and every
key of `[model.params]`.

Without this, a typo in `[model.params]` passes `--check` and fails the run minutes later with
exit 1. Importing the target runs the user's code (and usually torch), so it happens only when
asked for (`--check`, a run starting), never when a preset is merely loaded or edited.

Where the target is looked for: the installed packages, the folder the preset file is in, and the
current folder (`importable_from`).
"""

from __future__ import annotations

import contextlib
import difflib
import inspect
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .loading import Problem
from .locate import key_lines, line_of
from .schema import Preset


def add_importable_folders(preset_path: Path | None) -> list[str]:
    """Put the preset's folder and the current folder on `sys.path` (for the rest of the process: a run
    builds its model later, on a thread); returns the folders that were not there before."""
    folders = [str(Path.cwd())]
    if preset_path is not None:
        folders.insert(0, str(Path(preset_path).resolve().parent))
    added = [folder for folder in folders if folder not in sys.path]
    sys.path[:0] = added
    return added


@contextlib.contextmanager
def importable_from(preset_path: Path | None) -> Iterator[None]:
    """`add_importable_folders` while the block runs."""
    added = add_importable_folders(preset_path)
    try:
        yield
    finally:
        for folder in added:
            with contextlib.suppress(ValueError):
                sys.path.remove(folder)


def refused_params(factory: Any, names: Sequence[str]) -> list[str] | None:
    """Which of `names` the factory's signature does not take (None when it has no signature to read)."""
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return []
    keyword = {n for n, p in parameters.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return [name for name in names if name not in keyword]


def _missing_params(factory: Any, given: Sequence[str]) -> list[str]:
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return []
    return [
        name
        for name, p in parameters.items()
        if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and name not in given
    ]


def target_problems(preset: Preset, source: str, text: str = "", overrides: Sequence[str] = ()) -> list[Problem]:
    """Everything wrong with `preset.model.target` and `[model.params]`, each with file, line and key."""
    from ..models import resolve_factory

    target = preset.model.target
    if not target:
        return []
    lines = key_lines(text) if text else {}

    def problem(key: str, message: str) -> Problem:
        for item in overrides:
            name = item.partition("=")[0].strip()
            if key == name or key.startswith(name + "."):
                return Problem(f"--set {item}", message, key=key)
        return Problem(source, message, key=key, line=line_of(lines, key) if lines else None)

    try:
        factory = resolve_factory(target)
    except ValueError as exc:
        hint = " (the preset's folder and the current folder are searched too)"
        return [problem("model.target", str(exc).removeprefix(f"model target {target!r}: ") + hint)]
    if not callable(factory):
        return [problem("model.target", f"{target} is a {type(factory).__name__}, not a function that builds a model")]
    params = list(preset.model.params)
    refused = refused_params(factory, ["num_classes", *params])
    if refused is None:
        return []
    takes = _parameter_names(factory)
    problems = []
    if "num_classes" in refused:
        problems.append(problem("model.target", f"{target} must take a num_classes argument (it takes: {takes})"))
    for name in refused:
        if name == "num_classes":
            continue
        close = difflib.get_close_matches(name, _names(factory), n=1)
        suggestion = f"; did you mean {close[0]!r}?" if close else ""
        problems.append(
            problem(f"model.params.{name}", f"{target} has no parameter {name!r}{suggestion} (it takes: {takes})")
        )
    for name in _missing_params(factory, ["num_classes", *params]):
        problems.append(problem("model.params", f"{target} needs {name!r}: add it to [model.params]"))
    return problems


def _names(factory: Any) -> list[str]:
    try:
        return list(inspect.signature(factory).parameters)
    except (TypeError, ValueError):
        return []


def _parameter_names(factory: Any) -> str:
    return ", ".join(_names(factory)) or "no arguments"
