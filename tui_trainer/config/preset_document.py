"""The preset being edited: its TOML text, the Preset it validates to, and edits not yet valid.

The TOML text is the document; the form and the raw view are two ways of editing it. A form edit
is validated by loading the text with the edit applied as a `--set` override (the loader's own
path and messages); a valid edit is written into the text with `update_text`, which touches only
the changed value and keeps every comment. An invalid edit stays pending at its field, with the
loader's message, and keeps training from starting. Nothing here knows about Textual.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import Comment, Table

from ..atomic import atomic_write_text
from . import Preset, PresetError, Problem, load_preset_text, resolved_toml, update_text
from .catalog import is_builtin, refuse_builtin
from .fields import FieldSpec, all_fields
from .loading import loads_or_none


def toml_literal(value: Any) -> str:
    """A Python value as a TOML value literal (strings quoted, dicts as inline tables)."""
    if isinstance(value, dict):
        table = tomlkit.inline_table()
        table.update(value)
        return table.as_string()
    if isinstance(value, tuple):
        value = list(value)
    return tomlkit.item(value).as_string()


def display_text(spec: FieldSpec, value: Any) -> str:
    """What an Input shows for a value: strings bare, everything else in TOML syntax."""
    if spec.kind == "str" and isinstance(value, str):
        return value
    return toml_literal(value)


def literal_from_input(spec: FieldSpec, text: str) -> str:
    """The TOML literal for what the user typed into a field's Input."""
    if spec.kind == "str":
        return toml_literal(text)
    return text.strip()


class NeedsPath(Exception):
    """Saving needs a path: a new preset, or a built-in one that cannot be written."""


NEW_PRESET_NOTE = (
    'data.dataset is "synthetic" (generated shapes) so it trains offline as it is; '
    'for real images set it to "cifar10" (with data.download = true, or the archive in data.root) '
    'or "imagefolder" with data.root'
)
"""What a new preset trains on and how to change it: the file's header and the console's notice."""
NEW_PRESET_HEADER = (
    "A new tui-trainer preset.\n"
    'data.dataset is "synthetic" (generated shapes), so it trains offline as it is. For real images set\n'
    'it to "cifar10" (with data.download = true, or the archive in data.root) or to "imagefolder" with data.root.'
)


