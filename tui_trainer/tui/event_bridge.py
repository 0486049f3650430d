"""The listener the console hands to `run_training`: engine events in, Textual messages out.

It is called on the training thread and only posts messages (thread-safe); it never touches a
widget. Progress events are collapsed: only the newest is kept, and at most one message for it
waits in the queue, sent at most every `min_interval` seconds: the UI never lags behind, and it
wakes up (taking CPU and the GIL from training) only as often as a person can read the numbers.
"""

from __future__ import annotations

import contextlib
import threading
import time

from textual.message_pump import MessagePump

from ..engine.events import (
    BatchProgress,
    EpochFinished,
    Event,
    RunFailed,
    RunFinished,
    RunStarted,
    SetupProgress,
)
from .messages import (
    BatchProgressed,
    EpochCompleted,
    SetupProgressed,
    TrainingFailed,
    TrainingFinished,
    TrainingStarted,
)


class EventBridge:
    """A `Listener` that forwards events to `target` (the App) as messages."""

    def __init__(self, target: MessagePump, min_interval: float = 1.0) -> None:
        """`min_interval`: seconds between two progress messages (an epoch's last batch always goes)."""
        self._target = target
        self._lock = threading.Lock()
        self._latest: BatchProgress | None = None
        self._posted = False
        self._posted_at = -float("inf")
        self.min_interval = min_interval
        self.saw_failure = False

    def __call__(self, event: Event) -> None:
        if isinstance(event, BatchProgress):
            with self._lock:
                self._latest = event
                now = time.monotonic()
                early = now - self._posted_at < self.min_interval and event.batch < event.batches
                if self._posted or early:
                    return  # the UI takes this one with the next message, or on demand
                self._posted, self._posted_at = True, now
            self._post(BatchProgressed(self))
        elif isinstance(event, EpochFinished):
            self._post(EpochCompleted(event))
        elif isinstance(event, RunStarted):
            self._post(TrainingStarted(event))
        elif isinstance(event, SetupProgress):
            self._post(SetupProgressed(event))
        elif isinstance(event, RunFinished):
            self._post(TrainingFinished(event))
        elif isinstance(event, RunFailed):
            self.saw_failure = True
            self._post(TrainingFailed(event))

    def take_progress(self) -> BatchProgress | None:
        """The newest progress event (UI thread); the next one posts a new message."""
        with self._lock:
            event, self._latest, self._posted = self._latest, None, False
        return event

    def _post(self, message: object) -> None:
        # RuntimeError: the app is closing; training goes on to its end without a UI.
        with contextlib.suppress(RuntimeError):
            self._target.post_message(message)  # type: ignore[arg-type]
