"""The one message that carries an engine event from a run's thread to the UI thread."""

from __future__ import annotations

from textual.message import Message

from ..engine.events import BatchProgress, Event, SetupProgress

COLLAPSIBLE = (BatchProgress, SetupProgress)
"""Events that only say "how far": a newer one of the same kind makes a queued one pointless."""


class RunEvent(Message):
    """An engine event, as the run (or the follower of a run folder) sent it.

    `run` numbers the console's runs, so a late event of a run it no longer shows is dropped.
    A backlog of progress collapses: Textual drops a queued message when the next one in the
    queue can replace it, so the UI handles only the newest progress however far behind it is.
    """

    def __init__(self, event: Event, run: int = 0) -> None:
        super().__init__()
        self.event = event
        self.run = run

    def can_replace(self, message: Message) -> bool:
        return (
            isinstance(message, RunEvent)
            and message.run == self.run
            and isinstance(self.event, COLLAPSIBLE)
            and type(message.event) is type(self.event)
        )
