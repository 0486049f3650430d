"""Starting and ending real torchrun jobs in tests: free ports, a clean environment, worker pids."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path

from tests.helpers import REPO


def job_env(home: Path, **extra: str) -> dict[str, str]:
    """This environment without a torchrun job's variables, with its own cache and config folders."""
    env = dict(os.environ)
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    env.update(
        XDG_CACHE_HOME=str(home / "cache"),
        XDG_CONFIG_HOME=str(home / "config"),
        TUI_TRAINER_CACHE=str(home / "cache" / "tui-trainer"),
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")])),
        OMP_NUM_THREADS="1",
        **extra,
    )
    return env


def worker_pids(parent: int) -> dict[int, int]:
    """{RANK: pid} of the workers torchrun (`parent`) started."""
    workers = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid != parent:
                continue
            environ = (entry / "environ").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        for item in environ:
            if item.startswith(b"RANK="):
                workers[int(item[5:])] = int(entry.name)
    return workers


def stop_job(proc: subprocess.Popen) -> None:
    """Make sure a torchrun job is gone, workers included (they run in their own sessions)."""
    if proc.poll() is not None:
        return
    workers = worker_pids(proc.pid)
    proc.terminate()  # torchrun passes SIGTERM on to its workers
    try:
        proc.wait(timeout=40)
    except subprocess.TimeoutExpired:
        proc.kill()
    for pid in workers.values():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
