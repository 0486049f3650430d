"""`tui-trainer --check PRESET`: validate a preset and print it fully resolved."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from .config import Preset, PresetError, Problem, load_preset, resolved_toml
from .config.target import importable_from, target_problems
from .data.checks import check_data_layout


def run_check(path: Path, overrides: Sequence[str]) -> int:
    """Print the resolved preset and return 0, or print every problem and return 2."""
    try:
        preset = load_preset(path, overrides)
    except PresetError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        count = len(exc.problems)
        print(f"{path}: {count} problem{'s' if count != 1 else ''}", file=sys.stderr)
        return 2
    problems = _target_problems(preset, path, overrides)
    if problems:
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        count = len(problems)
        print(f"{path}: {count} problem{'s' if count != 1 else ''}", file=sys.stderr)
        return 2
    data_problems = _local_data_problems(preset)
    if data_problems:
        for message in data_problems:
            print(f"error: {path}: data: {message}", file=sys.stderr)
        return 2
    sys.stdout.write(resolved_toml(preset, header=f"Resolved from {path}"))
    return 0


def _local_data_problems(preset: Preset) -> list[str]:
    """Problems with a local dataset folder (layout, empty classes), found without decoding images."""
    return check_data_layout(preset.data)


def _target_problems(preset: Preset, path: Path, overrides: Sequence[str]) -> list[Problem]:
    """model.target imports (from the preset's folder or the current one too) and takes [model.params]."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        text = ""
    with importable_from(path):
        return target_problems(preset, str(path), text, overrides)
