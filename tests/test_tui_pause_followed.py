"""`p` on a run followed from another process: it pauses the run when its process is this user's
(a signal its headless handler turns into a pause after the batch), else a notification says why;
the footer offers `p` only where it works (Pilot, 80x24, a stand-in process for the run)."""

from __future__ import annotations

import contextlib
import json
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from textual.widgets import Static

from tests.console_kit import SIZE, capture_notices, make_run, run, wait_for
from tests.helpers import REPO
from tui_trainer.runs import detach
from tui_trainer.runs.folder import RunFolder
from tui_trainer.tui.app import TrainerApp
from tui_trainer.tui.run.training_screen import TrainingScreen

# A run's process as the console sees one: it holds the folder's lock, its command line names
# tui_trainer, and it has the headless runner's pause handlers; it says when its control changes.
RUN_PROCESS = """
import sys, time
from pathlib import Path
from tui_trainer.cli.train import _install_pause_handlers
from tui_trainer.engine.events import RunControl
from tui_trainer.runs import lock
lock.acquire(Path(sys.argv[1]))
control = RunControl()
_install_pause_handlers(control, sys.stderr)
print("ready", flush=True)
said = False
while True:
    if control.paused != said:
        said = control.paused
        print("paused" if said else "resumed", flush=True)
    time.sleep(0.02)
"""


def _running_as(folder: Path, pid: int, host: str | None = None) -> None:
    status_file = RunFolder(folder).status_file
    status = json.loads(status_file.read_text())
    status.update(state="running", pid=pid, epochs_planned=9, **({"host": host} if host else {}))
    status_file.write_text(json.dumps(status))


def _said(child: subprocess.Popen) -> str:
    """The run process's next line; "" when it says nothing for a long while (a signal never came)."""
    assert child.stdout is not None
    ready, _, _ = select.select([child.stdout], [], [], 30.0)
    return child.stdout.readline().strip() if ready else ""


def _footer_key(app: TrainerApp, key: str = "p") -> str | None:
    """The description the footer shows for `key` ("Pause", "Resume"), None when it offers none."""
    shown = [b for _, b, enabled, _ in app.screen.active_bindings.values() if b.key == key and b.show and enabled]
    return shown[0].description if shown else None


async def _follow(pilot, app: TrainerApp, folder: Path) -> None:
    """Open `folder` in the console and wait until it follows the run, the footer offering `p Pause`."""
    await pilot.pause()
    app.open_run(folder)
    await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen) and app.attached_running)
    await wait_for(pilot, lambda: _footer_key(app) == "Pause")


@contextlib.contextmanager
def _run_process(folder: Path, script: str) -> Iterator[subprocess.Popen]:
    """`script` standing in for the run's process: ready, and named by status.json as the run's; killed after."""
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(folder)],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        cwd=REPO,
    )
    try:
        assert _said(child) == "ready"
        _running_as(folder, child.pid)
        yield child
    finally:
        child.kill()
        child.wait()


def test_p_pauses_and_resumes_a_followed_run_of_this_user(tmp_path: Path) -> None:
    folder = make_run(tmp_path / "runs", "theirs", "running")
    with _run_process(folder, RUN_PROCESS) as child:

        async def scenario() -> None:
            app = TrainerApp(None, [], tmp_path / "runs")
            async with app.run_test(size=SIZE) as pilot:
                await _follow(pilot, app, folder)
                await pilot.press("p")
                assert _said(child) == "paused"  # the run's own control, by signal
                await wait_for(pilot, lambda: _footer_key(app) == "Resume")
                assert app.history is not None and app.history.state == "paused"
                await pilot.press("p")
                assert _said(child) == "resumed"
                await wait_for(pilot, lambda: _footer_key(app) == "Pause")

        run(scenario())


def test_p_on_a_run_of_another_machine_says_why_and_the_footer_does_not_offer_it(tmp_path: Path) -> None:
    folder = make_run(tmp_path / "runs", "remote", "running")
    _running_as(folder, 4242, host="gpu-node-7")

    async def scenario() -> None:
        app = TrainerApp(None, [], tmp_path / "runs")
        _, notices = capture_notices(app)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            app.open_run(folder)
            await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen) and app.attached_running)
            await pilot.pause()
            assert _footer_key(app) is None
            await pilot.press("p")
            await wait_for(pilot, lambda: notices)
            assert "running on another machine (gpu-node-7)" in notices[-1][1]

    run(scenario())


def test_a_run_of_another_user_is_not_signalled(tmp_path: Path, monkeypatch) -> None:
    folder = make_run(tmp_path / "runs", "someone-elses", "running")
    with _run_process(folder, RUN_PROCESS):
        assert detach.signal_refusal(folder) == ""
        monkeypatch.setattr(detach, "_same_user", lambda pid: False)  # as a process of another uid looks
        assert "started by another user" in detach.signal_refusal(folder)


# A run's process that holds between "batches" as the trainer's loop does, with its run folder's recorder:
# the headless runner's pause handlers steer it, and status.json says when it holds.
RECORDED_RUN = """
import sys, time
from pathlib import Path
from tui_trainer.cli.train import _install_pause_handlers
from tui_trainer.engine.events import RunControl
from tui_trainer.runs import lock
from tui_trainer.runs.folder import RunFolder
from tui_trainer.runs.recorder import RunRecorder
lock.acquire(Path(sys.argv[1]))
control = RunControl()
_install_pause_handlers(control, sys.stderr)
recorder = RunRecorder(RunFolder(Path(sys.argv[1])))
print("ready", flush=True)
while True:
    control.wait_if_paused([recorder])
    time.sleep(0.02)
"""


def test_a_run_paused_by_another_console_reads_paused_here_and_p_resumes_it(tmp_path: Path) -> None:
    folder = make_run(tmp_path / "runs", "theirs", "running")
    with _run_process(folder, RECORDED_RUN):
        RunFolder(folder).write_status(classes=["cat", "dog"])  # set up: its data is loaded

        async def scenario() -> None:
            app = TrainerApp(None, [], tmp_path / "runs")
            async with app.run_test(size=SIZE) as pilot:
                await _follow(pilot, app, folder)
                detach.pause_run(folder)  # `p` in another console (or SIGTSTP from a script)
                await wait_for(pilot, lambda: _footer_key(app) == "Resume")
                assert app.history is not None and app.history.state == "paused"
                state_line = str(app.screen.query_one("#run-state", Static).render())
                assert " paused " in state_line and " since " in state_line
                await pilot.press("p")
                await wait_for(pilot, lambda: "paused_since" not in RunFolder(folder).read_status())
                await wait_for(pilot, lambda: _footer_key(app) == "Pause")
                assert app.history.state == "running"

        run(scenario())
