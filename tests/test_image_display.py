"""Which way images are drawn: the detection table with fake terminals, and the settings override."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_trainer.tui.common.image_display import IMAGES_ENV, decide
from tui_trainer.tui.common.user_config import load_user_config

KITTY = {"TERM": "xterm-kitty", "KITTY_WINDOW_ID": "1"}
XTERM = {"TERM": "xterm-256color"}
WEZTERM = {"TERM": "xterm-256color", "TERM_PROGRAM": "WezTerm"}
TMUX = {"TERM": "tmux-256color", "TMUX": "/tmp/tmux-0/default,1,0"}
SCREEN = {"TERM": "screen", "STY": "1.pts-0.host"}
SERVE = {"TERM": "xterm-256color", "TEXTUAL_DRIVER": "textual.drivers.web_driver:WebDriver", "TERM_PROGRAM": "textual"}

# (terminal, what it answers when asked, setting, stdout is a terminal, extra installed) → protocol
TABLE = [
    ("kitty answers its graphics protocol", KITTY, "tgp", "auto", True, True, "tgp"),
    ("wezterm answers sixel", WEZTERM, "sixel", "auto", True, True, "sixel"),
    ("xterm -ti vt340 answers sixel", XTERM, "sixel", "auto", True, True, "sixel"),
    ("a plain xterm answers neither", XTERM, None, "auto", True, True, None),
    ("tmux without passthrough, sixel outside", TMUX, "sixel", "auto", True, True, None),
    ("screen", SCREEN, "sixel", "auto", True, True, None),
    ("--serve (xterm.js in a browser)", SERVE, "sixel", "auto", True, True, None),
    ("output piped to a file", XTERM, "sixel", "auto", False, True, None),
    ("textual-image not installed", KITTY, "tgp", "auto", True, False, None),
    ("settings say halfblocks on kitty", KITTY, "tgp", "halfblocks", True, True, None),
    ("settings say graphics inside tmux", TMUX, "sixel", "graphics", True, True, "sixel"),
    ("graphics forced on a pipe: kitty by name", KITTY, None, "graphics", False, True, "tgp"),
    ("graphics forced on a pipe: sixel otherwise", XTERM, None, "graphics", False, True, "sixel"),
    ("the environment beats the settings", {**XTERM, IMAGES_ENV: "halfblocks"}, "sixel", "graphics", True, True, None),
    ("the environment forces graphics", {**TMUX, IMAGES_ENV: "graphics"}, "sixel", "halfblocks", True, True, "sixel"),
]


@pytest.mark.parametrize(
    ("terminal", "env", "answer", "setting", "is_tty", "have_extra", "expected"), TABLE, ids=[row[0] for row in TABLE]
)
def test_images_use_terminal_graphics_only_where_they_can_be_seen(
    terminal: str, env: dict, answer: str | None, setting: str, is_tty: bool, have_extra: bool, expected: str | None
) -> None:
    asked: list[bool] = []

    def query() -> str | None:
        asked.append(True)
        return answer

    display = decide(setting, env, is_tty=is_tty, have_extra=have_extra, query=query)
    assert display.protocol == expected, display.reason
    assert display.graphics == (expected is not None)
    assert display.reason
    if not is_tty:
        assert not asked  # nobody answers on a pipe: asking would only wait


def test_a_terminal_behind_tmux_is_not_asked(monkeypatch) -> None:
    """Asking costs a wait when the reply never comes, and tmux would answer for itself, not the terminal."""
    asked: list[bool] = []
    display = decide("auto", TMUX, is_tty=True, have_extra=True, query=lambda: asked.append(True) or "sixel")
    assert not display.graphics and "tmux" in display.reason and not asked


def test_the_images_setting_is_read_and_a_bad_value_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('images = "halfblocks"\n')
    config, problems = load_user_config(path)
    assert config.images == "halfblocks" and problems == []

    path.write_text('theme = "nord"\nimages = "sixel"\n')
    config, problems = load_user_config(path)
    assert config.images == "auto"
    [problem] = problems
    assert (problem.key, problem.line) == ("images", 2)
    assert "'auto', 'graphics', 'halfblocks'" in problem.message and "'sixel'" in problem.message


def _ask_in_a_pty(replies: dict[bytes, bytes], sized: bool = True) -> tuple[str, bytes]:
    """Start a process on a pseudo-terminal, answer its queries with `replies` (what it sent → the
    answer), and return what `detect_image_display` decided there and all it wrote."""
    import fcntl
    import os
    import pty
    import select
    import struct
    import subprocess
    import sys
    import termios

    master, slave = pty.openpty()
    # rows, columns and the window's pixels: textual-image reads the cell size here instead of asking
    if sized:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 800, 480))
    code = "from tui_trainer.tui.common.image_display import detect_image_display as d; print('->', d().protocol)"
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "STY", IMAGES_ENV, "TEXTUAL_DRIVER")}
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdin=slave, stdout=slave, stderr=slave, env={**env, "TERM": "xterm-256color"}
    )
    os.close(slave)
    written = b""
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 30)
            if not ready:
                break
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the process ended and closed the terminal
                break
            if not chunk:
                break
            written += chunk
            for query, answer in replies.items():
                if query in chunk:
                    os.write(master, answer)
    finally:
        process.wait(timeout=30)
        os.close(master)
    decided = written.decode(errors="replace").rsplit("-> ", 1)[-1].strip()
    return decided, written


@pytest.mark.skipif(not hasattr(__import__("os"), "openpty"), reason="needs a pseudo-terminal")
@pytest.mark.parametrize(
    ("replies", "expected"),
    [
        ({b"\x1b[c": b"\x1b[?63;1;4;22c"}, "sixel"),  # a VT340-like answer: 4 is Sixel
        ({b"\x1b[c": b"\x1b[?62;22c", b"\x1b_G": b"\x1b_Gi=1;OK\x1b\\"}, "tgp"),  # no Sixel, Kitty graphics OK
        ({}, "None"),  # a terminal that answers neither query
    ],
    ids=["sixel", "kitty", "silent"],
)
def test_a_terminal_is_asked_what_it_shows_before_the_console_starts(replies: dict, expected: str) -> None:
    pytest.importorskip("textual_image")
    decided, written = _ask_in_a_pty(replies)
    assert b"\x1b[c" in written  # asked for its attributes (Sixel is a 4 in them)
    assert decided == expected


@pytest.mark.skipif(not hasattr(__import__("os"), "openpty"), reason="needs a pseudo-terminal")
def test_a_terminal_that_gives_no_size_gets_half_blocks_instead_of_a_crash() -> None:
    pytest.importorskip("textual_image")
    decided, written = _ask_in_a_pty({}, sized=False)  # 0 columns: textual-image divides by zero
    assert b"Traceback" not in written
    assert decided == "None"
