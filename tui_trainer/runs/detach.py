"""Runs that outlive the console: start or resume a headless run in its own session, stop it by pid.

The child is `python -m tui_trainer --headless ...` in a new session (`start_new_session=True`),
so the hang-up of a closed terminal, a dropped ssh connection or a killed tmux never reaches it;
stdin is /dev/null so it never waits on a terminal; stdout and stderr go to the run's log.txt.
A new run's folder is named by the child, so it is found by the pid its status.json records; the
log starts in a hidden file of the runs folder and is moved into the run folder once found (the
child keeps writing to the same open file). Stopping is SIGINT, which headless mode turns into a
stop after the current batch with last.pt written.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from . import lock
from .folder import GONE, RunFolder, RunFolderError, effective_state, now_iso, status_alive
from .records import RunStatus
from .state import RunState

START_TIMEOUT = 90.0
"""Seconds a new run gets to create its folder (importing torch is most of it)."""
PACKAGE_ROOT = Path(__file__).resolve().parents[2]


class DetachError(RuntimeError):
    """A detached run could not be started, resumed or stopped; the message says why."""


@dataclass(frozen=True)
class DetachedRun:
    pid: int
    run_dir: Path
    log_file: Path
    command: tuple[str, ...] = ()  # what runs it again, as recorded in the folder's command.txt


def headless_command(
    preset: Path | None = None,
    *,
    runs_dir: Path,
    overrides: Sequence[str] = (),
    resume: Path | None = None,
    trust_code: bool = False,
) -> list[str]:
    """The command line of the detached child (absolute paths: its working folder may differ).

    `trust_code`: the user said yes to the resumed run's `model.target` (the child gets --trust-code)."""
    args = [sys.executable, "-m", "tui_trainer", "--headless"]
    if resume is not None:
        args += ["--resume", str(Path(resume).resolve()), *(["--trust-code"] if trust_code else [])]
    else:
        if preset is None:
            raise ValueError("a detached run needs a preset or a run to resume")
        args.append(str(Path(preset).resolve()))
        for override in overrides:
            args += ["--set", override]
    return [*args, "--runs-dir", str(Path(runs_dir).resolve())]


