"""Ask how far to extend a finished run: the new total of epochs, and optionally the schedule."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from ...engine.continuation import DEFAULT_POLICY, SCHEDULE_POLICIES


@dataclass(frozen=True)
class Extension:
    epochs: int
    schedule: str


def parse_extension(text: str, done: int) -> Extension | str:
    """ "60" or "60 restart" -> Extension; otherwise what to type, in words."""
    words = text.split()
    if not words or not words[0].isdigit() or len(words) > 2:
        return f"type the new total of epochs (more than {done}), then optionally {', '.join(SCHEDULE_POLICIES)}"
    epochs = int(words[0])
    schedule = words[1] if len(words) == 2 else DEFAULT_POLICY
    if epochs <= done:
        return f"{epochs}: the run has done {done} epochs; give more"
    if schedule not in SCHEDULE_POLICIES:
        return f"{schedule}: the schedule is one of {', '.join(SCHEDULE_POLICIES)}"
    return Extension(epochs, schedule)


def how_to_answer(done: int) -> str:
    """The answer's form in a line above the input, which is pre-filled (its placeholder never shows)."""
    return f"type: EPOCHS [{'|'.join(SCHEDULE_POLICIES)}], e.g. {done * 2} restart"


class ExtendPrompt(ModalScreen["Extension | None"]):
    """Dismisses with the extension typed, or None on escape."""

    HELP_TITLE = "extend a run"

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", id="extend.cancel")]

    def __init__(self, name: str, done: int) -> None:
        super().__init__()
        self._run_name = name
        self._done = done

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            yield Static(f"Extend {self._run_name} ({self._done} epochs done) to", classes="dialog-title", markup=False)
            yield Static(how_to_answer(self._done), id="extend-how", markup=False)
            yield Input(str(self._done * 2), placeholder="EPOCHS [SCHEDULE]", id="extend-input")
            yield Static(
                f"{DEFAULT_POLICY} (the default) keeps the last lr; restart: the preset's lr and schedule again; "
                "continue: the schedule stretched to the new total (the lr jumps up).  enter: OK  escape: cancel",
                id="extend-message",
                classes="dialog-hint",
            )

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        answer = parse_extension(event.value, self._done)
        if isinstance(answer, str):
            self.query_one("#extend-message", Static).update(answer)
            return
        self.dismiss(answer)

    def action_cancel(self) -> None:
        self.dismiss(None)
