"""Text from outside (file and folder names, messages that quote them) made safe to print.

A file name may hold any byte but "/" and NUL, including ESC: printed raw, `\\x1b]0;...` retitles
the terminal and `\\x1b[2J` clears it. Every control character is shown as a `\\xNN` escape
instead, so a name reads as what it is and the terminal stays the user's.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_BUT_LINES = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: object, *, lines: bool = False) -> str:
    """`text` with control characters escaped; `lines=True` keeps newlines and tabs (multi-line messages)."""
    pattern = _CONTROL_BUT_LINES if lines else _CONTROL
    return pattern.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))
