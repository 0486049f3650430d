"""Which preset values differ between runs, key by key (`section.key`), for the compare screen.

Each run's preset.toml is loaded through the schema (`load_preset` + `model_dump`), so a key a
run left at its default still compares against a run that spelled it out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..config import PresetError
from .folder import RunFolder

MISSING = object()
"""The value of a key one run's preset does not have (a preset from another version)."""


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested tables as one level of dotted keys: {"optimizer": {"lr": 0.1}} -> {"optimizer.lr": 0.1}."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def run_preset_values(run_dir: Path) -> dict[str, Any]:
    """The flattened, fully resolved preset of a run; raises PresetError when it cannot be read."""
    preset = RunFolder(Path(run_dir)).read_preset()
    return flatten(preset.model_dump(mode="json"))


def differing_keys(presets: Sequence[Mapping[str, Any]]) -> list[str]:
    """Keys whose value is not the same in every preset, in the order the presets list them."""
    keys: dict[str, None] = {}
    for values in presets:
        keys.update(dict.fromkeys(values))
    out = []
    for key in keys:
        seen = [values.get(key, MISSING) for values in presets]
        if any(value is MISSING or value != seen[0] for value in seen):
            out.append(key)
    return out


def format_value(value: Any) -> str:
    if value is MISSING:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str):
        return repr(value) if value == "" else value
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    return str(value)


def preset_diff(run_dirs: Sequence[Path]) -> tuple[list[tuple[str, list[str]]], list[str]]:
    """(rows of key and one formatted value per run, problems) for the runs whose presets load."""
    presets: list[Mapping[str, Any]] = []
    problems = []
    for run_dir in run_dirs:
        try:
            presets.append(run_preset_values(run_dir))
        except PresetError as exc:
            presets.append({})
            first = exc.problems[0] if exc.problems else None
            why = (f"{first.key}: " if first and first.key else "") + (first.message if first else str(exc))
            problems.append(f"{Path(run_dir).name}: preset.toml cannot be compared ({why})")
    readable = [values for values in presets if values]
    keys = differing_keys(readable)
    rows = [(key, [format_value(values.get(key, MISSING)) if values else "?" for values in presets]) for key in keys]
    return rows, problems
