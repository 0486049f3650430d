"""Textual messages that carry engine events from the training thread to the UI thread."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.message import Message

from ..engine.events import EpochFinished, RunFailed, RunFinished, RunStarted, SetupProgress

if TYPE_CHECKING:
    from .event_bridge import EventBridge


class TrainingStarted(Message):
    def __init__(self, event: RunStarted) -> None:
        super().__init__()
        self.event = event


class SetupProgressed(Message):
    def __init__(self, event: SetupProgress) -> None:
        super().__init__()
        self.event = event

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SetupProgressed)


class BatchProgressed(Message):
    """A batch finished; the newest BatchProgress is taken from the bridge when handled.

    The bridge posts at most one of these at a time, and a backlog collapses into one.
    """

    def __init__(self, bridge: EventBridge) -> None:
        super().__init__()
        self.bridge = bridge

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, BatchProgressed)


class EpochCompleted(Message):
    def __init__(self, event: EpochFinished) -> None:
        super().__init__()
        self.event = event


class TrainingFinished(Message):
    def __init__(self, event: RunFinished) -> None:
        super().__init__()
        self.event = event


class TrainingFailed(Message):
    def __init__(self, event: RunFailed) -> None:
        super().__init__()
        self.event = event