def spawn(args: Sequence[str], log_file: Path) -> subprocess.Popen[bytes]:
    """Start `args` detached: own session, stdin /dev/null, output appended to `log_file`."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if (PACKAGE_ROOT / "pyproject.toml").exists():  # a source checkout: the child imports this very code
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PACKAGE_ROOT), env.get("PYTHONPATH", "")) if p)
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(
            list(args),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            env=env,
        )
    # Reap it when it ends, or its pid would look alive (a zombie) to this process until exit.
    threading.Thread(target=proc.wait, name=f"reap-{proc.pid}", daemon=True).start()
    return proc


def find_run_by_pid(runs_dir: Path, pid: int, since: float = 0.0) -> Path | None:
    """The run folder under `runs_dir` whose status.json names `pid` (folders older than `since` skipped)."""
    try:
        entries = list(os.scandir(runs_dir))
    except OSError:
        return None
    for entry in entries:
        try:
            if entry.name.startswith(".") or not entry.is_dir() or entry.stat().st_mtime < since - 2:
                continue
            if RunFolder(Path(entry.path)).read_run_status().pid == pid:
                return Path(entry.path)
        except (OSError, RunFolderError):
            continue
    return None


def start_detached(
    preset: Path | None,
    runs_dir: Path,
    overrides: Sequence[str] = (),
    *,
    preset_text: str | None = None,
    timeout: float = START_TIMEOUT,
) -> DetachedRun:
    """Start a new run of `preset` (or of `preset_text`, an unsaved preset) and wait for its folder.

    Blocks until the child has created its run folder (a few seconds), so call it off the UI thread.
    The folder's command.txt records the command line that runs it again. An unsaved preset goes
    to the child through a temporary file, deleted once the child has read it, so that command
    names the folder's own preset.toml (the resolved preset, overrides applied) instead.
    """
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    temp_preset = None
    if preset_text is not None:
        fd, name = tempfile.mkstemp(prefix=".unsaved-", suffix=".toml", dir=runs_dir)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(preset_text)
        preset = temp_preset = Path(name)
    fd, log_name = tempfile.mkstemp(prefix=".detached-", suffix=".log", dir=runs_dir)
    os.close(fd)
    log = Path(log_name)
    started = time.time()
    try:
        proc = spawn(headless_command(preset, runs_dir=runs_dir, overrides=overrides), log)
        deadline = time.monotonic() + timeout
        while True:
            exited = proc.poll() is not None
            run_dir = find_run_by_pid(runs_dir, proc.pid, since=started)
            if run_dir is not None:
                folder = RunFolder(run_dir)
                os.replace(log, folder.log_file)  # same file system: the child's open file moves with it
                again = (
                    headless_command(folder.preset_file, runs_dir=runs_dir)
                    if temp_preset is not None
                    else headless_command(preset, runs_dir=runs_dir, overrides=overrides)
                )
                with contextlib.suppress(OSError):  # a courtesy record: the run goes on without it
                    folder.write_command(again)
                return DetachedRun(proc.pid, run_dir, folder.log_file, tuple(again))
            if exited:
                output = log.read_text(encoding="utf-8", errors="replace").strip()
                log.unlink(missing_ok=True)
                raise DetachError(
                    f"the run exited (code {proc.returncode}) before it created its folder"
                    + (f":\n{output[-2000:]}" if output else "")
                )
            if time.monotonic() > deadline:
                raise DetachError(f"the run (pid {proc.pid}) made no folder in {timeout:.0f} s; its output is in {log}")
            time.sleep(0.1)
    finally:
        if temp_preset is not None:
            temp_preset.unlink(missing_ok=True)  # read by the child before it creates the folder


def resume_detached(run_dir: Path, trust_code: bool = False) -> DetachedRun:
    """Continue an interrupted or failed run from its last.pt in a detached child (returns at once).

    `trust_code`: the child may import the run's `model.target` (the user said yes to it)."""
    folder = RunFolder(Path(run_dir))
    try:
        status = folder.read_run_status()
    except RunFolderError as exc:
        raise DetachError(str(exc)) from None
    # The lock, not the pid, says whether a process trains the folder: the pid may be anyone's now.
    if lock.locked_by_other(folder.path) or (status.state == RunState.RUNNING and _elsewhere(status)):
        raise DetachError(f"{folder.path.name} is still running (pid {status.pid})")
    if effective_state(status) == RunState.FINISHED:
        raise DetachError(f"{folder.path.name} has already finished")
    if not folder.last_checkpoint.exists():
        raise DetachError(f"{folder.path.name} has no last.pt to resume from")
    with open(folder.log_file, "a", encoding="utf-8") as log:
        log.write(f"\n--- resumed detached at {now_iso()} ---\n")
    command = headless_command(runs_dir=folder.path.parent, resume=folder.path, trust_code=trust_code)
    proc = spawn(command, folder.log_file)
    return DetachedRun(proc.pid, folder.path, folder.log_file)


def _elsewhere(status: RunStatus) -> bool:
    """Whether the status was written on another machine (whose locks and pids this one cannot see)."""
    return bool(status.host) and status.host != socket.gethostname()


def looks_like_trainer(pid: int) -> bool:
    """Whether `pid` runs tui-trainer (False when its pid was reused by something else).

    Only Linux's /proc can tell; elsewhere the answer is True.
    """
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return not Path("/proc/self").exists()
    except OSError:
        return True
    return b"tui_trainer" in cmdline or b"tui-trainer" in cmdline


_stops_asked: set[int] = set()
"""Pids this process has sent SIGINT to: a second SIGINT would abort the run without its checkpoint."""


