"""The first screen: the presets to open (built-in, ./presets, recent), a new one, or any path."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, Header, OptionList, Static
from textual.widgets.option_list import Option

from ...config.catalog import preset_sources, read_summary
from ...text import printable, short_path
from ..common.path_prompt import PathPrompt
from ..messages import NewPreset, OpenPath


class PresetListScreen(Screen[None]):
    HELP_TITLE = "presets"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open_highlighted", "Open", id="presets.open", show=True),
        Binding("n", "new_preset", "New", id="presets.new"),
        Binding("o", "open_path", "Open path", id="presets.open_path"),
        Binding("f5", "reload", "Reload", id="presets.reload", show=False),
    ]

    def __init__(self) -> None:
        super().__init__(id="presets")
        self.paths: list[Path] = []

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield Static(
            "[b]enter[/b] open · [b]n[/b] new preset · [b]o[/b] open a path (preset or run folder)",
            id="list-hint",
        )
        yield OptionList(id="preset-list")
        yield Footer()

    def on_mount(self) -> None:
        self.action_reload()

    def on_screen_resume(self) -> None:
        self.action_reload()

    def action_reload(self) -> None:
        options: list[Option | None] = []
        self.paths = []
        group_shown = ""
        for group, path in preset_sources():
            if group != group_shown:
                if group_shown:
                    options.append(None)
                options.append(Option(f"[b]{group}[/b]", disabled=True))
                group_shown = group
            name, description = map(printable, read_summary(path))  # a file's name and text, not the terminal's
            prompt = f"  [b]{escape(name)}[/b]  [dim]{escape(printable(short_path(path)))}[/dim]"
            if description:
                short = description if len(description) <= 72 else description[:71] + "…"
                prompt += f"\n    [dim]{escape(short)}[/dim]"
            options.append(Option(prompt, id=str(len(self.paths))))
            self.paths.append(path)
        option_list = self.query_one(OptionList)
        highlighted = option_list.highlighted
        option_list.clear_options()
        option_list.add_options(options)
        if self.paths:
            option_list.highlighted = highlighted if highlighted is not None else 1
        option_list.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id is not None:
            self.post_message(OpenPath(self.paths[int(event.option.id)]))

    def action_open_highlighted(self) -> None:
        option_list = self.query_one(OptionList)
        if option_list.highlighted is not None:
            option = option_list.get_option_at_index(option_list.highlighted)
            if option.id is not None:
                self.post_message(OpenPath(self.paths[int(option.id)]))  # a sweep file opens its sweep screen

    def action_new_preset(self) -> None:
        self.post_message(NewPreset())

    def action_open_path(self) -> None:
        def opened(path: Path | None) -> None:
            if path is not None:
                self.post_message(OpenPath(path))

        self.app.push_screen(PathPrompt("Open a preset or a run folder", must_exist=True), opened)
