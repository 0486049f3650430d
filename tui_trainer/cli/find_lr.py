"""`tui-trainer --find-lr PRESET`: the learning-rate range test in the terminal.

Trains a copy of the preset's starting point for a bounded number of steps with the lr rising
exponentially, plots loss against lr (log scale) with plotext, and prints the suggestion and the
`--set` that uses it. Nothing is written: the preset file is left as it is.
"""

from __future__ import annotations

import math
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from ..config import PresetError, load_preset
from ..config.code_trust import TargetAccess
from ..engine.lr_range import DEFAULT_RANGE
from ..runs.outcome import ExitCode
from ..text import format_lr, printable

if TYPE_CHECKING:
    from ..engine.lr_finder import LRFinderResult


def plot_text(result: LRFinderResult, width: int = 80, height: int = 20, colour: bool = False) -> str:
    """Loss (raw and smoothed) against lr on a log axis, the suggestion marked, as plain text."""
    import plotext as plt

    lrs = [math.log10(lr) for lr in result.lrs]
    plt.clear_figure()
    plt.plotsize(width, height)
    plt.theme("clear")
    plt.plot(lrs, list(result.losses), label="loss", marker="dot")
    plt.plot(lrs, list(result.smoothed), label="smoothed", marker="braille")
    plt.vline(math.log10(result.suggestion))
    plt.xlabel("log10(lr)")
    plt.title(f"suggested lr {format_lr(result.suggestion)} ({result.rule})")
    text = plt.build()
    plt.clear_figure()
    return text if colour else plt.uncolorize(text)


def run_find_lr(
    path: Path,
    overrides: Sequence[str],
    *,
    steps: int = DEFAULT_RANGE.steps,
    start_lr: float = DEFAULT_RANGE.start,
    end_lr: float = DEFAULT_RANGE.end,
    out: TextIO = sys.stdout,
) -> int:
    """0 with the plot and suggestion printed; 2 for a bad preset or range; 1 when the test fails."""
    try:
        preset = load_preset(path, overrides)
    except PresetError as exc:
        for problem in exc.problems:
            print(printable(f"error: {problem}"), file=sys.stderr)
        return ExitCode.USAGE
    if not (0 < start_lr < end_lr) or steps < 2:
        print(
            f"error: --find-lr needs 0 < --lr-start < --lr-end and --lr-steps >= 2 (got {start_lr}, {end_lr}, {steps})",
            file=sys.stderr,
        )
        return ExitCode.USAGE
    from ..data import DataError
    from ..engine.device import DeviceError
    from ..engine.lr_finder import find_lr_for_preset

    print(
        f"lr range test: {printable(preset.name)}, {steps} steps, lr {format_lr(start_lr)} -> {format_lr(end_lr)}",
        file=out,
        flush=True,
    )
    try:
        result = find_lr_for_preset(
            preset, steps=steps, start_lr=start_lr, end_lr=end_lr, code=TargetAccess.beside(path)
        )
    except DeviceError as exc:
        print(printable(f"error: {path}: {exc}", lines=True), file=sys.stderr)
        return ExitCode.USAGE
    except (DataError, ValueError, RuntimeError) as exc:
        print(printable(f"error: {path}: lr range test failed: {exc}", lines=True), file=sys.stderr)
        return ExitCode.FAILED
    columns, _ = shutil.get_terminal_size((100, 24))
    colour = out.isatty()
    out.write(plot_text(result, width=min(columns, 120), height=22, colour=colour) + "\n")
    ended = "stopped when the loss diverged" if result.stopped_early else "all steps taken"
    print(f"{len(result.lrs)} steps, {ended}; lowest smoothed loss {min(result.smoothed):.4f}", file=out)
    print(f"suggested lr: {format_lr(result.suggestion)}  (rule: {result.rule})", file=out)
    print(f"use it: --set optimizer.lr={format_lr(result.suggestion)}", file=out)
    return ExitCode.OK
