"""How long a run has trained, across the processes that resumed it.

status.json keeps the first `started_at`; a resume adds `resumed_at` (when this process took over)
and `earlier_seconds` (what the earlier processes trained). So the runs list and the summaries
report the whole run, not only its last part, and the time between an interruption and its
resume (nobody training) is not counted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .records import RunStatus, as_run_status


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


def training_time(status: RunStatus | Mapping[str, Any], end: datetime | None = None) -> TrainingTime | None:
    """The run's training time up to `end` (default: its `ended_at`); None without a start time."""
    status = as_run_status(status)
    resumed_at = parse_time(status.resumed_at)
    begin = resumed_at or parse_time(status.started_at)
    end = end or parse_time(status.ended_at)
    if begin is None or end is None:
        return None
    try:
        part = max(0.0, (end - begin).total_seconds())
    except TypeError:  # one time with a zone, one without (a hand-edited file)
        return None
    return TrainingTime(total=(status.earlier_seconds or 0.0) + part, part=part, resumed=resumed_at is not None)


def resume_fields(status: RunStatus | Mapping[str, Any], now: str) -> dict[str, Any]:
    """What a resuming process writes into status.json: the first start stays, the earlier time adds up."""
    before = training_time(status)
    return {"resumed_at": now, "earlier_seconds": before.total if before is not None else 0.0}
