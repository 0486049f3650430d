"""Load a preset from TOML, apply `--set` overrides, and report every problem at once.

Every problem names where it is (file and line, or the `--set` that caused it), the key path,
what was given and what is allowed, so a user can fix a preset without reading the schema.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..regular_file import UnsafeFile, read_bytes
from ..text import close_match
from .fields import all_fields, field_by_path
from .locate import key_lines, line_of
from .schema import SECTIONS, Preset, cross_field_problems

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a preset."""

    source: str  # file path or "--set key=value"
    message: str
    key: str = ""
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = self.source
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class PresetError(Exception):
    """A preset could not be loaded; `problems` lists every reason."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


_TOML_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_LONG_DIGITS = re.compile(r"\d{4000,}")
_DEEP_NESTING = re.compile(r"[\[{](?:\s*[\[{]){31}")
TOO_DEEP = "arrays or inline tables nested too deeply to read (no preset nests more than a few levels)"


def _set_source(assignment: str) -> str:
    """How a problem names the `--set` that caused it (a 5000-digit value is cut short)."""
    return f"--set {assignment if len(assignment) <= 80 else assignment[:77] + '...'}"


def _line_of_long_integer(text: str) -> int | None:
    found = _LONG_DIGITS.search(text)
    return text.count("\n", 0, found.start()) + 1 if found else None


def _decode(data: bytes, source: str) -> str:
    """UTF-8 text, or a PresetError naming the line and column of the first byte that is not UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        message = (
            f"not UTF-8 text: byte 0x{data[exc.start]:02x} cannot be decoded ({exc.reason}); save the file as UTF-8"
        )
        raise PresetError([Problem(source, message, line=line, column=column)]) from None


def _line_of_deep_nesting(text: str) -> int | None:
    found = _DEEP_NESTING.search(text)
    return text.count("\n", 0, found.start()) + 1 if found else None


def loads_or_none(text: str) -> dict[str, Any] | None:
    """The TOML text parsed, or None when it cannot be read (for a file only glanced at, as for its name)."""
    try:
        return tomllib.loads(text)
    except (ValueError, RecursionError):  # a syntax error, Python's int-string limit, arrays nested 500 deep
        return None


def parse_toml(text: str, source: str) -> dict[str, Any]:
    """Parse TOML text; a syntax error becomes a PresetError with line and column."""
    try:
        return tomllib.loads(text)
    except RecursionError:  # tomllib recurses once per nested array: `[[[[...]]]]` 500 deep
        raise PresetError([Problem(source, TOO_DEEP, line=_line_of_deep_nesting(text))]) from None
    except ValueError as exc:
        if not isinstance(exc, tomllib.TOMLDecodeError):  # Python's int-string limit: a 5000-digit integer
            line = _line_of_long_integer(text)
            raise PresetError([Problem(source, f"a number too long to read ({exc})", line=line)]) from None
        message = str(exc)
        line = getattr(exc, "lineno", None)
        column = getattr(exc, "colno", None)
        found = _TOML_POSITION.search(message)
        if found:
            line, column = int(found.group(1)), int(found.group(2))
            message = _TOML_POSITION.sub("", message).strip()
        if message == "Illegal character '\\n'":  # tomllib's word for a string left open at the line's end
            message = "unterminated string (a closing quote is missing on this line)"
        raise PresetError([Problem(source, f"TOML syntax error: {message}", line=line, column=column)]) from None


