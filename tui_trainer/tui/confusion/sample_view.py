"""One validation image as large as the terminal allows, with its caption; escape goes back (to the gallery
or the label-review list)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, Static

from .picture import Picture


class SampleViewScreen(Screen):
    """`image` under a caption of its lines (index and classes, confidence and loss, file)."""

    HELP_TITLE = "full size"

    DEFAULT_CSS = """
    SampleViewScreen #sample-caption {
        height: auto;
        padding: 0 1;
        background: $boost;
    }
    SampleViewScreen Picture {
        /* A row below: a Sixel image is drawn in bands of 6 pixels and the cursor then moves below its
        last band; on the footer's row that would scroll the whole screen up a line (xterm). */
        padding: 0 1 1 1;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="sample.back"),
    ]

    def __init__(self, image: np.ndarray, caption: tuple[str, ...]) -> None:
        super().__init__()
        self.image = image
        self.caption = caption

    def compose(self) -> ComposeResult:
        first, *rest = self.caption or ("",)
        text = Text(first, style="bold", no_wrap=True, overflow="ellipsis")
        for line in rest:
            text.append("\n" + line)
        yield Static(text, id="sample-caption", markup=False)
        yield Picture(self.image, id="sample-picture")
        yield Footer()

    def action_back(self) -> None:
        self.dismiss()
