"""Sweeps that outlive the console: start `tui-trainer --sweep` in its own session, stop it by pid.

Like detached runs (runs/detach.py): a new session, stdin /dev/null, output appended to the sweep
folder's log.txt. Stopping sends SIGINT to the process of each running trial on this machine;
the sweep stops that trial after its batch (it goes back in the queue) and starts no other.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from pathlib import Path

from .detach import DetachError, looks_like_trainer, spawn
from .folder import pid_alive
from .sweep_study import SweepFolder


def sweep_command(sweep_file: Path, sweeps_dir: Path, trust_code: bool = False) -> list[str]:
    """`--sweep`'s command line; `trust_code`: the user said yes to the trials' `model.target`."""
    return [
        sys.executable,
        "-m",
        "tui_trainer",
        "--sweep",
        str(Path(sweep_file).resolve()),
        "--sweeps-dir",
        str(Path(sweeps_dir).resolve()),
        *(["--trust-code"] if trust_code else []),
    ]


def start_sweep_detached(sweep_file: Path, sweeps_dir: Path, folder: SweepFolder, trust_code: bool = False) -> int:
    """Start (or continue) the sweep in a detached process; returns its pid at once."""
    folder.path.mkdir(parents=True, exist_ok=True)
    proc = spawn(sweep_command(sweep_file, sweeps_dir, trust_code), folder.log_file)
    return proc.pid


def sweep_pids(study) -> list[int]:
    """Live processes of this machine that run a trial of `study` now."""
    import optuna

    pids = set()
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        pid, host = trial.user_attrs.get("pid"), trial.user_attrs.get("host")
        if isinstance(pid, int) and host == socket.gethostname() and pid != os.getpid() and pid_alive(pid, host):
            pids.add(pid)
    return sorted(pids)


def stop_sweep(study) -> list[int]:
    """SIGINT to every process of this machine running a trial of `study`; returns their pids."""
    pids = [pid for pid in sweep_pids(study) if looks_like_trainer(pid)]
    if not pids:
        raise DetachError("no trial of this sweep is running on this machine")
    for pid in pids:
        try:
            os.kill(pid, signal.SIGINT)
        except ProcessLookupError:
            continue
        except PermissionError:
            raise DetachError(f"not allowed to signal pid {pid} (another user's sweep)") from None
    return pids
