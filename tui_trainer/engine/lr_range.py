"""The learning-rate range test's default range, readable without importing torch.

Both front ends offer the test (`tui-trainer find-lr`, the console's `l`), and the command line's
help names the range before torch is loaded, so the defaults live here once.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LRRange:
    """`steps` learning rates rising geometrically from `start` to `end`."""

    steps: int = 100
    start: float = 1e-6
    end: float = 10.0


DEFAULT_RANGE = LRRange()
