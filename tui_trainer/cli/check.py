"""`tui-trainer --check PRESET`: validate a preset and print it fully resolved."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from ..config import Preset, PresetError, Problem, load_preset, resolved_toml
from ..config.code_trust import TargetAccess
from ..config.target import target_problems
from ..data.bad_images import bad_images_message
from ..data.checks import check_data_layout
from ..data.class_counts import Counts, class_counts, count_lines, imbalance_warnings
from ..data.errors import DataError
from ..data.listers import LISTERS
from ..runs.outcome import ExitCode
from ..text import count_of, printable


def _problem_count(path: Path, problems: Sequence[Problem]) -> str:
    """`smoke.toml: 2 problems, 1 of them from --set`: a --set mistake is not blamed on the file."""
    count = len(problems)
    from_set = sum(str(p.source).startswith("--set") for p in problems)
    text = f"{path}: {count_of(count, 'problem')}"
    if from_set == count:
        return text + (" in --set" if count == 1 else ", all from --set")
    return text + (f", {from_set} of them from --set" if from_set else "")


def run_check(path: Path, overrides: Sequence[str]) -> int:
    """Print the resolved preset and return 0, or print every problem and return 2."""
    try:
        preset = load_preset(path, overrides)
    except PresetError as exc:
        for problem in exc.problems:
            print(printable(f"error: {problem}"), file=sys.stderr)
        print(printable(_problem_count(path, exc.problems)), file=sys.stderr)
        return ExitCode.USAGE
    problems = _target_problems(preset, path, overrides)
    if problems:
        for problem in problems:
            print(printable(f"error: {problem}"), file=sys.stderr)
        print(printable(_problem_count(path, problems)), file=sys.stderr)
        return ExitCode.USAGE
    review_notes: list[str] = []  # what data.review changes: its summary, then each entry it cannot apply
    layout = check_data_layout(preset.data, review_notes)  # folders and names: at once
    data_problems = [f"data: {message}" for message in layout]
    counts = class_counts(preset.data) if not data_problems else None
    if counts is not None:
        data_problems += _class_weight_problems(preset, counts)
    if data_problems:
        for message in data_problems:
            print(printable(f"error: {path}: {message}", lines=True), file=sys.stderr)
        return ExitCode.USAGE
    for warning in review_notes[1:]:
        print(printable(f"warning: {path}: data.review: {warning}"), file=sys.stderr)
    for warning in imbalance_warnings(counts or {}, printable):
        print(f"warning: {path}: data: {warning}", file=sys.stderr)
    from .pretrained_check import check_pretrained

    model_problems, preset, notes = check_pretrained(path, overrides, preset)
    if model_problems:
        for problem in model_problems:
            print(printable(f"error: {problem}"), file=sys.stderr)
        return ExitCode.USAGE
    data_problems = _image_problems(preset)  # last: decoding takes the longest
    if data_problems:
        for message in data_problems:
            print(printable(f"error: {path}: data: {message}", lines=True), file=sys.stderr)
        return ExitCode.USAGE
    notes += review_notes[:1]
    if counts is not None:
        notes += ["images per class:", *(f"  {line}" for line in count_lines(counts, printable))]
    header = f"Resolved from {printable(path)}" + "".join(f"\n{note}" for note in notes)
    sys.stdout.write(resolved_toml(preset, header=header))
    return ExitCode.OK


def _image_problems(preset: Preset) -> list[str]:
    """Image files the run would refuse, found by decoding them as the run does (into the data cache)."""
    if preset.data.dataset not in LISTERS:  # only image files listed on disk can be bad
        return []
    from ..data.verify import undecodable_images
    from ..engine.events import SetupProgress
    from .train import PlainPrinter

    after = "the run that follows reads them from the data cache" if preset.data.cache else "data.cache is off"
    print(f"decoding the images to check them: as long as a run's first decode takes ({after})", file=sys.stderr)
    printer = PlainPrinter(sys.stderr)
    try:
        bad = undecodable_images(preset.data, lambda *stage: printer(SetupProgress(*stage)))
    except DataError as exc:
        return [str(exc)]
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
    """model.target is allowed, imports (installed packages, else the preset's folder) and takes [model.params]."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        text = ""
    return target_problems(preset, str(path), text, overrides, TargetAccess.beside(path))
