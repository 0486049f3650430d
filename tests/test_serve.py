"""`tui-trainer --serve`: the served command, the address, and the message when textual-serve is missing.

No server is started: a stand-in factory records what it was given.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import ClassVar

import pytest

from tests.helpers import SMOKE
from tui_trainer import cli
from tui_trainer.serve import MISSING_EXTRA, is_local, run_serve


class FakeServer:
    made: ClassVar[list[FakeServer]] = []

    def __init__(self, command: str, *, host: str, port: int, title: str) -> None:
        self.command, self.host, self.port, self.title = command, host, port, title
        self.served = False
        FakeServer.made.append(self)

    def serve(self) -> None:
        self.served = True


@pytest.fixture
def served(monkeypatch) -> list[FakeServer]:
    FakeServer.made = []
    monkeypatch.setattr(cli, "serve_factory", FakeServer)
    return FakeServer.made


def test_serve_listens_on_this_machine_only_by_default(served, capsys) -> None:
    assert cli.main(["--serve"]) == 0
    (server,) = served
    assert (server.host, server.port, server.served) == ("127.0.0.1", 8000, True)
    assert shlex.split(server.command) == [
        sys.executable, "-m", "tui_trainer", "--runs-dir", "runs", "--sweeps-dir", "sweeps"
    ]  # fmt: skip
    assert capsys.readouterr().err == ""


def test_the_served_console_gets_the_same_preset_and_options(served, tmp_path: Path) -> None:
    args = [str(SMOKE), "--set", 'data.root="/my data"', "--runs-dir", str(tmp_path / "r"), "--port", "8123"]
    assert cli.main(["--serve", *args]) == 0
    (server,) = served
    assert server.port == 8123
    assert shlex.split(server.command)[3:] == [
        str(SMOKE), "--set", 'data.root="/my data"', "--runs-dir", str(tmp_path / "r"), "--sweeps-dir", "sweeps"
    ]  # fmt: skip


def test_a_builtin_preset_name_is_served_as_its_file(served) -> None:
    assert cli.main(["--serve", "smoke"]) == 0
    assert Path(shlex.split(served[0].command)[3]).name == "smoke.toml"


def test_another_address_is_served_with_a_warning(served, capsys) -> None:
    assert cli.main(["--serve", "--host", "0.0.0.0"]) == 0
    assert served[0].host == "0.0.0.0"
    err = capsys.readouterr().err
    assert "warning: serving on 0.0.0.0:8000" in err and "anyone who can reach this address" in err


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--host", "0.0.0.0"], "--host and --port go with --serve"),
        (["--port", "80"], "--host and --port go with --serve"),
        (["--serve", "--port", "70000"], "a port is a number from 1 to 65535"),
        (["--serve", "--port", "http"], "invalid int value"),
        (["--serve", "--headless"], "not allowed with argument"),
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
    assert run_serve("tui-trainer") == 1
    err = capsys.readouterr().err
    assert MISSING_EXTRA in err and 'pip install "tui-trainer[serve]"' in err


@pytest.mark.parametrize(
    ("host", "local"),
    [("127.0.0.1", True), ("localhost", True), ("::1", True), ("0.0.0.0", False), ("10.1.2.3", False)],
)
def test_only_loopback_addresses_count_as_local(host: str, local: bool) -> None:
    assert is_local(host) is local
