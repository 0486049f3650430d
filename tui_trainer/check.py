"""`tui-trainer --check PRESET`: validate a preset and print it fully resolved."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from .config import Preset, PresetError, Problem, load_preset, resolved_toml
from .config.target import importable_from, target_problems
from .data.bad_images import bad_images_message, find_bad_images
from .data.checks import check_data_layout, image_files
from .data.class_counts import Counts, class_counts, count_lines, imbalance_warnings
from .printable import printable


def _problem_count(path: Path, problems: Sequence[Problem]) -> str:
    """`smoke.toml: 2 problems, 1 of them from --set`: a --set mistake is not blamed on the file."""
    count = len(problems)
    from_set = sum(str(p.source).startswith("--set") for p in problems)
    text = f"{path}: {count} problem{'s' if count != 1 else ''}"
    if from_set == count:
        return text + (" in --set" if count == 1 else ", all from --set")
    return text + (f", {from_set} of them from --set" if from_set else "")


def run_check(path: Path, overrides: Sequence[str]) -> int:
    """Print the resolved preset and return 0, or print every problem and return 2."""
    try:
        preset = load_preset(path, overrides)
    except PresetError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        print(_problem_count(path, exc.problems), file=sys.stderr)
        return 2
    problems = _target_problems(preset, path, overrides)
    if problems:
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        print(_problem_count(path, problems), file=sys.stderr)
        return 2
    data_problems = [f"data: {message}" for message in _local_data_problems(preset)]
    counts = class_counts(preset.data) if not data_problems else None
    if counts is not None:
        data_problems += _class_weight_problems(preset, counts)
    if data_problems:
        for message in data_problems:
            print(f"error: {path}: {message}", file=sys.stderr)
        return 2
    for warning in imbalance_warnings(counts or {}, printable):
        print(f"warning: {path}: data: {warning}", file=sys.stderr)
    from .pretrained_check import check_pretrained

    model_problems, preset, notes = check_pretrained(path, overrides, preset)
    if model_problems:
        for problem in model_problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    if counts is not None:
        notes += ["images per class:", *(f"  {line}" for line in count_lines(counts, printable))]
    header = f"Resolved from {path}" + "".join(f"\n{note}" for note in notes)
    sys.stdout.write(resolved_toml(preset, header=header))
    return 0


def _local_data_problems(preset: Preset) -> list[str]:
    """Problems with a local dataset folder (layout, empty classes, files that are not images)."""
    problems = check_data_layout(preset.data)
    if problems or preset.data.dataset != "imagefolder":
        return problems
    bad = find_bad_images(image_files(preset.data))  # a quick structural check of every file
    if bad and preset.data.bad_images == "error":
        return [bad_images_message(bad)]
    if bad:
        print(f'warning: {path_count(bad)} will be skipped (data.bad_images = "skip")', file=sys.stderr)
    return []


def _class_weight_problems(preset: Preset, counts: Counts) -> list[str]:
    """A list of class weights needs one weight per class of the training split."""
    weights, classes = preset.loss.class_weights, list(counts.get("train", {}))
    if isinstance(weights, str) or len(weights) == len(classes):
        return []
    shown = ", ".join(printable(name) for name in classes[:12]) + (" ..." if len(classes) > 12 else "")
    return [f"loss.class_weights: {len(weights)} weights but train/ has {len(classes)} classes ({shown})"]


def path_count(bad: list) -> str:
    return f"{len(bad)} image file{'s' if len(bad) != 1 else ''} that cannot be decoded"


def _target_problems(preset: Preset, path: Path, overrides: Sequence[str]) -> list[Problem]:
    """model.target imports (from the preset's folder or the current one too) and takes [model.params]."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        text = ""
    with importable_from(path):
        return target_problems(preset, str(path), text, overrides)
