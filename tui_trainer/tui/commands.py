"""The command palette's commands (ctrl+p), grouped by a prefix: "run: start", "preset: save"."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

# (group: title, help, App action name)
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("run: Start training", "Train the preset being edited", "start_training"),
    ("run: Stop training", "Stop after the current batch; the run keeps last.pt", "stop_training"),
    ("run: Pause or resume training", "Hold the run between batches, or let it go on", "pause_training"),
    ("run: Show training", "The live charts and progress of the current run", "show_training"),
    ("run: Runs", "Every run in the runs folder: open, attach, resume, stop, compare", "show_runs"),
    ("run: Start detached", "Train in a process of its own that goes on when the console closes", "start_detached"),
    ("run: Health panel", "Show or hide step timing, gradient norm, CPU, memory and GPU figures", "toggle_health"),
    ("run: Open confusion matrix", "Where the current run's validation predictions go wrong", "open_confusion"),
    ("run: Evaluate", "Score the run's best checkpoint on its test/ split (else validation)", "evaluate"),
    ("run: Open latest evaluation", "The confusion matrix of the run's newest evaluation", "open_evaluation"),
    ("run: Export to ONNX", "Write RUN_DIR/export/best.onnx and a JSON that says how to use it", "export"),
    ("sweep: Sweeps", "Open a sweep: its trials, curves and values; start or stop it detached", "show_sweeps"),
    ("preset: Save preset", "Write the preset, keeping its comments", "save_preset"),
    ("preset: Save preset as", "Write the preset to a new file", "save_preset_as"),
    ("preset: New preset", "Start from the defaults", "new_preset"),
    ("preset: Presets", "The list of presets", "show_presets"),
    ("help: Keys", "Every key of this screen", "help"),
)


class ConsoleCommands(Provider):
    """Every command of the console that makes sense right now.

    A command the App would show disabled in the footer (`check_action` None) or hide (False) is
    left out: offered, it would do nothing.
    """

    def _commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        app = self.app
        out = []
        for title, help_text, action in COMMANDS:
            if app.check_action(action, ()) is not True:
                continue
            out.append((title, help_text, partial(app.run_action, action)))
        return out

    async def discover(self) -> Hits:
        for title, help_text, callback in self._commands():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, text=title, help=help_text)
