"""One way to print a learning rate, for every screen and log line.

Three significant digits in `g` form: 0.001, 0.000954, 9.54e-05. It is also how the LR finder
rounds the value it writes into a preset, so the rate a user reads is the one the preset holds.
"""

from __future__ import annotations


def format_lr(lr: float) -> str:
    """`lr` with three significant digits (`0.001`, `3e-04` as `0.0003`, `9.54e-05`)."""
    return f"{lr:.3g}"
