"""`tui-trainer serve` (`--serve`): the console in a web browser, through textual-serve, behind a token.

textual-serve starts one console process per browser tab, running the same command a terminal
would (`tui-trainer [PRESET | RUN_DIR] --set ...`). Whoever drives a tab can do what the console
does: start training, read and write files as this user. So every request must carry the token
(`serve_guard`, in front of textual-serve's aiohttp app), the server listens on 127.0.0.1 unless
told otherwise (any other address gets a warning on stderr), or on a Unix socket only this user
can open.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import shlex
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

from ..runs.outcome import ExitCode
from ..text import command_line, printable
from .serve_address import Address, is_local
from .serve_token import (
    ENV_TOKEN,
    TokenError,
    chosen_token,
    forget_token,
    keep_token,
    new_token,
    shared_with_others,
    token_file_for,
)

LOCAL_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
MISSING_EXTRA = 'tui-trainer --serve needs textual-serve: pip install "tui-trainer[serve]"'


@dataclass(frozen=True)
class ServeOptions:
    """What `--serve` was asked for: the tab's command, where to listen, and a token file if one was named."""

    command: str
    address: Address
    token_file: Path | None = None


MakeApp = Callable[[], Awaitable[Any]]
"""Builds the aiohttp `web.Application` to serve (textual-serve's, with the guard in front)."""

ServeForever = Callable[[ServeOptions, MakeApp, Callable[[], None]], None]
"""Listens, calls its third argument once the address is taken, serves until ctrl+c; `ServeError` if it cannot."""


class ServeError(Exception):
    """The address cannot be served (a busy port, a socket path in use): one line for the user."""


def console_command(path: Path | None, overrides: Sequence[str], runs_dir: Path, sweeps_dir: Path) -> str:
    """The shell command each browser tab runs: this interpreter's console with the same arguments."""
    argv = [sys.executable, "-m", "tui_trainer", "open"]  # `open`: a PATH named like a sub-command stays a path
    if path is not None:
        argv.append(str(path))
    for override in overrides:
        argv += ["--set", override]
    argv += ["--runs-dir", str(runs_dir), "--sweeps-dir", str(sweeps_dir)]
    # textual-serve runs it through the shell: cmd.exe on Windows, sh elsewhere.
    return subprocess.list2cmdline(argv) if sys.platform == "win32" else shlex.join(argv)


def exposure_warning(host: str, port: int) -> str:
    return (
        f"warning: serving on {host}:{port}, not {LOCAL_HOST}: the connection is not encrypted, so anyone "
        "who sees the traffic gets the token, and with it can start training and read and write files as you. "
        f"To reach the console from another machine, keep the default --host {LOCAL_HOST} and forward the port "
        f"over SSH (ssh -L {port}:{LOCAL_HOST}:{port} HOST)."
    )