@dataclass
class PresetDocument:
    """An open preset. `text` is what a save writes; `preset` is None while the text is invalid."""

    text: str
    path: Path | None = None
    read_only: bool = False
    saved_text: str = ""
    preset: Preset | None = None
    problems: list[Problem] = field(default_factory=list)
    """Problems of `text` itself (syntax, unknown keys, values typed in the raw view)."""
    pending: dict[str, str] = field(default_factory=dict)
    """Field path -> TOML literal of a form edit that does not validate yet."""
    field_problems: dict[str, list[str]] = field(default_factory=dict)
    """Field path -> messages to show at that field (from pending edits or the text)."""
    overrides: dict[str, str] = field(default_factory=dict)
    """Field path -> TOML literal set from the command line (`--set`) and not saved yet."""
    _unedited: tuple[str, dict[str, str]] | None = field(default=None, repr=False)
    """(text, pending) the user's own edits are measured from; None: the saved text, nothing pending."""

    # Opening --------------------------------------------------------------------------------

    @classmethod
    def open(cls, path: Path) -> PresetDocument:
        """Read a preset file (it may have problems: the editor shows them)."""
        text = path.read_text(encoding="utf-8")
        doc = cls(text=text, path=path, read_only=is_builtin(path), saved_text=text)
        doc._validate_text()
        return doc

    @classmethod
    def new(cls) -> PresetDocument:
        """An unsaved preset with every default written out, on generated images so it runs as it is:
        offline, with no dataset to fetch (the schema's default, CIFAR-10, needs the archive)."""
        defaults = Preset()
        preset = defaults.model_copy(update={"data": defaults.data.model_copy(update={"dataset": "synthetic"})})
        text = resolved_toml(preset, header=NEW_PRESET_HEADER)
        doc = cls(text=text, saved_text=text)
        doc._validate_text()
        return doc

    # State ----------------------------------------------------------------------------------

    @property
    def source(self) -> str:
        return str(self.path) if self.path else "<new preset>"

    @property
    def title(self) -> str:
        return self.path.name if self.path else "new preset"

    @property
    def dirty(self) -> bool:
        return self.text != self.saved_text or bool(self.pending)

    @property
    def edited(self) -> bool:
        """Changed in the editor since opening or saving. `--set` overrides are not edits: leaving
        with only them loses nothing the user typed, so the console does not ask about them."""
        text, pending = self._unedited or (self.saved_text, {})
        return self.text != text or self.pending != pending

    @property
    def valid(self) -> bool:
        """True when training may start: the text validates and no form edit is pending."""
        return self.preset is not None and not self.pending

    def problem_lines(self) -> list[str]:
        """Every problem, one line each, for the editor's status area."""
        lines = [str(p) for p in self.problems]
        for path in self.pending:
            for message in self.field_problems.get(path, ["invalid"]):
                lines.append(f"{path}: {message}")
        return lines

    def value(self, spec: FieldSpec) -> Any:
        """The field's value in the last valid preset (its default when the text is invalid)."""
        if self.preset is None:
            return spec.default
        owner: Any = getattr(self.preset, spec.section) if spec.section else self.preset
        value = getattr(owner, spec.name)
        return list(value) if isinstance(value, tuple) else value

    def literal(self, spec: FieldSpec) -> str:
        """The TOML literal the field holds now (a pending edit if there is one)."""
        return self.pending.get(spec.path, toml_literal(self.value(spec)))

    # Editing --------------------------------------------------------------------------------

    def set_field(self, path: str, literal: str) -> dict[str, list[str]]:
        """Apply a form edit (a TOML literal); returns the messages per field to show now."""
        if self.preset is None:
            raise ValueError("the TOML text has problems; fix them in the raw view first")
        spec = _FIELDS[path]
        if literal == toml_literal(self.value(spec)):
            self.pending.pop(path, None)
        else:
            self.pending[path] = literal
        self._settle_pending()
        return self.field_problems

    def set_override(self, path: str, literal: str) -> dict[str, list[str]]:
        """Apply a `--set` override: a form edit that does not count as one (see `edited`)."""
        problems = self.set_field(path, literal)
        self.overrides[path] = literal
        self._unedited = (self.text, dict(self.pending))
        return problems

    def set_text(self, text: str) -> list[Problem]:
        """Replace the text (the raw view); pending form edits are dropped. Returns its problems."""
        self.text = text
        self.pending.clear()
        self._validate_text()
        return self.problems

    def _validate_text(self) -> None:
        try:
            self.preset = load_preset_text(self.text, self.source)
        except PresetError as exc:
            self.preset = None
            self.problems = exc.problems
        else:
            self.problems = []
        self.field_problems = _by_field(self.problems)

    def _try(self, edits: dict[str, str]) -> Preset | list[Problem]:
        overrides = [f"{path}={literal}" for path, literal in edits.items()]
        try:
            return load_preset_text(self.text, self.source, overrides)
        except PresetError as exc:
            return exc.problems

    def _accept(self, preset: Preset, paths: Iterable[str]) -> None:
        self.text = update_text(self.text, preset)
        self.preset = preset
        for path in list(paths):
            self.pending.pop(path, None)

    def _settle_pending(self) -> None:
        """Accept every pending edit that validates; keep the rest with their messages."""
        self.field_problems = {}
        if not self.pending:
            return
        result = self._try(self.pending)
        if isinstance(result, Preset):
            self._accept(result, self.pending)
            return
        # Some edits are wrong: take the ones that validate on their own, one at a time.
        for path, literal in list(self.pending.items()):
            alone = self._try({path: literal})
            if isinstance(alone, Preset):
                self._accept(alone, [path])
        if not self.pending:
            return
        result = self._try(self.pending)
        if isinstance(result, Preset):  # the remaining edits fit together
            self._accept(result, self.pending)
            return
        self.field_problems = _by_field(result)
        # An edit that is fine by itself but breaks a rule tying it to another field
        # (imagefolder without root) is marked with the other field's message.
        for path in self.pending:
            if path not in self.field_problems:
                self.field_problems[path] = [
                    f"conflicts with {p.key}: {p.message}" for p in result if p.key and p.key not in self.pending
                ] or ["does not validate with the other edits"]

    # Saving ---------------------------------------------------------------------------------

    def save(self, path: Path | None = None) -> Path:
        """Write `text` atomically (comments and layout as they are). Pending edits are not saved.

        Raises NeedsPath for a new preset or a read-only built-in saved without a path, and
        PermissionError for a path among the built-in presets.
        """
        target = path or self.path
        if target is None or (path is None and self.read_only):
            raise NeedsPath(self.source)
        refuse_builtin(target)
        atomic_write_text(target, self.text)
        if path is not None:
            self.path = Path(path)
            self.read_only = is_builtin(self.path)
        self.saved_text = self.text
        self.overrides.clear()  # in the file now
        self._unedited = None
        return target

    def preset_name(self) -> str:
        if self.preset is not None:
            return self.preset.name
        raw = loads_or_none(self.text)
        return "untitled" if raw is None else str(raw.get("name", "untitled"))


_FIELDS: dict[str, FieldSpec] = {spec.path: spec for spec in all_fields()}


def _by_field(problems: Iterable[Problem]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for problem in problems:
        path = problem.key
        while path and path not in _FIELDS:  # a list item or a sub-key points at its field
            path = path.rpartition(".")[0]
        if path:
            out.setdefault(path, []).append(problem.message)
    return out


def field_comments(text: str) -> dict[str, str]:
    """Field path -> the comment the preset's author wrote at that key, for the form to show beside it.

    A key's comment is the block of comment lines right above it (a blank line ends a block, so a
    file's header is nobody's) and the comment at the end of its line, in file order, `#` kept.
    Empty for text that is not TOML (the raw view shows why).
    """
    try:
        document = tomlkit.parse(text)
    except (TOMLKitError, RecursionError):  # not TOML, a key twice, or arrays nested 500 deep
        return {}
    out: dict[str, str] = {}
    _collect_comments(document.body, "", out, [])
    return out


def _collect_comments(body: list[tuple[Any, Any]], prefix: str, out: dict[str, str], above: list[str]) -> None:
    for key, item in body:
        if isinstance(item, Comment):
            above.append(item.trivia.comment.rstrip())
            continue
        if key is None:  # whitespace: a blank line between a comment and a key parts them
            if "\n" in item.as_string():
                above = []
            continue
        path = f"{prefix}{key.key}"
        if isinstance(item, Table):
            # `[data]` starts afresh; a dotted key (`train.epochs = 3`) takes the comment above it.
            _collect_comments(item.value.body, f"{path}.", out, above if item.is_super_table() else [])
        else:
            lines = [*above, item.trivia.comment.rstrip()]
            comment = "\n".join(line for line in lines if line)
            if comment:
                out[path] = comment
        above = []
