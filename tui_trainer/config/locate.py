"""Find the line on which a key of a TOML document is written, for error messages.

tomllib gives values without positions, so this reads the text itself: table headers and
`key = value` lines, skipping multi-line strings and arrays. It only has to be right for the
plain files presets are; when it cannot tell it says so (None) rather than guess.
"""

from __future__ import annotations

import re

_HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")
_STRING = re.compile(r""""(?:[^"\\]|\\.)*"|'[^']*'""")
_KEY = re.compile(r"""^\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*=""")


def _split_dotted(key: str) -> list[str]:
    parts = re.findall(r"""[A-Za-z0-9_-]+|"[^"]*"|'[^']*'""", key)
    return [p.strip("\"'") for p in parts]


def key_lines(text: str) -> dict[str, int]:
    """Map "section.key" (and "section" for headers) to 1-based line numbers."""
    lines: dict[str, int] = {}
    table: list[str] = []
    in_multiline: str | None = None
    bracket_depth = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if in_multiline:
            if line.count(in_multiline) % 2 == 1:
                in_multiline = None
            continue
        if bracket_depth > 0:
            bracket_depth += line.count("[") - line.count("]")
            continue
        header = _HEADER.match(line)
        if header and not line.lstrip().startswith("[["):
            table = _split_dotted(header.group(1))
            lines.setdefault(".".join(table), number)
            continue
        key = _KEY.match(line)
        if key:
            path = ".".join([*table, *_split_dotted(key.group(1))])
            lines.setdefault(path, number)
            # Parent tables written as dotted keys ("optimizer.lr = 1") count too.
            parts = path.split(".")
            for i in range(1, len(parts)):
                lines.setdefault(".".join(parts[:i]), number)
            rest = line[key.end() :]
            for quote in ('"""', "'''"):
                if rest.count(quote) % 2 == 1:
                    in_multiline = quote
            value = _STRING.sub('""', rest).split("#", 1)[0]  # a "#" or "[" inside a string is text
            bracket_depth = max(0, value.count("[") - value.count("]"))
    return lines


def line_of(lines: dict[str, int], path: str) -> int | None:
    """Line of `path`, or of its nearest written parent (a missing key points at its table)."""
    parts = path.split(".")
    while parts:
        found = lines.get(".".join(parts))
        if found is not None:
            return found
        parts.pop()
    return None