PAUSE_SIGNAL = signal.SIGTSTP
"""Pauses a detached run between batches (its handler, not the kernel's stop); RESUME_SIGNAL lets it go on.
A run in a terminal has no handler: the signal suspends it as ctrl+z would, and RESUME_SIGNAL continues it."""
RESUME_SIGNAL = signal.SIGCONT


def _signal_target(folder: RunFolder, verb: str) -> int:
    """The pid of the process training `folder`, when this user may signal it; else DetachError saying why
    (`verb`: what the user asked, "stop" or "pause", for the message)."""
    try:
        status = folder.read_run_status()
    except RunFolderError as exc:
        raise DetachError(str(exc)) from None
    pid = status.pid
    if status.state == RunState.RUNNING and pid is not None and not status_alive(status):
        # The pid may now belong to another process (even another run): never signal it.
        raise DetachError(f"{folder.path.name} is not running: {GONE} (pid {pid} is not its process any more)")
    if effective_state(status) != RunState.RUNNING or pid is None:
        raise DetachError(f"{folder.path.name} is not running")
    if _elsewhere(status):
        raise DetachError(f"{folder.path.name} is running on another machine ({status.host}): {verb} it there")
    if pid == os.getpid():
        raise DetachError(f"{folder.path.name} runs in this console: {verb} it from the training screen")
    if not lock.locked_by_other(folder.path):
        # No process holds the folder's lock, so none trains it: the pid (a status without a start
        # time, hand-made or older) may belong to anything, even another tui-trainer.
        raise DetachError(f"{folder.path.name} is not running: {GONE} (no process holds its lock)")
    if not looks_like_trainer(pid):
        raise DetachError(f"pid {pid} is no longer {folder.path.name}'s process (the run is gone)")
    if not _same_user(pid):
        raise DetachError(f"{folder.path.name} was started by another user: only they can {verb} it")
    return pid


def _same_user(pid: int) -> bool:
    """Whether process `pid` is this user's (the kernel refuses to let anyone else signal it)."""
    if os.geteuid() == 0:
        return True
    try:
        import psutil

        return psutil.Process(pid).uids().real == os.getuid()
    except Exception:  # noqa: BLE001 - gone or unknowable: os.kill says so below
        return True


def signal_refusal(run_dir: Path, verb: str = "pause") -> str:
    """ "" when this user can signal the process training `run_dir`; else why not, in one line."""
    try:
        _signal_target(RunFolder(Path(run_dir)), verb)
    except DetachError as exc:
        return str(exc)
    return ""


def _send(folder: RunFolder, pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        raise DetachError(f"{folder.path.name}: its process (pid {pid}) has just ended") from None
    except PermissionError:
        raise DetachError(f"{folder.path.name} was started by another user: not allowed to signal pid {pid}") from None


def pause_run(run_dir: Path, pause: bool = True) -> int:
    """Pause a detached or external run after its current batch (or let it go on); returns the pid."""
    folder = RunFolder(Path(run_dir))
    pid = _signal_target(folder, "pause" if pause else "resume")
    _send(folder, pid, PAUSE_SIGNAL if pause else RESUME_SIGNAL)
    return pid


def stop_run(run_dir: Path, sig: int = signal.SIGINT, *, again: bool = False) -> int:
    """Ask a running run's process to stop after its current batch (SIGINT); returns the pid.

    Asking twice is refused unless `again`: headless mode takes a second SIGINT as "abort now".
    """
    folder = RunFolder(Path(run_dir))
    pid = _signal_target(folder, "stop")
    if pid in _stops_asked and sig == signal.SIGINT and not again:
        raise DetachError(f"{folder.path.name} (pid {pid}) was asked to stop: it stops after its current batch")
    _send(folder, pid, sig)
    _stops_asked.add(pid)
    if sig == signal.SIGINT:  # a paused run must wake up to stop
        with contextlib.suppress(OSError):
            os.kill(pid, RESUME_SIGNAL)
    return pid