def run_serve(
    options: ServeOptions,
    *,
    serve_forever: ServeForever | None = None,
    environ: MutableMapping[str, str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Serve the console until ctrl+c; 1 without textual-serve, 2 for a bad token or an address in use."""
    environ = os.environ if environ is None else environ
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    try:
        from textual_serve.server import Server
    except ImportError:
        print(f"error: {MISSING_EXTRA}", file=stderr)
        return ExitCode.FAILED
    try:
        chosen = chosen_token(options.token_file, environ)
    except TokenError as exc:
        print(f"error: {exc}", file=stderr)
        return ExitCode.USAGE
    environ.pop(ENV_TOKEN, None)  # the tabs' consoles, and the runs they start, have no use for it
    address = options.address
    if options.token_file is not None and shared_with_others(options.token_file):
        path = printable(options.token_file)
        print(f"warning: {path} is readable by other accounts (chmod 600 {path})", file=stderr)
    if address.socket is None and not is_local(address.host):
        print(exposure_warning(address.host, address.port), file=stderr)
    token = chosen or new_token()
    kept_in = None if chosen else token_file_for(address.port)  # a token the user chose, the user has

    async def make_app() -> Any:
        from .serve_guard import guard

        server = Server(options.command, title="tui-trainer", public_url=address.url)  # the page's links
        server.initialize_logging()
        app = await server._make_app()  # textual-serve's routes; the guard goes in front of all of them
        app.on_startup.remove(server.on_startup)  # its banner names the address without the token
        app.middlewares.insert(0, guard(token, address))
        return app

    def ready() -> None:
        print(f"{address.url}/?token={quote(token, safe='')}", file=stdout, flush=True)
        print(_serving_note(address, kept_in and _kept(kept_in, token, stderr)), file=stderr, flush=True)

    try:
        (serve_forever or _serve_forever)(options, make_app, ready)
    except ServeError as exc:
        print(f"error: {exc}", file=stderr)
        return ExitCode.USAGE
    except KeyboardInterrupt:  # where signal handlers cannot be installed (Windows)
        pass
    finally:
        if kept_in is not None:
            forget_token(kept_in, token)
    return ExitCode.OK


def _kept(path: Path, token: str, stderr: TextIO) -> Path | None:
    """`path` once the token is written there (0600); None, after a warning, where it cannot be."""
    try:
        keep_token(path, token)
    except OSError as exc:
        print(f"warning: could not keep the token in {printable(path)}: {exc.strerror}", file=stderr)
        return None
    return path


def _serving_note(address: Address, kept_in: Path | None) -> str:
    where = "tui-trainer: open the address above; it holds the token"
    where += f" (also in {printable(kept_in)}). " if kept_in is not None else ". "
    if address.socket is not None:
        path = printable(address.socket)
        forward = command_line("ssh", "-L", f"{address.port}:{address.socket}", "HOST")
        where += f"Listening on {path} (only you can connect): forward it first, {forward}. "
    return where + "Closing a tab stops its console and the run it started; ctrl+c stops the server."


def _serve_forever(options: ServeOptions, make_app: MakeApp, ready: Callable[[], None]) -> None:
    """Take the address first (so a busy one is one line, before anything is printed), then serve."""
    address = options.address
    listener = _bind_unix(address.socket) if address.socket is not None else _bind_tcp(address.host, address.port)
    try:
        asyncio.run(_serve_until_stopped(listener, make_app, ready))
    finally:
        listener.close()
        if address.socket is not None:
            with contextlib.suppress(OSError):
                address.socket.unlink()


async def _serve_until_stopped(listener: socket.socket, make_app: MakeApp, ready: Callable[[], None]) -> None:
    from aiohttp import web

    runner = web.AppRunner(await make_app(), handle_signals=False, access_log=None)  # the log would hold ?token=
    await runner.setup()
    try:
        await web.SockSite(runner, listener).start()
        ready()
        stop = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):  # Windows: ctrl+c is a KeyboardInterrupt
                asyncio.get_running_loop().add_signal_handler(signum, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()


def _bind_tcp(host: str, port: int) -> socket.socket:
    try:
        family, kind, proto, _, sockaddr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise ServeError(f"--host {printable(host)}: {exc.strerror}") from None
    listener = socket.socket(family, kind, proto)
    if sys.platform != "win32":  # on Windows this option would let two servers share the port
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(sockaddr)
        listener.listen(100)
    except OSError as exc:
        listener.close()
        if exc.errno == errno.EADDRINUSE:
            raise ServeError(f"port {port} is in use (another --serve?); pick another with --port") from None
        raise ServeError(f"cannot listen on {printable(host)}:{port}: {exc.strerror}") from None
    return listener


def _bind_unix(path: Path) -> socket.socket:
    """A Unix socket at `path` that only this user can connect to (mode 0600 from its creation)."""
    where = f"--socket {printable(path)}"
    with contextlib.suppress(FileNotFoundError):
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            raise ServeError(f"{where}: exists and is not a socket; pick another path")
        if _answers(path):
            raise ServeError(f"{where} is in use (another --serve?); pick another path")
        path.unlink()  # left by a server that did not stop cleanly
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)  # the socket file is created 0600: no moment when others may connect
    try:
        listener.bind(str(path))
        listener.listen(100)
    except OSError as exc:
        listener.close()
        raise ServeError(f"{where}: {exc.strerror or exc}") from None
    finally:
        os.umask(old_umask)
    return listener


def _answers(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
        return True
