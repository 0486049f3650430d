"""Text from outside (file and folder names, messages that quote them) made safe to print.

A file name may hold any byte but "/" and NUL, including ESC: printed raw, `\\x1b]0;...` retitles
the terminal and `\\x1b[2J` clears it. Every control character is shown as a `\\xNN` escape
instead, so a name reads as what it is and the terminal stays the user's. The invisible Unicode
characters that reorder or break the text around them (bidi overrides such as U+202E, which make
`gpj.exe` read `exe.jpg`, and the line and paragraph separators) are shown as `\\uNNNN`.
"""

from __future__ import annotations

import re

_REORDERING = "\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_CONTROL = re.compile(f"[\\x00-\\x1f\\x7f-\\x9f{_REORDERING}]")
_CONTROL_BUT_LINES = re.compile(f"[\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f{_REORDERING}]")


def printable(text: object, *, lines: bool = False) -> str:
    """`text` with control characters escaped; `lines=True` keeps newlines and tabs (multi-line messages)."""
    pattern = _CONTROL_BUT_LINES if lines else _CONTROL
    return pattern.sub(_escaped, str(text))


def shown(text: object) -> str:
    """`text` to put inside console markup (`f"[b]{shown(name)}[/b]"`): printable, and a `[` in it is not a tag."""
    from rich.markup import escape  # only the console draws markup; the rest of the package never loads rich

    return escape(printable(text))


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