def parse_override(assignment: str) -> tuple[list[str], Any]:
    """Split `section.key=value` and read the value as TOML.

    A value that is not valid TOML is taken as a plain string, because the shell has usually
    eaten its quotes (`--set data.root="/data/x"` arrives as `data.root=/data/x`).
    """
    key, sep, value = assignment.partition("=")
    key = key.strip()
    if not sep or not key:
        raise PresetError([Problem(_set_source(assignment), "expected section.key=value")])
    parts = [part.strip() for part in key.split(".")]
    if not all(_BARE_KEY.match(part) for part in parts):
        raise PresetError(
            [
                Problem(
                    _set_source(assignment), f"{key!r} is not a key path: write section.key (letters, digits, _ and -)"
                )
            ]
        )
    try:
        parsed = tomllib.loads(f"v = {value.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value.strip()
    except RecursionError:
        raise PresetError([Problem(_set_source(assignment), TOO_DEEP)]) from None
    except ValueError as exc:  # Python's int-string limit
        raise PresetError([Problem(_set_source(assignment), f"a number too long to read ({exc})")]) from None
    return parts, parsed


def apply_overrides(raw: dict[str, Any], overrides: Iterable[str]) -> dict[str, str]:
    """Write each `--set` into the raw TOML dict; returns key path -> the --set that wrote it."""
    origins: dict[str, str] = {}
    for assignment in overrides:
        parts, value = parse_override(assignment)
        node = raw
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise PresetError([Problem(_set_source(assignment), f"{part!r} is not a table", key=".".join(parts))])
            node = child
        node[parts[-1]] = value
        origins[".".join(parts)] = _set_source(assignment)
    return origins


def _unknown_key_message(path: str) -> str:
    parts = path.split(".")
    if len(parts) == 1:
        known = [f.name for f in all_fields() if not f.section] + list(SECTIONS)
        where = "at the top level"
    else:
        section = parts[0]
        known = list(SECTIONS[section].model_fields) if section in SECTIONS else []
        where = f"in [{section}]"
    message = f"unknown key {where}"
    guess = close_match(parts[-1], known)
    if guess:
        message += f"; did you mean `{guess}`?"
    elif known:
        message += "; known keys: " + ", ".join(known)
    return message


def _short(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else f'"{value}"'
    return text if len(text) <= 60 else text[:57] + "..."


def _describe(error: dict[str, Any]) -> tuple[str, str]:
    """(key path, message) for one pydantic error."""
    loc = [str(p) for p in error["loc"] if not isinstance(p, int)]
    # Tuple/list items are reported at the list's key.
    path = ".".join(loc)
    if error["type"] == "extra_forbidden":
        return path, _unknown_key_message(path)
    spec = field_by_path(path)
    reason = error["msg"]
    if reason.startswith("Value error, "):
        reason = reason[len("Value error, ") :]
    counted = error["type"] in ("too_long", "too_short") or (
        error["type"] == "missing" and bool(error["loc"]) and isinstance(error["loc"][-1], int)
    )
    if spec is not None and spec.length is not None and counted:
        return path, f"got {_short(error.get('input'))}: needs {spec.allowed()}"
    if spec is not None and spec.pattern_words and error["type"] == "string_pattern_mismatch":
        return path, f"got {_short(error.get('input'))}: not allowed (allowed: {spec.allowed()})"
    if spec is not None and spec.choices and error["type"] == "literal_error":
        given = error.get("input")
        guess = close_match(given, [str(c) for c in spec.choices]) if isinstance(given, str) else None
        hint = f'; did you mean "{guess}"?' if guess else ""
        return path, f"got {_short(given)}: not a choice{hint} (allowed: {spec.allowed()})"
    message = f"got {_short(error.get('input'))}: {reason}"
    if spec is not None and error["type"] not in ("value_error",):
        message += f" (allowed: {spec.allowed()})"
    return path, message


def _by_line(problems: list[Problem], origins: dict[str, str]) -> list[Problem]:
    """The file's problems in line order, then the `--set` ones in the order they were given."""
    given = {origin: i for i, origin in enumerate(origins.values())}
    return sorted(problems, key=lambda p: (p.line is None, p.line or 0, given.get(p.source, -1)))


def validate(raw: dict[str, Any], source: str, text: str = "", origins: dict[str, str] | None = None) -> Preset:
    """Build a Preset from parsed TOML, or raise PresetError listing every problem."""
    origins = origins or {}
    lines = key_lines(text) if text else {}
    problems: list[Problem] = []

    def problem(path: str, message: str) -> Problem:
        for key_path, origin in origins.items():
            # The --set wrote this key, a key inside it, or the table it sits in (`--set data=3`).
            written = path == key_path or path.startswith(key_path + ".")
            if written or (key_path.startswith(path + ".") and path not in lines):
                return Problem(origin, message, key=path)
        return Problem(source, message, key=path, line=line_of(lines, path) if lines else None)

    # A section written as a plain value ("data = 3") would confuse pydantic's messages.
    for section in SECTIONS:
        if section in raw and not isinstance(raw[section], dict):
            problems.append(problem(section, f"must be a table ([{section}]), got {_short(raw[section])}"))
    if problems:
        raise PresetError(problems)
    try:
        preset = Preset.model_validate(raw)
    except ValidationError as exc:
        for error in exc.errors():
            found = problem(*_describe(error))  # type: ignore[arg-type]
            if found not in problems:  # one array short by two items is one problem
                problems.append(found)
        raise PresetError(_by_line(problems, origins)) from None
    problems = [problem(path, message) for path, message in cross_field_problems(preset)]
    if problems:
        raise PresetError(_by_line(problems, origins))
    return preset


def load_preset(
    path: str | Path,
    overrides: Sequence[str] = (),
    when_absent: Mapping[str, str] | None = None,
    follow_links: bool = True,
) -> Preset:
    """Read, override and validate a preset file (a regular file: a FIFO or a device is refused unread).

    `when_absent`: "section.key" -> TOML value used where the file does not set the key, instead of
    the schema's default (a run folder's preset written before the key existed means what it did then).
    `follow_links=False` refuses a symlink (a run folder's own preset.toml is never one).
    """
    path = Path(path)
    source = str(path)
    try:
        data = read_bytes(path, follow_links=follow_links)
    except FileNotFoundError:
        raise PresetError([Problem(source, "no such file")]) from None
    except UnsafeFile as exc:
        raise PresetError([Problem(source, exc.problem)]) from None
    except OSError as exc:
        raise PresetError([Problem(source, f"cannot read: {exc.strerror or exc}")]) from None
    return load_preset_text(_decode(data, source), source, overrides, when_absent)


def load_preset_text(
    text: str, source: str = "<preset>", overrides: Sequence[str] = (), when_absent: Mapping[str, str] | None = None
) -> Preset:
    """Like load_preset, for text already in memory (the editor's raw view)."""
    raw = parse_toml(text, source)
    absent = [f"{key}={value}" for key, value in (when_absent or {}).items() if not _has_key(raw, key)]
    origins = apply_overrides(raw, [*absent, *overrides])
    return validate(raw, source, text, origins)


def _has_key(raw: Mapping[str, Any], dotted: str) -> bool:
    section, _, key = dotted.partition(".")
    table = raw.get(section)
    return isinstance(table, Mapping) and key in table
