"""Set-up progress in words, for the console and headless output alike: `generate: 0/2 splits`.

The data layer reports (stage, done, total) with no unit; the unit follows from the stage's verb.
"""

from __future__ import annotations

UNITS = {"generate": "splits", "decode": "images", "check": "files"}
"""The unit of `done/total` by the stage's first word; stages not listed count steps."""


def setup_text(stage: str, done: int, total: int) -> str:
    """`decode train: 1,200/50,000 images`; a one-step stage reads `cache train: done`; no total: the stage."""
    if not total:
        return stage
    if total == 1:
        return f"{stage}: done" if done >= 1 else stage
    unit = UNITS.get(stage.split(" ", 1)[0], "steps")
    return f"{stage}: {done:,}/{total:,} {unit}"
