"""`tui-trainer --serve`: the console in a web browser, through textual-serve.

textual-serve starts one console process per browser tab, running the same command a terminal
would (`tui-trainer [PRESET | RUN_DIR] --set ...`). Whoever reaches the address can do what the
console does: start training, read and write files as this user, with no password. So it listens
on 127.0.0.1 unless told otherwise, and any other address gets a warning on stderr.
"""

from __future__ import annotations

import ipaddress
import shlex
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

LOCAL_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
MISSING_EXTRA = 'tui-trainer --serve needs textual-serve: pip install "tui-trainer[serve]"'

ServerFactory = Callable[..., Any]
"""`textual_serve.server.Server(command, host=, port=, title=)`: an object whose `serve()` runs until ctrl+c."""


def console_command(path: Path | None, overrides: Sequence[str], runs_dir: Path, sweeps_dir: Path) -> str:
    """The shell command each browser tab runs: this interpreter's console with the same arguments."""
    argv = [sys.executable, "-m", "tui_trainer"]
    if path is not None:
        argv.append(str(path))
    for override in overrides:
        argv += ["--set", override]
    argv += ["--runs-dir", str(runs_dir), "--sweeps-dir", str(sweeps_dir)]
    # textual-serve runs it through the shell: cmd.exe on Windows, sh elsewhere.
    return subprocess.list2cmdline(argv) if sys.platform == "win32" else shlex.join(argv)


def is_local(host: str) -> bool:
    """Whether only this machine can reach `host` (a loopback address or "localhost")."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str, port: int) -> str:
    return (
        f"warning: serving on {host}:{port}, not {LOCAL_HOST}: anyone who can reach this address can start "
        "training and read and write files as you, with no password. To reach the console from another "
        f"machine, keep the default --host {LOCAL_HOST} and forward the port over SSH "
        f"(ssh -L {port}:{LOCAL_HOST}:{port} HOST)."
    )


def run_serve(
    command: str,
    host: str = LOCAL_HOST,
    port: int = DEFAULT_PORT,
    *,
    server_factory: ServerFactory | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Serve `command` until ctrl+c; 1 when textual-serve is not installed."""
    stderr = sys.stderr if stderr is None else stderr
    if server_factory is None:
        try:
            from textual_serve.server import Server
        except ImportError:
            print(f"error: {MISSING_EXTRA}", file=stderr)
            return 1
        server_factory = Server
    if not is_local(host):
        print(exposure_warning(host, port), file=stderr)
    server = server_factory(command, host=host, port=port, title="tui-trainer")
    server.serve()
    return 0
