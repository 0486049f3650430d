"""`tui-trainer --check PRESET`: validate a preset and print it fully resolved."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from .config import Preset, PresetError, load_preset, resolved_toml
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
    data_problems = _local_data_problems(preset)
    if data_problems:
        for message in data_problems:
            print(f"error: {path}: data: {message}", file=sys.stderr)
        return 2
    from .pretrained_check import check_pretrained

    model_problems, preset, notes = check_pretrained(path, overrides, preset)
    if model_problems:
        for problem in model_problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    header = f"Resolved from {path}" + "".join(f"\n{note}" for note in notes)
    sys.stdout.write(resolved_toml(preset, header=header))
    return 0


def _local_data_problems(preset: Preset) -> list[str]:
    """Problems with a local dataset folder (layout, empty classes), found without decoding images."""
    return check_data_layout(preset.data)
