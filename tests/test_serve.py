"""`tui-trainer --serve`: the served command, the address, the token, and the guard in front of textual-serve.

The first tests start no server: a stand-in records what it was asked to serve. The rest start the
real one (`python -m tui_trainer --serve`) on a free port or a Unix socket and talk to it over real
sockets, as a browser or another account on the machine would.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import psutil
import pytest

from tests.helpers import SMOKE, free_port, terminate
from tui_trainer import cli
from tui_trainer.cli import commands
from tui_trainer.cli.serve import MISSING_EXTRA, ServeOptions, is_local, run_serve
from tui_trainer.cli.serve_address import Address
from tui_trainer.cli.serve_token import ENV_TOKEN, token_file_for


@dataclass
class FakeServer:
    """What `--serve` would have served: its options, and whether it got as far as printing the address."""

    options: ServeOptions
    token_file_while_serving: str | None = None

    @property
    def command(self) -> str:
        return self.options.command

    @property
    def host(self) -> str:
        return self.options.address.host

    @property
    def port(self) -> int:
        return self.options.address.port


@pytest.fixture
def served(monkeypatch) -> list[FakeServer]:
    made: list[FakeServer] = []

    def serve_forever(options: ServeOptions, make_app, ready) -> None:
        ready()  # as if the address was taken; then ctrl+c at once
        kept = token_file_for(options.address.port)
        made.append(FakeServer(options, kept.read_text() if kept.exists() else None))

    monkeypatch.setattr(commands, "serve_forever", serve_forever)
    return made


def test_serve_listens_on_this_machine_only_by_default(served, capsys) -> None:
    assert cli.main(["--serve"]) == 0
    (server,) = served
    assert (server.host, server.port) == ("127.0.0.1", 8000)
    assert shlex.split(server.command) == [
        sys.executable, "-m", "tui_trainer", "open", "--runs-dir", "runs", "--sweeps-dir", "sweeps"
    ]  # fmt: skip
    assert "warning" not in capsys.readouterr().err


def test_the_served_console_gets_the_same_preset_and_options(served, tmp_path: Path) -> None:
    args = [str(SMOKE), "--set", 'data.root="/my data"', "--runs-dir", str(tmp_path / "r"), "--port", "8123"]
    assert cli.main(["--serve", *args]) == 0
    (server,) = served
    assert server.port == 8123
    assert shlex.split(server.command)[4:] == [
        str(SMOKE), "--set", 'data.root="/my data"', "--runs-dir", str(tmp_path / "r"), "--sweeps-dir", "sweeps"
    ]  # fmt: skip


def test_a_builtin_preset_name_is_served_as_its_file(served) -> None:
    assert cli.main(["--serve", "smoke"]) == 0
    assert Path(shlex.split(served[0].command)[4]).name == "smoke.toml"


def test_another_address_is_served_with_a_warning(served, capsys) -> None:
    assert cli.main(["--serve", "--host", "0.0.0.0"]) == 0
    assert served[0].host == "0.0.0.0"
    err = capsys.readouterr().err
    assert "warning: serving on 0.0.0.0:8000" in err and "anyone who sees the traffic gets the token" in err


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--host", "0.0.0.0"], "unrecognized arguments: --host"),
        (["--port", "80"], "unrecognized arguments: --port"),
        (["--socket", "s.sock"], "unrecognized arguments: --socket"),
        (["--token-file", "t"], "unrecognized arguments: --token-file"),
        (["--serve", "--socket", "s.sock", "--host", "::1"], "argument --host: not allowed with argument --socket"),
        (["--serve", "--port", "70000"], "a port is a number from 1 to 65535"),
        (["--serve", "--port", "http"], "invalid int value"),
        (["--serve", "--headless"], "unrecognized arguments: --headless"),
        (["serve", "--port", "0"], "a port is a number from 1 to 65535"),
    ],
)
def test_bad_serve_arguments_are_usage_errors(served, capsys, args: list[str], says: str) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(args)
    assert exit_.value.code == 2
    assert says in capsys.readouterr().err
    assert served == []


def test_a_missing_preset_is_an_error_before_serving(served, capsys, tmp_path: Path) -> None:
    assert cli.main(["--serve", str(tmp_path / "nope.toml")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert served == []


def test_without_textual_serve_it_says_what_to_install(monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "textual_serve.server", None)  # import fails as if not installed
    assert run_serve(ServeOptions("tui-trainer", Address("127.0.0.1", 8000))) == 1
    err = capsys.readouterr().err
    assert MISSING_EXTRA in err and 'pip install "tui-trainer[serve]"' in err


@pytest.mark.parametrize(
    ("host", "local"),
    [("127.0.0.1", True), ("localhost", True), ("::1", True), ("0.0.0.0", False), ("10.1.2.3", False)],
)
def test_only_loopback_addresses_count_as_local(host: str, local: bool) -> None:
    assert is_local(host) is local


# ---- the token: where it comes from, where it is kept -------------------------------------------------------


def test_a_random_token_is_printed_once_in_the_address_and_kept_for_this_user_only(served, capsys) -> None:
    assert cli.main(["--serve", "--port", "8123"]) == 0
    out = capsys.readouterr().out
    (line,) = out.splitlines()
    token = parse_qs(urlsplit(line).query)["token"][0]
    assert line == f"http://127.0.0.1:8123/?token={token}" and len(token) >= 43  # secrets.token_urlsafe(32)
    assert served[0].token_file_while_serving == token + "\n"
    assert token not in served[0].command
    assert not token_file_for(8123).exists()  # removed when the server stops


def test_the_kept_token_file_is_created_readable_by_its_owner_only(monkeypatch) -> None:
    modes: list[int] = []
    monkeypatch.setattr(
        commands,
        "serve_forever",
        lambda options, make_app, ready: (ready(), modes.append(token_file_for(8124).stat().st_mode)),
    )
    assert cli.main(["--serve", "--port", "8124"]) == 0
    assert [stat.S_IMODE(mode) for mode in modes] == [0o600]


def test_the_token_can_be_set_by_the_environment_or_a_file(served, monkeypatch, capsys, tmp_path: Path) -> None:
    monkeypatch.setenv(ENV_TOKEN, "from-the-environment-0123456789")
    assert cli.main(["--serve"]) == 0
    assert capsys.readouterr().out == "http://127.0.0.1:8000/?token=from-the-environment-0123456789\n"
    assert served[0].token_file_while_serving is None  # the user has it already
    assert ENV_TOKEN not in os.environ  # the tabs' consoles do not inherit it

    monkeypatch.setenv(ENV_TOKEN, "from-the-environment-0123456789")
    token_file = tmp_path / "token"
    token_file.write_text("from+a/file=0123456789\n")
    token_file.chmod(0o600)
    assert cli.main(["--serve", "--token-file", str(token_file)]) == 0
    captured = capsys.readouterr()
    assert captured.out == "http://127.0.0.1:8000/?token=from%2Ba%2Ffile%3D0123456789\n"  # the file wins
    assert "warning" not in captured.err


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "no such file"),
        ("short\n", "a token is 16 to 1024 characters"),
        ("has spaces in it, see?\n", "a token is 16 to 1024 characters"),
    ],
)
def test_a_token_file_that_cannot_be_used_is_one_line(served, capsys, tmp_path: Path, content, says: str) -> None:
    token_file = tmp_path / "token"
    if content is not None:
        token_file.write_text(content)
    assert cli.main(["--serve", "--token-file", str(token_file)]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"error: --token-file {token_file}: {captured.err.split(': ', 2)[2]}"
    assert says in captured.err and captured.err.count("\n") == 1
    assert captured.out == "" and served == []


def test_a_token_file_other_accounts_can_read_gets_a_warning(served, capsys, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("0123456789abcdef0123\n")
    token_file.chmod(0o644)
    assert cli.main(["--serve", "--token-file", str(token_file)]) == 0
    assert f"warning: {token_file} is readable by other accounts (chmod 600 {token_file})" in capsys.readouterr().err


# ---- the real server: what a browser, a web page elsewhere and another account get --------------------------

TOKEN = "the-test-token-0123456789abcdef"


@dataclass
class RealServer:
    process: subprocess.Popen
    url: str  # as printed, with the token
    port: int

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def tabs(self) -> list[psutil.Process]:
        return psutil.Process(self.process.pid).children(recursive=True)


def _start_server(folder: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, ENV_TOKEN: TOKEN, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "tui_trainer", "--serve", *args]
    return subprocess.Popen(command, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _stop(process: subprocess.Popen) -> None:
    started = psutil.Process(process.pid).children(recursive=True) if process.poll() is None else []
    terminate(process)
    for child in started:  # a tab's console that did not quit with the server
        with contextlib.suppress(psutil.Error):
            child.kill()
    process.stdout.close()
    process.stderr.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    folder = tmp_path_factory.mktemp("served")
    port = free_port()
    process = _start_server(folder, "--port", str(port))
    try:
        url = process.stdout.readline().strip()  # the address is printed once the port is taken
        assert url, process.stderr.read()
        yield RealServer(process, url, port)
    finally:
        _stop(process)


async def _status(url: str, **headers: str) -> int:
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers, allow_redirects=False) as response:
        return response.status


SWITCHING_PROTOCOLS = 101  # the only status `ws_connect` accepts; any other raises WSServerHandshakeError


async def _websocket_status(url: str, *, origin: str | None = None, **headers: str) -> int:
    async with aiohttp.ClientSession() as session:
        try:
            async with session.ws_connect(url, origin=origin, headers=headers):
                return SWITCHING_PROTOCOLS
        except aiohttp.WSServerHandshakeError as refused:
            return refused.status


def test_without_the_token_the_page_and_the_websocket_are_refused(server: RealServer) -> None:
    base = f"http://127.0.0.1:{server.port}"
    assert asyncio.run(_status(f"{base}/")) == 403
    assert asyncio.run(_status(f"{base}/static/js/textual.js")) == 403
    assert asyncio.run(_status(f"{base}/?token=not-the-token-0123456789")) == 403
    assert asyncio.run(_websocket_status(f"ws://127.0.0.1:{server.port}/ws", origin=server.origin)) == 403
    assert server.tabs() == []  # no console was started for them


def test_a_page_from_another_site_cannot_open_the_websocket(server: RealServer) -> None:
    ws = f"ws://127.0.0.1:{server.port}/ws?token={TOKEN}"
    assert asyncio.run(_websocket_status(ws, origin="http://evil.example.com")) == 403
    assert asyncio.run(_websocket_status(ws, origin=f"http://127.0.0.1:{server.port + 1}")) == 403
    assert server.tabs() == []


def test_a_rebound_dns_name_is_refused(server: RealServer) -> None:
    host = f"rebind.attacker.example:{server.port}"
    assert asyncio.run(_status(server.url, Host=host)) == 403
    assert asyncio.run(_websocket_status(f"ws://127.0.0.1:{server.port}/ws?token={TOKEN}", Host=host)) == 403


async def _open_like_a_browser(server: RealServer) -> tuple[int, str, str, int, int]:
    """The printed address (its redirect, cookie and page), then the page's WebSocket with that cookie."""
    jar = aiohttp.CookieJar(unsafe=True)  # keep cookies for an IP address, as browsers do
    async with aiohttp.ClientSession(cookie_jar=jar) as session:
        async with session.get(server.url, allow_redirects=False) as first:
            redirect, location, cookie = first.status, first.headers["Location"], first.headers["Set-Cookie"]
        async with session.get(f"{server.origin}{location}", allow_redirects=False) as page:
            page_status = page.status
        async with session.ws_connect(f"ws://127.0.0.1:{server.port}/ws", origin=server.origin) as websocket:
            while not server.tabs():  # the tab's console is started once the WebSocket is accepted
                await asyncio.sleep(0.05)
            await websocket.close()
    return redirect, location, cookie, page_status, SWITCHING_PROTOCOLS


