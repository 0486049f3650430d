"""The learning-rate range test's default range and the loss range its plots show, readable
without importing torch.

Both front ends offer the test (`tui-trainer find-lr`, the console's F5), and the command line's
help names the range before torch is loaded, so the defaults live here once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class LRRange:
    """`steps` learning rates rising geometrically from `start` to `end`."""

    steps: int = 100
    start: float = 1e-6
    end: float = 10.0


DEFAULT_RANGE = LRRange()


@dataclass(frozen=True)
class LossAxis:
    """The loss range a plot of the test shows (see `loss_axis`)."""

    low: float
    high: float
    clipped: bool  # losses above `high` (the diverged tail) are left out of the plot


AXIS_MARGIN = 0.1
"""Room above the starting loss and below the lowest, as a share of the fall between them."""


def loss_axis(losses: Sequence[float], smoothed: Sequence[float]) -> LossAxis:
    """The y-range that shows what the suggestion is read from: the lowest loss up to a little above
    the starting loss. The diverged tail reaches many times the start (37.9 against 2.3), and an
    axis drawn to it flattens the fall before the minimum into a line; it is clipped instead."""
    low, highest = min(*losses, *smoothed), max(*losses, *smoothed)
    start = max(losses[0], smoothed[0])
    margin = AXIS_MARGIN * (start - low)
    if margin <= 0 or highest <= start + margin:  # the loss never fell, or never rose past its start
        return LossAxis(low, highest, clipped=False)
    return LossAxis(low - margin, start + margin, clipped=True)
