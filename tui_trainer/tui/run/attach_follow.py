"""Attach the console to a run folder: a `RunFollower` on a worker thread, feeding the console's listener.

The listener posts the follower's events to the App as an in-process run's are (see
`run_session.py`), so the training and confusion screens cannot tell a detached or external run
from their own. Stopping the attachment (or the App exiting, which cancels its workers) ends the
follower within one poll; the run goes on.
"""

from __future__ import annotations

from pathlib import Path

from textual.dom import DOMNode
from textual.worker import Worker, get_current_worker

from ...engine.events import Event, Listener
from ...runs.detach import signal_refusal
from ...runs.folder import RunFolder
from ...runs.follow import POLL_INTERVAL, RunFollower


class Attachment:
    """A followed run: its folder, the follower and the worker thread that polls it."""

    def __init__(self, run_dir: Path, listener: Listener, *, expect_pid: int | None = None) -> None:
        self.run_dir = Path(run_dir)
        # Any number of consoles follow one run: each picks the run up again when another resumes it.
        self.follower = RunFollower(self.run_dir, [listener], expect_pid=expect_pid, watch_resumes=True)
        self.worker: Worker[Event | None] | None = None
        self.seen_running = False
        self._started_here = expect_pid is not None
        self._refusal: tuple[int | None, str] | None = None  # (status.json's mtime, pause_refusal's answer)
        """Whether a poll found the run still going (a finished run replays to its end in one poll)."""

    def start(self, node: DOMNode, interval: float = POLL_INTERVAL) -> Worker[Event | None]:
        """Follow on a thread worker of `node` (usually the App) until the run ends or `stop`."""

        def follow() -> Event | None:
            stop = get_current_worker().cancelled_event
            while True:
                self.follower.poll()
                if self.follower.done and not self.follower.awaiting_resume:
                    return self.follower.final
                self.seen_running = True  # its end, when it comes, happens while this console watches
                if stop.wait(interval):
                    return None

        self.worker = node.run_worker(
            follow, thread=True, name=f"follow {self.run_dir.name}", group="attach", exit_on_error=False
        )
        return self.worker

    def stop(self) -> None:
        """Stop following (the run itself is not touched)."""
        if self.worker is not None:
            self.worker.cancel()

    def pause_refusal(self) -> str:
        """ "" when this user can pause the run (its process is theirs, on this machine); else why not.
        Asked at every footer refresh, so it is worked out again only when status.json changes."""
        try:
            key = RunFolder(self.run_dir).status_file.stat().st_mtime_ns
        except OSError:
            key = None
        if self._refusal is None or self._refusal[0] != key:
            self._refusal = (key, signal_refusal(self.run_dir, "pause"))
        return self._refusal[1]

    @property
    def replaying(self) -> bool:
        """Whether what the follower sends now is the folder's past: no poll has found the run going
        yet, and this console did not just start it (`expect_pid`)."""
        return not self.seen_running and not self._started_here

    @property
    def following(self) -> bool:
        return self.worker is not None and self.worker.is_running and not self.follower.done
