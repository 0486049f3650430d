"""The sbatch script a preset would be submitted with, and the settings it came from: y submits, escape doesn't."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ...runs.slurm_submit import Submission
from ...text import printable


def settings_line(submission: Submission) -> str:
    """What the job asks for, in one line: "2 nodes × 4 GPUs, time 04:00:00, partition gpu"."""
    s = submission.job.settings
    parts = [f"{s.nodes} node{'s' if s.nodes != 1 else ''} × {s.gpus_per_node} GPUs"]
    named = (("time", s.time), ("partition", s.partition), ("account", s.account))
    parts += [f"{name} {value}" for name, value in named if value]
    parts += [f"{len(s.extra)} extra #SBATCH line{'s' if len(s.extra) != 1 else ''}"] if s.extra else []
    return ", ".join(parts)


class SubmitScreen(ModalScreen[bool]):
    """Dismisses with True when the user submits."""

    HELP_TITLE = "submit to SLURM"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y,enter", "answer(True)", "Submit", id="submit.confirm"),
        Binding("escape,n", "answer(False)", "Cancel", id="submit.cancel"),
    ]

    def __init__(self, submission: Submission) -> None:
        super().__init__()
        self.submission = submission

    def compose(self) -> ComposeResult:
        sub = self.submission
        with Vertical(id="dialog", classes="dialog"):
            yield Static("Submit to SLURM", classes="dialog-title")
            about = (
                f"{sub.preset_name} into {sub.job.run_dir}\n{settings_line(sub)}\n"
                f"defaults: [slurm] in {sub.settings_file}"
            )
            yield Static(Text(printable(about, lines=True)), classes="dialog-body")
            with VerticalScroll(classes="dialog-scroll"):
                yield Static(Text(printable(sub.script, lines=True)), id="submit-script", markup=False)
            yield Static("y/enter: submit (sbatch)   escape: cancel", classes="dialog-hint")

    def action_answer(self, submit: bool) -> None:
        self.dismiss(submit)
