"""Fill in what pretrained weights expect: normalisation mean/std and image size.

Weights trained on ImageNet expect their inputs normalised with ImageNet's statistics and see their
best accuracy near their training resolution. When a preset uses pretrained weights, the fields it
does not set itself (pydantic's `model_fields_set`) are taken from the model's own pretrained
config: timm's `pretrained_cfg`, torchvision's weights transforms. This runs before training
starts, so the run's resolved preset, saved in the run folder and every checkpoint, holds the
concrete values; `--check` prints the same notes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..config.schema import DataConfig, Preset
from ..models.hub import import_family, parse_hub_name
from .hub_models import HUB


@dataclass(frozen=True)
class PretrainedDataConfig:
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    image_size: int
    source: str  # in words, for notes: "timm:resnet18's pretrained config"


def pretrained_data_config(name: str) -> PretrainedDataConfig | None:
    """The normalisation and input size the model's pretrained weights were trained with, if known."""
    parsed = parse_hub_name(name)
    if parsed is None:
        return None
    family, arch = parsed
    library = import_family(family)
    if family == "timm":
        cfg = library.get_pretrained_cfg(arch)
        if cfg is None:
            return None
        return PretrainedDataConfig(
            tuple(cfg.mean), tuple(cfg.std), int(cfg.input_size[-1]), f"{name}'s pretrained config"
        )
    try:
        weights = library.get_model_weights(arch).DEFAULT
    except (ValueError, KeyError, AttributeError):
        return None
    transform = weights.transforms()
    return PretrainedDataConfig(
        tuple(transform.mean), tuple(transform.std), int(transform.crop_size[0]), f"{name}'s {weights} weights"
    )


def resolve_pretrained(preset: Preset) -> tuple[Preset, list[str]]:
    """A copy of preset with pretrained defaults filled in, and one note per choice made.

    Without pretrained weights (model.pretrained = "") the preset comes back unchanged. A weights
    file path becomes absolute, so the run's saved preset names exactly the file used.
    """
    model = preset.model
    if model.target or parse_hub_name(model.name) is None or not model.pretrained:
        return preset, []
    resolved = preset.model_copy(deep=True)
    notes: list[str] = []
    if model.pretrained != HUB:
        path = str(Path(model.pretrained).expanduser().absolute())
        if path != model.pretrained:
            resolved.model.pretrained = path
        notes.append(f"model.pretrained = {path!r} (a weights file; relative paths start at the current folder)")
    config = pretrained_data_config(model.name)
    if config is None:
        notes.append(f"{model.name} has no pretrained config: augment.mean/std and data.image_size stay as set")
        return resolved, notes
    largest = min(getattr(m, "le", 1 << 30) for m in DataConfig.model_fields["image_size"].metadata)
    image_size = min(config.image_size, largest)
    for section_name, key, value in (
        ("augment", "mean", config.mean),
        ("augment", "std", config.std),
        ("data", "image_size", image_size),
    ):
        section = getattr(resolved, section_name)
        if key in section.model_fields_set:
            notes.append(
                f"{section_name}.{key} = {_show(getattr(section, key))} (set in the preset; {config.source} "
                f"suggests {_show(value)})"
            )
        else:
            setattr(section, key, value)
            notes.append(f"{section_name}.{key} = {_show(value)} (from {config.source})")
    return resolved, notes


def _show(value: object) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(f"{v:g}" for v in value) + "]"
    return str(value)
