"""The `tui-trainer` command: `tui-trainer [PATH]` opens the console; `tui-trainer COMMAND` runs one mode
(train, submit, check, eval, predict, export, find-lr, sweep, serve, runs, presets) in its own module."""

from .commands import main

__all__ = ["main"]
