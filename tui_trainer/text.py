"""One way to say a thing, for the console and the command line alike.

Text from outside (file and folder names, messages that quote them) made safe to print: a file
name may hold any byte but "/" and NUL, including ESC: printed raw, `\\x1b]0;...` retitles the
terminal and `\\x1b[2J` clears it. Every control character is shown as a `\\xNN` escape instead,
so a name reads as what it is and the terminal stays the user's. The invisible Unicode characters
that reorder or break the text around them (bidi overrides such as U+202E, which make `gpj.exe`
read `exe.jpg`, and the line and paragraph separators) are shown as `\\uNNNN`.

And the figures both front ends print: a path, a learning rate, a duration or ETA, a set-up line, a sweep
cell, each formatted here once so a test never has to keep two copies in step.
"""

from __future__ import annotations

import difflib
import os
import re
import shlex
from collections.abc import Iterable

_REORDERING = "\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_CONTROL = re.compile(f"[\\x00-\\x1f\\x7f-\\x9f{_REORDERING}]")
_CONTROL_BUT_LINES = re.compile(f"[\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f{_REORDERING}]")


def printable(text: object, *, lines: bool = False) -> str:
    """`text` with control characters escaped; `lines=True` keeps newlines and tabs (multi-line messages)."""
    pattern = _CONTROL_BUT_LINES if lines else _CONTROL
    return pattern.sub(_escaped, str(text))


def command_line(*words: object) -> str:
    """A command for the user to paste: each word printable and quoted for the shell where it needs it,
    so a run folder named `my runs/a (2)` pastes as one word."""
    return shlex.join(printable(word) for word in words)


def shown(text: object) -> str:
    """`text` to put inside console markup (`f"[b]{shown(name)}[/b]"`): printable, and a `[` in it is not a tag."""
    from rich.markup import escape  # only the console draws markup; the rest of the package never loads rich

    return escape(printable(text))


def short_path(path: str | os.PathLike[str], *, relative: bool = True) -> str:
    """`path` as a user reads it: absolute, with `.` and `..` worked out, and relative to the current
    folder when it lies below it (`<cwd>/../data/a.jpg` -> `/home/me/data/a.jpg`, `<cwd>/runs/x` -> `runs/x`).

    `relative=False` for a file that outlives this folder (a CSV, a list of bad images): always
    absolute, so it means the same wherever it is read. Worked out from the text alone (no symlink
    is followed): showing a path never reads the disk. Not escaped: print it through `printable`."""
    full = os.path.normpath(os.path.abspath(path))
    here = os.getcwd()
    below = here.rstrip(os.sep) + os.sep
    if not relative or not full.startswith(below):
        return "." if relative and full == here else full
    return full[len(below) :]


def source_path(name: str, *, relative: bool = True) -> str:
    """Where a sample came from, as the data layer names it: a file (an absolute path) through
    `short_path`; an archive member or a dataset row (`shard-000.tar:a.jpg`, `mnist[test][3]`),
    which is no path of this machine, as it is."""
    return short_path(name, relative=relative) if os.path.isabs(name) else name


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def format_lr(lr: float) -> str:
    """`lr` with three significant digits (`0.001`, `3e-04` as `0.0003`, `9.54e-05`).

    It is also how the LR finder rounds the value it writes into a preset, so the rate a user
    reads is the one the preset holds."""
    return f"{lr:.3g}"


def lr_step_text(step: int, steps: int, lr: float, loss: float) -> str:
    """The LR range test's progress: `step 37/100: lr 0.00123, loss 2.3041` (the loss smoothed)."""
    return f"step {step}/{steps}: lr {format_lr(lr)}, loss {loss:.4f}"


def format_duration(seconds: float | None) -> str:
    """A duration or an ETA as a clock reads: `0:07`, `4:05`, `1:02:03`; "" for None (not known)."""
    if seconds is None:
        return ""
    hours, rest = divmod(max(0, round(seconds)), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def count_of(count: int, noun: str) -> str:
    """`1 problem`, `2 problems`, `0 problems`: a count with its noun, singular only for one."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def close_match(name: str, choices: Iterable[str]) -> str | None:
    """The choice `name` was most likely meant to be (a typo's fix, by difflib), or None."""
    found = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


def format_value(value: object) -> str:
    """A sweep's cell (an objective, a parameter, a count): 4 significant digits; `-` for none yet."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


SETUP_UNITS = {"generate": "splits", "decode": "images", "check": "files"}
"""The unit of `done/total` by the set-up stage's first word; stages not listed count steps."""


def setup_text(stage: str, done: int, total: int, rate: float = 0.0, eta: float = 0.0) -> str:
    """Set-up progress in words: `decode train: 1,200/50,000 images  900 img/s, ETA 0:54`.

    A one-step stage reads `cache train: done`; without a total, the stage alone. The rate follows
    when the data layer reports one (as it decodes), and the ETA while the stage is under way.
    """
    if not total:
        return stage
    if total == 1:
        return f"{stage}: done" if done >= 1 else stage
    unit = SETUP_UNITS.get(stage.split(" ", 1)[0], "steps")
    text = f"{stage}: {done:,}/{total:,} {unit}"
    if rate > 0:  # the rate stays on the finished line: it says how fast the decode went
        text += f"  {rate:,.0f} img/s" + (f", ETA {format_duration(eta)}" if done < total else "")
    return text
