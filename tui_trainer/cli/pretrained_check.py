"""What `--check` adds for timm:/torchvision: models: the architecture exists, the weights file is
there and loads into it (as the run loads it), and which mean/std/image size the pretrained weights bring.

Loaded only for such presets: it imports timm or torchvision (and so torch).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..config import Preset, Problem
from ..config.locate import key_lines, line_of
from ..models.hub import MissingLibrary, architecture_problem, is_hub_name


def _problem(path: Path, overrides: Sequence[str], key: str, message: str) -> Problem:
    """A problem at the --set that wrote key, else at key's line in the preset file."""
    for assignment in overrides:
        if assignment.partition("=")[0].strip() == key:
            return Problem(f"--set {assignment}", message, key=key)
    try:
        line = line_of(key_lines(path.read_text(encoding="utf-8")), key)
    except OSError:
        line = None
    return Problem(str(path), message, key=key, line=line)


def check_pretrained(path: Path, overrides: Sequence[str], preset: Preset) -> tuple[list[Problem], Preset, list[str]]:
    """(problems, preset with pretrained defaults filled in, notes saying what was chosen and why)."""
    if preset.model.target or not is_hub_name(preset.model.name):
        return [], preset, []
    try:
        problem = architecture_problem(preset.model.name)
    except MissingLibrary as exc:
        return [_problem(path, overrides, "model.name", str(exc))], preset, []
    if problem:
        return [_problem(path, overrides, "model.name", problem)], preset, []
    pretrained = preset.model.pretrained
    if pretrained and pretrained != "hub" and not Path(pretrained).expanduser().is_file():
        where = str(Path(pretrained).expanduser().absolute())
        message = f"no such weights file {where!r} (relative paths start at the current folder)"
        return [_problem(path, overrides, "model.pretrained", message)], preset, []
    from ..engine.pretrained_config import resolve_pretrained  # torch from here on

    problem = _weights_problem(preset) if pretrained and pretrained != "hub" else ""
    if problem:
        return [_problem(path, overrides, "model.pretrained", problem)], preset, []
    resolved, notes = resolve_pretrained(preset)
    if pretrained == "hub":
        notes.insert(
            0, 'model.pretrained = "hub": the weights are downloaded when training starts (needs the internet)'
        )
    return [], resolved, notes


CHECK_CLASSES = 10
"""The head's width when `--check` builds the model: the head is replaced, so its keys are never compared."""


def _weights_problem(preset: Preset) -> str:
    """Why the weights file does not load into model.name's architecture ("" when it does)."""
    from ..engine.hub_models import PretrainedError, build_hub_model

    try:
        build_hub_model(preset.model, CHECK_CLASSES)
    except PretrainedError as exc:
        return str(exc).removeprefix("model.pretrained: ")
    return ""