def test_the_token_opens_the_page_and_its_websocket_and_is_in_no_command_line(server: RealServer) -> None:
    assert server.url == f"http://127.0.0.1:{server.port}/?token={TOKEN}"
    cookie = f"tui-trainer-token-{server.port}={TOKEN}; HttpOnly; Path=/; SameSite=Strict"
    assert asyncio.run(_open_like_a_browser(server)) == (303, "/", cookie, 200, SWITCHING_PROTOCOLS)
    assert asyncio.run(_status(f"{server.origin}/", Authorization=f"token {TOKEN}")) == 200
    for process in [psutil.Process(server.process.pid), *server.tabs()]:
        with contextlib.suppress(psutil.NoSuchProcess):
            assert TOKEN not in " ".join(process.cmdline())
            if process.pid != server.process.pid:  # the server was started with it, on purpose
                assert TOKEN not in str(process.environ())


def test_a_second_server_on_a_busy_port_says_so_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        done = subprocess.run(
            [sys.executable, "-m", "tui_trainer", "--serve", "--port", str(port)],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr == f"error: port {port} is in use (another --serve?); pick another with --port\n"
    assert done.stdout == ""


def test_the_unix_socket_is_for_this_user_only(tmp_path: Path) -> None:
    path = tmp_path / "console.sock"
    process = _start_server(tmp_path, "--socket", str(path), "--port", "8000")
    try:
        url = process.stdout.readline().strip()
        assert url == f"http://localhost:8000/?token={TOKEN}", process.stderr.read()
        mode = path.lstat().st_mode
        assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600

        async def statuses() -> tuple[int, int]:
            connector = aiohttp.UnixConnector(path=str(path))
            async with aiohttp.ClientSession(connector=connector) as session:
                async with session.get("http://localhost:8000/", allow_redirects=False) as refused:
                    refused_status = refused.status
                async with session.get(url, allow_redirects=False) as allowed:
                    return refused_status, allowed.status

        assert asyncio.run(statuses()) == (403, 303)
    finally:
        _stop(process)
    assert not path.exists()  # removed when the server stops


@pytest.mark.parametrize(
    ("address", "url", "also"),
    [
        (Address("127.0.0.1", 8000), "http://127.0.0.1:8000", {"localhost:8000", "[::1]:8000"}),
        (Address("::1", 8000), "http://[::1]:8000", {"localhost:8000", "127.0.0.1:8000"}),
        (Address("10.1.2.3", 8000), "http://10.1.2.3:8000", set()),
        (Address("Box.Lab.Example", 80), "http://box.lab.example", {"box.lab.example:80"}),
        (Address("127.0.0.1", 8001, Path("s.sock")), "http://localhost:8001", {"127.0.0.1:8001", "[::1]:8001"}),
    ],
)
def test_a_browser_may_name_the_served_address_only(address: Address, url: str, also: set[str]) -> None:
    assert address.url == url
    assert address.hosts() == {urlsplit(url).netloc, *also}
    assert address.origins() == {f"http://{host}" for host in address.hosts()}
