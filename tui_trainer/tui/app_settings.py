"""The console's side of the settings file: apply theme and keymap at start, save a new theme.

A mixin of `TrainerApp` (like `RunUseActions`), so the App module only calls
`apply_user_settings()` from `on_mount`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from textual.theme import Theme

from ..config.loading import PresetError, Problem
from .common.keymap import console_bindings, keymap_clashes
from .common.user_config import config_path, load_user_config, save_setting

if TYPE_CHECKING:
    from textual.app import App

    _Base = App[None]
else:
    _Base = object


class _BindingIds(Collection[str]):
    """The console's binding ids, looked up only when the file has a keymap (it imports every screen)."""

    def __contains__(self, binding_id: object) -> bool:
        return binding_id in console_bindings()

    def __iter__(self) -> Iterator[str]:
        return iter(console_bindings())

    def __len__(self) -> int:
        return len(console_bindings())


class UserSettings(_Base):
    """Theme and keymap from the settings file; the theme chosen in the console is written back."""

    settings_path: Path | None = None
    """The settings file of this console (None until `apply_user_settings`)."""
    _saved_theme: str | None = None

    def apply_user_settings(self) -> None:
        """Read the settings file and apply it; what is wrong with it becomes one notification."""
        self.settings_path = config_path()
        config, problems = load_user_config(self.settings_path, themes=self.available_themes, binding_ids=_BindingIds())
        if config.theme is not None:
            self.theme = config.theme
        self._saved_theme = self.theme
        if config.keymap:
            self.set_keymap(config.keymap)
            problems += [
                Problem(str(self.settings_path), f"{info.id} ({info.keys}) has no key now: a remapped binding took it")
                for info in keymap_clashes(config.keymap)
            ]
        if problems:
            self.notify_settings_problems(self.settings_path, problems)
        self.theme_changed_signal.subscribe(self, self._theme_changed)

    def notify_settings_problems(self, path: Path, problems: list[Problem]) -> None:
        lines = [
            ": ".join(part for part in (f"line {p.line}" if p.line else "", p.key, p.message) if part) for p in problems
        ]
        self.notify("\n".join(lines), title=f"Settings: {path}", severity="warning", timeout=30, markup=False)

    def _theme_changed(self, theme: Theme) -> None:
        if theme.name == self._saved_theme or self.settings_path is None:
            return
        try:
            save_setting("theme", theme.name, self.settings_path)
        except (OSError, PresetError) as exc:
            self.notify(f"Theme not saved in {self.settings_path}: {exc}", severity="warning", markup=False)
            return
        self._saved_theme = theme.name
