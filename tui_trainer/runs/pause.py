"""Whether a running run is paused, and since when, for every reader of its folder.

Two kinds of pause look the same to a reader: the loop holding between batches (the console's
`p`, or SIGTSTP to a run without a terminal), which status.json records as `paused_since`; and a
process the kernel has stopped (ctrl+z in its terminal, SIGSTOP), which writes nothing, so only
the process table of its host tells, and not since when.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..process import process_stopped
from .folder import status_alive
from .records import RunStatus, as_run_status
from .state import RunState
from .timing import parse_time

PAUSED = "paused"
"""How a paused run's state reads in a list (its status.json still says running)."""


@dataclass(frozen=True)
class Pause:
    """A running run that trains nothing now; `since` None: stopped by the kernel, when is not known."""

    since: datetime | None

    @classmethod
    def at(cls, since: float | None) -> Pause:
        """The pause a `RunPaused` event tells of (`since`: its wall time, or None)."""
        return cls(datetime.fromtimestamp(since).astimezone() if since is not None else None)

    def since_text(self, now: datetime | None = None) -> str:
        """`since 14:03` (the date too when not today), or `(process stopped)` when not known."""
        if self.since is None:
            return "(process stopped)"
        now = now or datetime.now(self.since.tzinfo)
        shape = "%H:%M" if self.since.date() == now.date() else "%Y-%m-%d %H:%M"
        return f"since {self.since.strftime(shape)}"

    def describe(self, now: datetime | None = None) -> str:
        """`paused since 14:03`, or `paused (process stopped)`."""
        return f"{PAUSED} {self.since_text(now)}"


def run_pause(status: RunStatus | Mapping[str, Any]) -> Pause | None:
    """How the run a status describes is paused; None when it is not (or not running, or its process is gone)."""
    status = as_run_status(status)
    if status.state != RunState.RUNNING or not status_alive(status):
        return None
    if status.paused_since:
        return Pause(parse_time(status.paused_since))  # unparsable (hand-edited): paused, since unknown
    if (not status.host or status.host == socket.gethostname()) and process_stopped(status.pid):
        return Pause(None)
    return None
