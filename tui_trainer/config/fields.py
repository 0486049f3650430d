"""Read the schema as a flat list of fields: what the editor form, the docs and error messages show.

Nothing here declares a field; it only looks at `schema.Preset`.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

import annotated_types
from pydantic.fields import FieldInfo

from .choices import governing
from .schema import SECTIONS, Preset


@dataclass(frozen=True)
class FieldSpec:
    """One preset key as a user sees it."""

    section: str  # "" for top-level keys
    name: str
    kind: str  # bool | int | float | str | choice | list | table
    default: Any
    description: str
    choices: tuple[Any, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    min_exclusive: bool = False
    max_exclusive: bool = False
    pattern: str | None = None
    pattern_words: str = ""  # the pattern as a user reads it: "auto, cpu, cuda, cuda:N or mps"
    length: int | None = None  # a fixed-length array's number of items
    per_item: str = ""  # what each item of such an array stands for: "one per channel"
    suggest: str = ""  # what the editor suggests while typing: "model_name", "weights_file" or nothing
    chosen_by: str = ""  # the choice key that decides whether this key is read: "optimizer.name", or "" (always)
    used_by: tuple[str, ...] = ()  # the choices of chosen_by that read it: ("rmsprop", "sgd")

    @property
    def path(self) -> str:
        return f"{self.section}.{self.name}" if self.section else self.name

    def read_with(self, choice: Any) -> bool:
        """Whether a preset whose `chosen_by` key holds `choice` reads this key (always when nothing chooses)."""
        return not self.chosen_by or choice in self.used_by

    def allowed(self) -> str:
        """What values are allowed, in words: "one of a, b", "> 0 and <= 10", "true or false"."""
        if self.choices:
            return "one of " + ", ".join(_toml_literal(c) for c in self.choices)
        if self.kind == "bool":
            return "true or false"
        if self.pattern_words:
            return self.pattern_words
        if self.length is not None:
            return f"{self.length} numbers" + (f", {self.per_item}" if self.per_item else "")
        bounds = []
        if self.minimum is not None:
            bounds.append(f"{'>' if self.min_exclusive else '>='} {_number(self.minimum)}")
        if self.maximum is not None:
            bounds.append(f"{'<' if self.max_exclusive else '<='} {_number(self.maximum)}")
        kind = {
            "int": "an integer",
            "float": "a number",
            "str": "a string",
            "list": "an array",
        }.get(self.kind, "a " + self.kind)
        return kind + (" " + " and ".join(bounds) if bounds else "")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) >= 1 else f"{value:g}"


def _toml_literal(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _kind(annotation: Any) -> tuple[str, tuple[Any, ...]]:
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return "choice", typing.get_args(annotation)
    if origin in (tuple, list):
        return "list", ()
    if origin is dict:
        return "table", ()
    if origin in (typing.Union, types.UnionType):
        # A choice-or-array (loss.class_weights) is edited as TOML, like an array; others as text.
        lists = any(typing.get_origin(arg) is list for arg in typing.get_args(annotation))
        return ("list" if lists else "str"), ()
    return getattr(annotation, "__name__", "str"), ()


def _bound(bound: object) -> float | None:
    """A Field's ge/gt/le/lt bound, as the form and the reference show it (the schema's are all numbers)."""
    return bound if isinstance(bound, (int, float)) else None


def _spec(section: str, name: str, info: FieldInfo) -> FieldSpec:
    kind, choices = _kind(info.annotation)
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    if "choices" in extra:
        kind, choices = "choice", tuple(extra["choices"])  # type: ignore[arg-type]
    lo: float | None = None
    hi: float | None = None
    lo_ex = hi_ex = False
    pattern = None
    for meta in info.metadata:
        if isinstance(meta, annotated_types.Ge):
            lo = _bound(meta.ge)
        elif isinstance(meta, annotated_types.Gt):
            lo, lo_ex = _bound(meta.gt), True
        elif isinstance(meta, annotated_types.Le):
            hi = _bound(meta.le)
        elif isinstance(meta, annotated_types.Lt):
            hi, hi_ex = _bound(meta.lt), True
        elif hasattr(meta, "pattern") and meta.pattern:
            pattern = meta.pattern
    args = typing.get_args(info.annotation)
    length = len(args) if typing.get_origin(info.annotation) is tuple and args and Ellipsis not in args else None
    default = info.get_default(call_default_factory=True)
    if isinstance(default, tuple):
        default = list(default)
    path = f"{section}.{name}" if section else name
    registry = governing(path)
    return FieldSpec(
        section=section,
        name=name,
        kind=kind,
        default=default,
        description=info.description or "",
        choices=choices,
        minimum=lo,
        maximum=hi,
        min_exclusive=lo_ex,
        max_exclusive=hi_ex,
        pattern=pattern,
        pattern_words=str(extra.get("pattern_words", "")),
        length=length,
        per_item=str(extra.get("per_item", "")),
        suggest=str(extra.get("suggest", "")),
        chosen_by=registry.key if registry else "",
        used_by=registry.used_by(path) if registry else (),
    )


def top_level_fields() -> list[FieldSpec]:
    return [_spec("", n, i) for n, i in Preset.model_fields.items() if n not in SECTIONS]


def section_fields(section: str) -> list[FieldSpec]:
    return [_spec(section, n, i) for n, i in SECTIONS[section].model_fields.items()]


def all_fields() -> list[FieldSpec]:
    """Every key of a preset, top-level first, then section by section in file order."""
    out = top_level_fields()
    for section in SECTIONS:
        out.extend(section_fields(section))
    return out


def field_by_path(path: str) -> FieldSpec | None:
    for spec in all_fields():
        if spec.path == path:
            return spec
    return None
