"""Architectures from timm and torchvision, named "timm:<architecture>" or "torchvision:<architecture>".

Importing this module loads neither torch, timm nor torchvision: `parse_hub_name` is plain string
work the schema uses, and the architecture lists are read from the libraries only when asked for
(`--check`, the editor's suggestions, building a model).
"""

from __future__ import annotations

import difflib
import importlib
import re
from functools import cache
from types import ModuleType

HUB_FAMILIES: tuple[str, ...] = ("timm", "torchvision")
"""Model name prefixes that select an architecture from a library instead of the built-in zoo."""

WEIGHT_SUFFIXES: tuple[str, ...] = (".safetensors", ".pth", ".pt", ".bin")
"""Weights files `model.pretrained` reads: safetensors, or torch.save'd state dicts (loaded weights-only)."""

TIMM_MISSING = 'timm is not installed; install it with `pip install "tui-trainer[timm]"`'

_HUB_NAME = re.compile(r"^(timm|torchvision):([A-Za-z0-9_][\w.\-]*)$")


class MissingLibrary(ImportError):
    """An optional library a model name needs is not installed; the message says how to add it."""


def parse_hub_name(name: str) -> tuple[str, str] | None:
    """("timm", "resnet18") for "timm:resnet18"; None for a built-in name.

    A timm architecture may carry a weights tag ("timm:resnet18.a1_in1k").
    """
    found = _HUB_NAME.match(name)
    return (found.group(1), found.group(2)) if found else None


def is_hub_name(name: str) -> bool:
    return parse_hub_name(name) is not None


def import_family(family: str) -> ModuleType:
    """The library behind a family; a missing timm raises MissingLibrary naming the extra."""
    module = "timm" if family == "timm" else "torchvision.models"
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if family == "timm":
            raise MissingLibrary(TIMM_MISSING) from exc
        raise MissingLibrary(f"torchvision is not installed ({exc}); reinstall tui-trainer") from exc


@cache
def architecture_names(family: str) -> tuple[str, ...]:
    """Every architecture the library can build (timm: without weight tags), sorted."""
    library = import_family(family)
    if family == "timm":
        return tuple(library.list_models())
    return tuple(sorted(library.list_models(module=library)))  # classification models only


@cache
def _timm_tagged_names() -> frozenset[str]:
    return frozenset(import_family("timm").list_models(pretrained=True))


def architecture_problem(name: str) -> str | None:
    """Why a "family:architecture" name cannot be built (with a did-you-mean), or None when it can.

    Raises MissingLibrary when the family's library is not installed.
    """
    parsed = parse_hub_name(name)
    if parsed is None:
        return f"{name!r} is not of the form timm:<architecture> or torchvision:<architecture>"
    family, arch = parsed
    known = architecture_names(family)
    if arch in known:
        return None
    if family == "timm" and "." in arch:
        base, _, tag = arch.partition(".")
        if base in known:
            if arch in _timm_tagged_names():
                return None
            tags = sorted(n.partition(".")[2] for n in _timm_tagged_names() if n.partition(".")[0] == base)
            return f"timm has no weights tag {tag!r} for {base!r}; known tags: {', '.join(tags) or 'none'}"
        arch = base
    message = f"{family} has no architecture {arch!r}"
    guesses = difflib.get_close_matches(arch, known, n=3, cutoff=0.6)
    if guesses:
        message += "; did you mean " + ", ".join(f"`{family}:{g}`" for g in guesses) + "?"
    return message
