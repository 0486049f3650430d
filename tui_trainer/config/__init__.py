"""Presets: the typed schema, loading with precise errors, and comment-keeping saves."""

from .loading import PresetError, Problem, load_preset, load_preset_text, parse_override
from .saving import resolved_toml, save_preset, update_text
from .schema import SECTIONS, Preset

__all__ = [
    "SECTIONS",
    "Preset",
    "PresetError",
    "Problem",
    "load_preset",
    "load_preset_text",
    "parse_override",
    "resolved_toml",
    "save_preset",
    "update_text",
]
