"""Completions while typing in the preset form: model names (timm has over a thousand) and weights files.

A field asks for one through its schema (`json_schema_extra={"suggest": ...}`, FieldSpec.suggest).
The architecture lists come from timm and torchvision, imported in a thread on the first keystroke
so the editor opens as fast as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from textual.suggester import Suggester

from ...models import MODEL_NAMES
from ...models.hub import HUB_FAMILIES, WEIGHT_SUFFIXES, MissingLibrary, architecture_names


@cache
def model_names() -> tuple[str, ...]:
    """Built-in names, then "timm:..." and "torchvision:..." for each installed library."""
    names = list(MODEL_NAMES)
    for family in HUB_FAMILIES:
        try:
            names.extend(f"{family}:{arch}" for arch in architecture_names(family))
        except MissingLibrary:
            continue
    return tuple(names)


class ModelNameSuggester(Suggester):
    """Completes "timm:conv" to the first matching architecture; Right accepts, typing narrows."""

    def __init__(self) -> None:
        super().__init__(use_cache=True, case_sensitive=False)

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            return None
        names = await asyncio.to_thread(model_names)
        return first_completion(names, value)


def first_completion(names: Iterable[str], value: str) -> str | None:
    """The shortest name that `value` begins (case-folded; `value` is folded already), the earliest of
    equals: `torchvision:res` -> resnet18, not resnet101. None when no longer name matches."""
    matches = [name for name in names if name.casefold().startswith(value) and name != value]
    return min(matches, key=len) if matches else None


def weights_file_completion(value: str) -> str | None:
    """ "hub", or the next folder or weights file whose path starts with value."""
    if value and "hub".startswith(value) and value != "hub":
        return "hub"
    if not value or value == "hub":
        return None
    typed = Path(value).expanduser()
    folder, prefix = (typed, "") if value.endswith("/") else (typed.parent, typed.name)
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return None
    for entry in entries:
        if not entry.name.startswith(prefix) or entry.name.startswith("."):
            continue
        if entry.is_dir():
            return value + entry.name[len(prefix) :] + "/"
        if entry.suffix.lower() in WEIGHT_SUFFIXES and entry.name != prefix:
            return value + entry.name[len(prefix) :]
    return None


class WeightsFileSuggester(Suggester):
    """Completes "hub" and paths to folders and .safetensors / .pth / .pt / .bin files."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)  # the disk changes

    async def get_suggestion(self, value: str) -> str | None:
        return await asyncio.to_thread(weights_file_completion, value)


SUGGESTERS: dict[str, type[Suggester]] = {"model_name": ModelNameSuggester, "weights_file": WeightsFileSuggester}
"""FieldSpec.suggest -> the Suggester class its Input gets."""
