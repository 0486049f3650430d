"""The console's word that a run ended: the terminal bell and a Textual notification.

Someone who left the console in another window hears the bell (most terminals also flag the tab
or raise a desktop notice on it) and sees how the run ended when they come back.
"""

from __future__ import annotations

from textual.app import App

from ...engine.events import RunFailed, RunFinished
from ...runs.notify import outcome_message
from ...runs.state import RunState

NOTICE_SECONDS = 15.0
"""How long a failed or stopped run's notice stays: the user may need it to decide what to do."""

FINISHED_SECONDS = 5.0
"""A finished run's notice: the bell has told them and the training screen says it too, so it does not
stay over what they opened meanwhile (a compare table, a confusion matrix)."""


def announce_run_end(app: App, event: RunFinished | RunFailed) -> None:
    """Ring the bell and show how the run ended (an error for a failure, a warning for a stop)."""
    title, body = outcome_message(event)
    stopped = isinstance(event, RunFinished) and event.state != RunState.FINISHED
    severity = "error" if isinstance(event, RunFailed) else "warning" if stopped else "information"
    finished = isinstance(event, RunFinished) and event.state == RunState.FINISHED
    if finished:
        body += "\non the training screen: v evaluate · o export · c confusion"  # v, o are out of its footer
    app.bell()
    timeout = FINISHED_SECONDS if finished else NOTICE_SECONDS
    app.notify(body, title=title, severity=severity, timeout=timeout, markup=False)
