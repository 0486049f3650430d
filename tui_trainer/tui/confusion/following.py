"""What the confusion screens share to follow a live run: the run session's one change signal.

A screen over the console's own run is given the session's `changed` signal; while it is shown it
redraws (`reload`) when its view changed, and when it comes back it catches up. A screen over a run
folder or an evaluation is given none: its view never changes. A screen whose redraw would move
what the user is working on (the label review list) overrides `history_changed` to offer it instead.
"""

from __future__ import annotations

from textual.signal import Signal

from ...runs.view import RunView

RunChanged = Signal[RunView | None]


class FollowsRunView:
    """Mixed into a Screen that draws `history` and redraws it with `reload()`."""

    history: RunView
    changed: RunChanged | None
    _seen_version: int | None

    def reload(self) -> None:
        raise NotImplementedError

    def history_changed(self) -> None:
        """What a new version of `history` does to the screen: a redraw, unless the screen says otherwise."""
        self.reload()

    def on_screen_resume(self) -> None:
        if self.changed is not None:
            self.changed.subscribe(self, self._view_changed, immediate=True)  # type: ignore[arg-type]
        if self._seen_version is not None and self.history.version != self._seen_version:
            self.history_changed()

    def on_screen_suspend(self) -> None:
        if self.changed is not None:
            self.changed.unsubscribe(self)  # type: ignore[arg-type]

    def _view_changed(self, view: RunView | None) -> None:
        if view is self.history and view.version != self._seen_version:
            self.history_changed()
