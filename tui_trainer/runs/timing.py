"""How long a run has trained: one definition, for every front end that tells it.

A run's training time is the wall time its processes spent on it, data set-up included, less the
time its loop was paused (held between batches) and less the gaps between an interruption and its
resume, when nobody trained it. status.json holds what it takes:

- `started_at`, the first start; a resume adds `resumed_at` (when this process took over) and
  `earlier_seconds` (what the earlier processes trained, by this same definition);
- `paused_seconds`, this process's finished holds, added as each ends; a hold still going
  (`paused_since`) counts up to the reader's "now", so a paused run's time stands still;
- `ended_at`, when this process ended the run.

The headless end line, the console's notice, the webhook, a follower's `RunFinished`, the runs
screen and `tui-trainer runs` all take it from here. The trainer's own running clock (img/s, epoch
seconds, ETA) measures something else: the loop's work, without the set-up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .records import PAUSED_SECONDS, RunStatus, as_run_status


@dataclass(frozen=True)
class TrainingTime:
    """Seconds trained in all (`total`) and by the latest process (`part`); `resumed` after a resume."""

    total: float
    part: float
    resumed: bool

    def describe(self) -> str:
        """`12.0s`, or `12.0s in all, 4.0s since the resume` for a resumed run."""
        if not self.resumed:
            return f"{self.total:.1f}s"
        return f"{self.total:.1f}s in all, {self.part:.1f}s since the resume"


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _seconds(begin: datetime | None, end: datetime | None) -> float:
    """Seconds from `begin` to `end`, 0 when either is unknown (or one has a zone and one not: a hand-edited file)."""
    if begin is None or end is None:
        return 0.0
    try:
        return max(0.0, (end - begin).total_seconds())
    except TypeError:
        return 0.0


def paused_time(status: RunStatus | Mapping[str, Any], end: datetime | None = None) -> float:
    """This process's paused seconds up to `end`: its finished holds, and the one still going (up to `end`)."""
    status = as_run_status(status)
    return (status.paused_seconds or 0.0) + _seconds(parse_time(status.paused_since), end)


def training_time(status: RunStatus | Mapping[str, Any], end: datetime | None = None) -> TrainingTime | None:
    """The run's training time up to `end` (default: its `ended_at`); None without a start or an end."""
    status = as_run_status(status)
    resumed_at = parse_time(status.resumed_at)
    begin = resumed_at or parse_time(status.started_at)
    end = end or parse_time(status.ended_at)
    if begin is None or end is None:
        return None
    try:
        wall = (end - begin).total_seconds()
    except TypeError:  # one time with a zone, one without (a hand-edited file)
        return None
    part = max(0.0, wall - paused_time(status, end))
    return TrainingTime(total=(status.earlier_seconds or 0.0) + part, part=part, resumed=resumed_at is not None)


def hold_ended(status: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """The status.json fields that end a hold still recorded (`paused_since`) at `now`: its time joins
    `paused_seconds`. Nothing when the run is not held."""
    typed = as_run_status(status)
    if not typed.paused_since:
        return {}
    return {PAUSED_SECONDS: paused_time(typed, now)}


def resume_fields(status: RunStatus | Mapping[str, Any], now: str) -> dict[str, Any]:
    """What a resuming process writes into status.json: the first start stays, the earlier time adds
    up, and this process starts with no pause of its own."""
    before = training_time(status)
    return {"resumed_at": now, "earlier_seconds": before.total if before is not None else 0.0, PAUSED_SECONDS: 0.0}
