"""A console whose terminal goes away: SIGHUP or SIGTERM stops its run between batches and it exits.

The console runs for real, in a pseudo-terminal, as a user starts it; the test plays the user
(ctrl+r) and then the terminal's end (a hang-up) or a `kill`.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import REPO, SET_TINY
from tui_trainer.runs.folder import RunFolder

pty = pytest.importorskip("pty")
pytestmark = pytest.mark.slow  # each case starts a console in a terminal of its own and trains

EXIT_WAIT = 60.0
"""Seconds a console gets to stop its run and exit (a batch of the tiny preset takes milliseconds)."""

QUICK_GRACE = (
    "import runpy, tui_trainer.tui.app as app; app.TERMINAL_GONE_GRACE = 0.5; "
    "runpy.run_module('tui_trainer', run_name='__main__')"
)
"""`python -m tui_trainer`, with the console's wait for a usual exit (5 s, after the run has saved) cut
to half a second: a console whose terminal is frozen waits all of it before it ends itself."""


def _drain(fd: int) -> None:
    """Read what the console drew, so it never blocks on a full terminal."""
    while select.select([fd], [], [], 0)[0]:
        try:
            if not os.read(fd, 65536):
                return
        except OSError:
            return


def _wait_for(condition, fd: int, what: str, seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        _drain(fd)
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("sig", "terminal"), [(signal.SIGHUP, "frozen"), (signal.SIGTERM, "frozen"), (signal.SIGTERM, "closed")]
)
def test_a_console_whose_terminal_is_gone_stops_its_run_and_exits(tmp_path: Path, sig: int, terminal: str) -> None:
    runs = tmp_path / "runs"
    args = [sys.executable, "-c", QUICK_GRACE, str(REPO / "presets" / "smoke.toml"), "--runs-dir", str(runs)]
    args += [*SET_TINY, "--set", "train.epochs=500", "--set", "scheduler.t_max=500"]
    master, slave = pty.openpty()
    env = dict(os.environ, TERM="xterm-256color", COLUMNS="100", LINES="30", OMP_NUM_THREADS="1")
    console = subprocess.Popen(
        args, stdin=slave, stdout=slave, stderr=slave, cwd=tmp_path, env=env, start_new_session=True
    )
    os.close(slave)
    try:
        folders = lambda: [p for p in runs.iterdir() if p.is_dir()] if runs.is_dir() else []  # noqa: E731
        started = time.monotonic()
        while not folders():  # the editor is up when it takes keys: ask for a run until one starts
            _drain(master)
            assert time.monotonic() - started < 120 and console.poll() is None, "the console started no run"
            os.write(master, b"\x12")  # ctrl+r
            time.sleep(0.5)
        folder = RunFolder(folders()[0])
        _wait_for(lambda: folder.metrics_file.exists(), master, "the first epoch")
        if terminal == "closed":
            os.close(master)
            master = -1
        elif terminal == "frozen":  # nobody reads it any more (a dead ssh connection not yet noticed)
            time.sleep(3)
        os.kill(console.pid, sig)
        deadline = time.monotonic() + EXIT_WAIT
        while console.poll() is None and time.monotonic() < deadline:
            if terminal == "open":
                _drain(master)
            time.sleep(0.05)
        assert console.poll() is not None, f"the console ignored {signal.Signals(sig).name}"
        status = folder.read_status()
        assert status["state"] == "interrupted" and folder.last_checkpoint.exists()
        assert 1 <= status["epochs_done"] < 500
    finally:
        if console.poll() is None:
            console.kill()
        console.wait()
        if master >= 0:
            os.close(master)
