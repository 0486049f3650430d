"""Tell someone when a run ends: a message to an apprise URL (`train.notify`), from any front end.

A notification is a courtesy: a missing library, a bad URL, a server that is down or slow never
changes how the run ends. Each such failure is one logged warning line; the run goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ..engine.events import Event, RunFailed, RunFinished
from ..text import count_of
from .state import RunState

INSTALL_HINT = 'pip install "tui-trainer[notify]"'
log = logging.getLogger(__name__)

Sender = Callable[[str, str], bool]
"""send(title, body) -> whether the message went out."""


def ended_text(event: RunFinished, state: str = "", took: str = "") -> str:
    """How a run ended, in the words every front end uses: `finished after 3 epochs in 41.0s`,
    `interrupted in epoch 1 after 12.0s`, `interrupted while decoding the data (14.0s)`.

    `state` replaces the event's word for it; `took` its time (a resumed run's "in all" figure)."""
    state = state or event.state
    took = took or f"{event.seconds:.1f}s"
    if event.setup_stage:
        doing = "decoding the data" if event.setup_stage.startswith("decode") else "preparing the data"
        return f"{state} while {doing} ({took})"
    if event.epochs_done == 0 and event.state != RunState.FINISHED:
        return f"{state} in epoch 1 after {took}"
    return f"{state} after {count_of(event.epochs_done, 'epoch')} in {took}"


def outcome_message(event: RunFinished | RunFailed) -> tuple[str, str]:
    """A short title and body saying how a run ended (the webhook's and the console's wording)."""
    if isinstance(event, RunFailed):
        return "tui-trainer: run failed", f"{event.run_dir}: {event.error}" if event.run_dir else event.error
    best = f", best val acc {event.best_val_acc:.2%} (epoch {event.best_epoch})" if event.best_epoch else ""
    state = RunState.FINISHED if event.state == RunState.FINISHED else "stopped"
    return f"tui-trainer: run {state}", f"{event.run_dir}: {ended_text(event, state)}{best}"


def where(url: str) -> str:
    """The URL's scheme only: an apprise URL often holds a token, which does not belong in a log."""
    return url.split("://", 1)[0] + "://…" if "://" in url else "the notify URL"


def apprise_sender(url: str) -> Sender | None:
    """A sender for `url` through apprise; None (after one warning line) when apprise is missing."""
    try:
        import apprise
    except ImportError:
        log.warning("train.notify is set but apprise is not installed (%s): no notification will be sent", INSTALL_HINT)
        return None
    client: Any = apprise.Apprise()
    if not client.add(url):
        log.warning("train.notify: apprise does not understand the URL %s: no notification will be sent", where(url))
        return None

    def send(title: str, body: str) -> bool:
        return bool(client.notify(title=title, body=body))

    return send


class RunNotifier:
    """An event listener that sends one message when the run finishes, fails or stops (rank 0)."""

    def __init__(self, url: str, sender: Sender | None = None) -> None:
        self.url = url
        self._sender = sender if sender is not None else apprise_sender(url)
        self.sent = False

    def __call__(self, event: Event) -> None:
        if not isinstance(event, (RunFinished, RunFailed)) or self._sender is None or self.sent:
            return
        self.sent = True  # one message per run, even if a failure is reported twice
        title, body = outcome_message(event)
        try:
            ok = self._sender(title, body)
        except Exception as exc:  # noqa: BLE001 - a notification must never fail the run
            log.warning("notification to %s failed: %s: %s", where(self.url), type(exc).__name__, exc)
            return
        if not ok:
            log.warning("notification to %s was not delivered (apprise reported a failure)", where(self.url))
