"""Check `model.target` before a run: the module imports, the factory takes `num_classes` and every
key of `[model.params]`.

Without this, a typo in `[model.params]` passes `--check` and fails the run minutes later with
exit 1. Importing the target runs the user's code (and usually torch), so it happens only when
asked for (`--check`, a run starting), never when a preset is merely loaded or edited.

Where the target is looked for, and which targets are allowed at all: `config.code_trust`.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from ..text import close_match
from .code_trust import TargetAccess, import_target
from .loading import Problem
from .locate import key_lines, line_of
from .schema import Preset


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


def target_problems(
    preset: Preset, source: str, text: str = "", overrides: Sequence[str] = (), code: TargetAccess | None = None
) -> list[Problem]:
    """Everything wrong with `preset.model.target` and `[model.params]`, each with file, line and key.

    `code`: where the target may be imported from (None: it may not be, which is itself the problem).
    """
    from ..models import ModelTargetError

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
        factory = import_target(target, code)
    except ModelTargetError as exc:
        where = f" (looked for in the installed packages, then in {code.folder})" if code and code.folder else ""
        message = str(exc).removeprefix(f"model target {target!r}: ")
        return [problem("model.target", message + (where if "cannot import" in message else ""))]
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
        close = close_match(name, _names(factory))
        suggestion = f"; did you mean {close!r}?" if close else ""
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
