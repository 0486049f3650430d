"""The model zoo: a name -> factory table.

This module stays free of torch so that presets can be validated without loading it; each entry
names where its factory lives and is imported only when a model is built.
"""

from __future__ import annotations

import importlib
from typing import Any

CATALOG: dict[str, str] = {
    "adaptive_resnet": "tui_trainer.models.adaptive_resnet:adaptive_resnet",
    "resnet18": "tui_trainer.models.resnet:resnet18",
    "resnet9": "tui_trainer.models.resnet9:resnet9",
    "small_cnn": "tui_trainer.models.small_cnn:small_cnn",
}
"""Built-in model name -> "module:factory". Each factory takes num_classes and keyword options."""

MODEL_NAMES: tuple[str, ...] = tuple(CATALOG)


class ModelTargetError(ValueError):
    """`model.target` names no importable factory: the preset's mistake, not a crash."""


def resolve_factory(target: str) -> Any:
    """Import "package.module:attribute" and return the attribute."""
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise ModelTargetError(f'model target {target!r} must look like "package.module:factory"')
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # a missing module, or one that fails while importing (e.g. a SyntaxError)
        raise ModelTargetError(
            f"model target {target!r}: cannot import {module_name!r} ({type(exc).__name__}: {exc})"
        ) from exc
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ModelTargetError(f"model target {target!r}: {module_name!r} has no {attr!r}") from None
