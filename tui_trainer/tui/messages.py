"""The console's messages: engine events from a run's thread, and the requests screens post to the App."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual.message import Message

from ..engine.events import BatchProgress, Event, SetupProgress

COLLAPSIBLE = (BatchProgress, SetupProgress)
"""Events that only say "how far": a newer one of the same kind makes a queued one pointless."""


class RunEvent(Message):
    """An engine event, as the run (or the follower of a run folder) sent it.

    `run` numbers the console's runs, so a late event of a run it no longer shows is dropped.
    `replayed`: the event is the past of a run folder opened after the fact (its end is old news:
    no bell). A backlog of progress collapses: Textual drops a queued message when the next one in
    the queue can replace it, so the UI handles only the newest progress however far behind it is.
    """

    def __init__(self, event: Event, run: int = 0, replayed: bool = False) -> None:
        super().__init__()
        self.event = event
        self.run = run
        self.replayed = replayed

    def can_replace(self, message: Message) -> bool:
        return (
            isinstance(message, RunEvent)
            and message.run == self.run
            and isinstance(self.event, COLLAPSIBLE)
            and type(message.event) is type(self.event)
        )


# Requests a screen posts to the App: the screen says what the user asked for, the App does it. -------


@dataclass
class OpenPath(Message):
    """Open a preset, run folder, evaluation or sweep, whichever `path` is."""

    path: Path


@dataclass
class NewPreset(Message):
    """Start a new preset from the defaults."""


@dataclass
class SavePreset(Message):
    """Save the open preset where it came from (a built-in one asks where to save a copy)."""


@dataclass
class OpenRun(Message):
    """Show a run folder on the training screen, followed live; `expect_pid`: a run just started detached."""

    path: Path
    expect_pid: int | None = None


@dataclass
class ResumeRun(Message):
    """Continue an interrupted or failed run in this console, from its last.pt."""

    path: Path


@dataclass
class ExtendRun(Message):
    """Train a finished run on to `epochs` in all, in this console; `schedule`: engine.continuation's policy."""

    path: Path
    epochs: int
    schedule: str


@dataclass
class EvaluateRun(Message):
    """Score a run's best checkpoint on its test/ split (else validation)."""

    path: Path


@dataclass
class ExportRun(Message):
    """Export a run's best checkpoint to RUN_DIR/export/."""

    path: Path


@dataclass
class PauseTraining(Message):
    """Hold the console's run between batches, or let it go on."""


@dataclass
class StopTraining(Message):
    """Stop the console's run (or a followed one) after the current batch."""
