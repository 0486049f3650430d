"""The secret a browser must show to reach `tui-trainer --serve`: where it comes from and where it is kept.

A random one by default (`secrets.token_urlsafe(32)`), printed once in the URL to open and kept in
`serve-PORT.token` in the user's state folder (mode 0600), so a lost terminal does not lose it.
`TUI_TRAINER_SERVE_TOKEN` or `--token-file PATH` choose one instead. Never a command-line value:
every account on the machine can read a process's arguments (`ps`, `/proc/PID/cmdline`).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path

import platformdirs

from ..atomic import atomic_write_text
from ..text import printable

ENV_TOKEN = "TUI_TRAINER_SERVE_TOKEN"
MIN_LENGTH, MAX_LENGTH = 16, 1024
_TOKEN = re.compile(r"[A-Za-z0-9._~+/=-]+")  # URL-safe, base64 and hex tokens; nothing a cookie must quote
RULE = f"{MIN_LENGTH} to {MAX_LENGTH} characters: letters, digits and - . _ ~ + / ="


class TokenError(ValueError):
    """A chosen token that cannot be used; the message names where it came from."""


def new_token() -> str:
    return secrets.token_urlsafe(32)


def chosen_token(token_file: Path | None, environ: Mapping[str, str]) -> str | None:
    """The token the user set (`--token-file` first, then the environment), or None for a random one."""
    if token_file is not None:
        return _checked(_read_token_file(token_file), f"--token-file {printable(token_file)}")
    if environ.get(ENV_TOKEN, "").strip():  # set but empty counts as not set
        return _checked(environ[ENV_TOKEN].strip(), ENV_TOKEN)
    return None


def shared_with_others(token_file: Path) -> bool:
    """Whether accounts other than the owner may read `token_file` (a token there is no secret)."""
    return bool(token_file.stat().st_mode & (stat.S_IRGRP | stat.S_IROTH))


def token_file_for(port: int) -> Path:
    """Where a random token is kept while its server runs: `serve-PORT.token` in the state folder."""
    return Path(platformdirs.user_state_dir("tui-trainer", appauthor=False)) / f"serve-{port}.token"


def keep_token(path: Path, token: str) -> None:
    """Write `token` to `path`, readable and writable by this user only (0600 from the start)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, token + "\n", permissions=0o600)


def forget_token(path: Path, token: str) -> None:
    """Remove the token file when the server stops, unless another server has written its own since."""
    with contextlib.suppress(OSError):
        if path.read_text(encoding="utf-8").strip() == token:
            path.unlink()


def _read_token_file(path: Path) -> str:
    where = f"--token-file {printable(path)}"
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise TokenError(f"{where}: not a regular file")
        with open(path, "rb") as handle:
            data = handle.read(MAX_LENGTH + 2)  # a token and its newline; more is not a token file
    except FileNotFoundError:
        raise TokenError(f"{where}: no such file") from None
    except OSError as exc:
        raise TokenError(f"{where}: {printable(exc.strerror)}") from None
    try:
        return data.decode("ascii").strip()
    except UnicodeDecodeError:
        raise TokenError(f"{where}: a token is {RULE}") from None


def _checked(token: str, where: str) -> str:
    if not MIN_LENGTH <= len(token) <= MAX_LENGTH or not _TOKEN.fullmatch(token):
        raise TokenError(f"{where}: a token is {RULE}")
    return token
