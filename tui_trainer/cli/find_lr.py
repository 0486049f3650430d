"""`tui-trainer --find-lr PRESET`: the learning-rate range test in the terminal.

Trains a copy of the preset's starting point for a bounded number of steps with the lr rising
exponentially, plots loss against lr (log scale) with plotext, and prints the suggestion and the
`--set` that uses it. Nothing is written: the preset file is left as it is.

The test takes from seconds to minutes, so it says how far it is as it goes: one line rewritten in
place on a terminal, plain lines now and then in a log.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from ..config import PresetError, load_preset
from ..config.code_trust import TargetAccess
from ..engine.lr_range import DEFAULT_RANGE, loss_axis
from ..runs.outcome import ExitCode
from ..text import format_lr, lr_step_text, printable

if TYPE_CHECKING:
    from ..engine.lr_finder import LRFinderResult


LOG_SECONDS = 10.0
"""Off a terminal, a progress line at least this often (and at every tenth of the steps)."""


class StepReport:
    """`on_step` for the range test: on a terminal one line rewritten in place; in a log (not a TTY)
    a plain line every tenth of the steps or every LOG_SECONDS, whichever comes first, and the last."""

    def __init__(self, out: TextIO, clock: Callable[[], float] = time.monotonic) -> None:
        self.out, self.clock = out, clock
        self.live = out.isatty()
        self.last = ""  # the latest step's line
        self._printed = ""  # the latest line written
        self._printed_step, self._printed_at = 0, clock()

    def __call__(self, step: int, steps: int, lr: float, loss: float) -> None:
        self.last = lr_step_text(step, steps, lr, loss)
        if self.live:
            self._write(f"\r{self.last}\x1b[K")
        elif step == steps or step - self._printed_step >= max(1, steps // 10) or self._due():
            self._write(self.last + "\n")
            self._printed_step, self._printed_at = step, self.clock()

    def close(self) -> None:
        """End the live line; in a log, print the last step when the test stopped between lines."""
        if self.live and self.last:
            self._write("\n")
        elif not self.live and self.last and self._printed != self.last + "\n":
            self._write(self.last + "\n")

    def _due(self) -> bool:
        return self.clock() - self._printed_at >= LOG_SECONDS

    def _write(self, text: str) -> None:
        self._printed = text
        self.out.write(text)
        self.out.flush()


def plot_text(result: LRFinderResult, width: int = 80, height: int = 20, colour: bool = False) -> str:
    """Loss (raw and smoothed) against lr on a log axis, the suggestion marked, as plain text.

    The y-axis runs from the lowest loss to a little above the starting one (`loss_axis`); a
    diverged tail above it is cut off, and the axis label says so."""
    import plotext as plt

    lrs = [math.log10(lr) for lr in result.lrs]
    axis = loss_axis(result.losses, result.smoothed)
    plt.clear_figure()
    plt.plotsize(width, height)
    plt.theme("clear")
    plt.plot(lrs, list(result.losses), label="loss", marker="dot")
    plt.plot(lrs, list(result.smoothed), label="smoothed", marker="braille")
    plt.vline(math.log10(result.suggestion))
    plt.ylim(axis.low, axis.high)
    if axis.clipped:
        plt.ylabel(f"loss, clipped above {axis.high:.3g}")
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
    out: TextIO | None = None,
) -> int:
    """0 with the plot and suggestion printed (on `out`, stdout by default); 2 for a bad preset or
    range; 1 when the test fails."""
    out = out or sys.stdout  # looked up now, not at import: a test or a caller may have replaced it
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
        with contextlib.closing(StepReport(out)) as report:  # the live line ends before any error
            result = find_lr_for_preset(
                preset, steps=steps, start_lr=start_lr, end_lr=end_lr, on_step=report, code=TargetAccess.beside(path)
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
