"""The preset schema: the one place where every preset field is declared.

Each field carries its type, default, allowed range or choices and a one-line description. The
same classes validate TOML files, generate the console's editor form and the preset reference in
the docs (`tui_trainer.config.reference`), so a field is never described twice.

This module imports neither torch nor the UI: `--check` and the editor stay fast.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from ..models import MODEL_NAMES
from ..models.hub import HUB_FAMILIES, is_hub_name
from .choices import (
    BAD_IMAGES,
    BEST_METRICS,
    DATASETS,
    LOSSES,
    OPTIMIZERS,
    PRECISIONS,
    RESIZES,
    ROOT_NEEDED,
    SAMPLERS,
    SCHEDULERS,
    STORAGES,
)

DeviceName = str  # auto | cpu | cuda | cuda:N | mps, checked by TrainConfig.device's pattern

if TYPE_CHECKING:
    # A Literal of a registry's names is built when the module loads; a type checker sees a str.
    DatasetName = str
    BadImagesName = str
    ResizeName = str
    StorageName = str
    LossName = str
    OptimizerName = str
    SchedulerName = str
    PrecisionName = str
    SamplerName = str
    BestMetricName = str
else:
    DatasetName = Literal[DATASETS.names]
    BadImagesName = Literal[BAD_IMAGES.names]
    ResizeName = Literal[RESIZES.names]
    StorageName = Literal[STORAGES.names]
    LossName = Literal[LOSSES.names]
    OptimizerName = Literal[OPTIMIZERS.names]
    SchedulerName = Literal[SCHEDULERS.names]
    PrecisionName = Literal[PRECISIONS.names]
    SamplerName = Literal[SAMPLERS.names]
    BestMetricName = Literal[BEST_METRICS.names]


class Section(BaseModel):
    """A preset table: unknown keys are errors, assignments are validated (the editor relies on
    it), and numbers and switches are strict (see `strict_value`)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    @field_validator("*", mode="before")
    @classmethod
    def _strict(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        return strict_value(field.annotation, value) if field is not None else value


def _wrong_type(message: str) -> PydanticCustomError:
    # Its own error type (not "value_error"), so the loader adds the field's allowed values.
    return PydanticCustomError("strict_type", message)


def strict_value(annotation: Any, value: Any) -> Any:
    """`value` unchanged when it has the field's own TOML type, else a ValueError.

    pydantic's lax mode reads `batch_size = true` as 1, `"3"` as 3 and `"yes"` as true, and takes
    `nan` and `inf` for any float; a preset says what it means, so none of that is accepted here.
    """
    origin = get_origin(annotation)
    if origin in (tuple, list) and isinstance(value, (list, tuple)):
        args = [a for a in get_args(annotation) if a is not Ellipsis]
        if args and all(a is args[0] for a in args):
            for item in value:
                strict_value(args[0], item)
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            raise _wrong_type("expected true or false")
    elif annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _wrong_type("expected a whole number")
    elif annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _wrong_type("expected a number")
        if not math.isfinite(value):
            raise _wrong_type("expected a finite number (not nan or inf)")
    return value


class DataConfig(Section):
    dataset: DatasetName = Field("cifar10", description=DATASETS.description())
    root: str = Field(
        "",
        description="Dataset folder (or a CSV file, or a brace pattern of tar shards); when empty, cifar10 uses "
        "~/.cache/tui-trainer/data, and the datasets read from your files stop with an error.",
    )
    download: bool = Field(False, description="Download CIFAR-10 into root when it is missing (needs internet).")
    batch_size: int = Field(64, ge=1, le=65536, description="Images per batch on each device.")
    train_limit: int = Field(0, ge=0, description="Use at most this many training images (0 = all), for quick runs.")
    val_limit: int = Field(0, ge=0, description="Use at most this many validation images (0 = all).")
    val_fraction: float = Field(
        0.1,
        gt=0.0,
        lt=1.0,
        description="Share of the training images held out for validation when there is no val/ (or val rows).",
    )
    image_size: int = Field(32, ge=8, le=512, description="Images are resized to this side length in pixels.")
    drop_last: bool = Field(False, description="Drop the last partial training batch of each epoch.")
    sampler: SamplerName = Field("shuffle", description=SAMPLERS.description())
    synthetic_train_size: int = Field(
        4000,
        ge=10,
        le=1_000_000,
        description="Number of generated training images.",
    )
    synthetic_val_size: int = Field(
        1000,
        ge=10,
        le=1_000_000,
        description="Number of generated validation images.",
    )
    cache: bool = Field(True, description="Keep decoded images in a tensor cache on disk so later starts are fast.")
    bad_images: BadImagesName = Field("error", description=BAD_IMAGES.description())
    resize: ResizeName = Field("crop", description=RESIZES.description())
    storage: StorageName = Field("auto", description=STORAGES.description())
    store_size: int = Field(
        0,
        ge=0,
        le=1024,
        description="Side in pixels kept in the cache (0 = image_size up to 64 px, else 1.15 x image_size): "
        "random crops take pixels from it, validation centre-crops image_size from it.",
    )
    csv_path_column: str = Field(
        "path", min_length=1, description="CSV column of each image's path, relative to the CSV file's folder."
    )
    csv_label_column: str = Field("label", min_length=1, description="CSV column of each image's class name.")
    csv_split_column: str = Field(
        "split",
        min_length=1,
        description="Column saying train, val or test, when data.root is one CSV file rather than a folder.",
    )
    classes: list[str] = Field(
        [],
        description="Class names in label order ([] = the labels found in the training rows, sorted; "
        "numerically when all are whole numbers).",
    )
    hf_image_column: str = Field(
        "image", min_length=1, description="Hugging Face dataset column of each image (encoded bytes or a path)."
    )
    hf_label_column: str = Field(
        "label",
        min_length=1,
        description="Hugging Face dataset column of each image's class (a ClassLabel names them).",
    )
    csv_allow_outside: bool = Field(
        False,
        description="Read image paths that lead outside the CSV file's folder (absolute, .., or through a link); "
        "off, such a row is an error.",
    )
    review: str = Field(
        "",
        description="Label review file to apply (written by the confusion screen's review list): its images are "
        'relabelled or left out as it says; "" = none. Image folders, CSV lists, tar shards and Hugging Face datasets.',
    )


class AugmentConfig(Section):
    crop: bool = Field(True, description="Random resized crop: a random area and aspect ratio, resized back.")
    crop_scale: tuple[float, float] = Field(
        (0.08, 1.0),
        description="Range of the crop's area as a share of the image, [min, max] in (0, 1].",
    )
    crop_ratio: tuple[float, float] = Field(
        (0.75, 4.0 / 3.0),
        description="Range of the crop's aspect ratio (width / height), [min, max].",
    )
    rotation: float = Field(0.0, ge=0.0, le=180.0, description="Random rotation up to this many degrees either way.")
    hflip: float = Field(0.5, ge=0.0, le=1.0, description="Probability of a horizontal flip.")
    translate: int = Field(
        0,
        ge=0,
        le=64,
        description="Pad-and-crop translation: random shift up to this many pixels (0 = off).",
    )
    cutout: int = Field(0, ge=0, le=512, description="Side in pixels of a random square set to zero (0 = off).")
    mixup_alpha: float = Field(
        0.0,
        ge=0.0,
        le=100.0,
        description="Mixup: blend each image with another, weight ~ Beta(alpha, alpha); soft targets (0 = off).",
    )
    cutmix_alpha: float = Field(
        0.0,
        ge=0.0,
        le=100.0,
        description="CutMix: paste a box of another image, area share ~ Beta(alpha, alpha); soft targets (0 = off).",
    )
    mix_prob: float = Field(
        1.0,
        ge=0.0,
        le=1.0,
        description="Share of training images that are mixed when mixup or cutmix is on (half each when both are).",
    )
    mean: tuple[float, float, float] = Field(
        (0.5, 0.5, 0.5),
        description="Per-channel mean subtracted after scaling pixels to [0, 1].",
        json_schema_extra={"per_item": "one per channel"},
    )
    std: tuple[float, float, float] = Field(
        (0.5, 0.5, 0.5),
        description="Per-channel standard deviation divided out after the mean.",
        json_schema_extra={"per_item": "one per channel"},
    )

    @field_validator("crop_scale")
    @classmethod
    def _scale_in_unit_interval(cls, v: tuple[float, float]) -> tuple[float, float]:
        lo, hi = v
        if not (0.0 < lo <= hi <= 1.0):
            raise ValueError("needs 0 < min <= max <= 1")
        return v

    @field_validator("crop_ratio")
    @classmethod
    def _ratio_ordered(cls, v: tuple[float, float]) -> tuple[float, float]:
        lo, hi = v
        if not (0.0 < lo <= hi):
            raise ValueError("needs 0 < min <= max")
        return v

    @field_validator("std")
    @classmethod
    def _std_positive(cls, v: tuple[float, float, float]) -> tuple[float, float, float]:
        if min(v) <= 0:
            raise ValueError("every standard deviation must be > 0")
        return v


class ModelConfig(Section):
    name: str = Field(
        "adaptive_resnet",
        description="Built-in model ("
        + ", ".join(MODEL_NAMES)
        + '), or "timm:<architecture>" / "torchvision:<architecture>" with a new classifier for the data\'s classes.'
        " Ignored when target is set.",
        json_schema_extra={"suggest": "model_name"},
    )
    pretrained: str = Field(
        "",
        description='timm:/torchvision: models: "" random weights, "hub" download the library\'s weights (needs'
        " internet), or a weights file (.safetensors, .pth, .bin; relative to the current folder).",
        json_schema_extra={"suggest": "weights_file"},
    )
    freeze_epochs: int = Field(
        0,
        ge=0,
        le=100_000,
        description="timm:/torchvision: models: train only the new classifier for this many first epochs;"
        " the frozen backbone's BatchNorm keeps its statistics.",
    )
    target: str = Field(
        "",
        pattern=r"^$|^[A-Za-z_][\w.]*:[A-Za-z_]\w*$",
        json_schema_extra={"pattern_words": '"" or "package.module:factory"'},
        description='Your own model as "package.module:factory", called with num_classes and [model.params].',
    )
    width: int = Field(64, ge=1, le=4096, description="Channels of the first block; later blocks multiply it.")
    channel_multipliers: list[int] = Field(
        [1, 2, 2, 4, 4, 8, 8],
        min_length=1,
        max_length=64,
        description="adaptive_resnet: one width multiplier per block (7 in the seed).",
    )
    pool_every: int = Field(
        2,
        ge=1,
        le=64,
        description="adaptive_resnet: max-pool after every n-th block (2 = every other block).",
    )
    residual: bool = Field(True, description="adaptive_resnet: add identity shortcuts where shapes allow.")
    reduction: int = Field(
        4,
        ge=1,
        le=256,
        description="adaptive_resnet: hidden size of the gating layer is channels / reduction.",
    )
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Extra keyword arguments for a target factory ([model.params] table).",
    )

    @field_validator("name")
    @classmethod
    def _known_model(cls, v: str) -> str:
        if v not in MODEL_NAMES and not is_hub_name(v):
            prefixes = " or ".join(f'"{family}:<architecture>"' for family in HUB_FAMILIES)
            raise ValueError(f"unknown model {v!r}; allowed: {', '.join(MODEL_NAMES)}, {prefixes}")
        return v

    @field_validator("channel_multipliers")
    @classmethod
    def _positive_multipliers(cls, v: list[int]) -> list[int]:
        if min(v) < 1:
            raise ValueError("every multiplier must be >= 1")
        return v


class LossConfig(Section):
    name: LossName = Field("label_smoothing_ce", description=LOSSES.description())
    smoothing: float = Field(
        0.1,
        ge=0.0,
        lt=1.0,
        description="Weight moved from the target to the other classes.",
    )
    gamma: float = Field(
        2.0,
        ge=0.0,
        le=10.0,
        description="How much an image the model already gets right is discounted (0 = plain cross-entropy).",
    )
    class_weights: Literal["none", "balanced"] | list[float] = Field(
        "none",
        description='Each class\'s weight in the training loss: "none" (all 1), "balanced" (the training '
        "split's images / (classes x the class's images), so a rare class weighs more and the weights "
        "average 1 over the images), or one weight per class in class order. Validation loss is unweighted.",
        json_schema_extra={"pattern_words": '"none", "balanced" or an array of one weight >= 0 per class'},
    )

    @field_validator("class_weights", mode="before")
    @classmethod
    def _weights_are_numbers(cls, v: Any) -> Any:
        if isinstance(v, str) and v not in ("none", "balanced"):
            raise _wrong_type("not a known value")
        if not isinstance(v, (str, list, tuple)):
            raise _wrong_type("expected a string or an array")
        if isinstance(v, (list, tuple)):
            for item in v:
                strict_value(float, item)
                if item < 0:
                    raise ValueError("every class weight must be >= 0")
            if not any(item > 0 for item in v):
                raise ValueError("needs at least one weight > 0")
        return v


class OptimizerConfig(Section):
    name: OptimizerName = Field("rmsprop", description=OPTIMIZERS.description())
    lr: float = Field(0.001, gt=0.0, le=100.0, description="Learning rate per optimiser step (peak for onecycle).")
    weight_decay: float = Field(0.0, ge=0.0, le=10.0, description="L2 penalty (decoupled for adamw).")
    momentum: float = Field(0.9, ge=0.0, lt=1.0, description="Momentum.")
    alpha: float = Field(
        0.99,
        gt=0.0,
        lt=1.0,
        description="Smoothing constant of the squared-gradient average.",
    )
    eps: float = Field(
        1e-8,
        gt=0.0,
        le=1.0,
        description="Term added to the denominator for stability.",
    )
    nesterov: bool = Field(False, description="Nesterov momentum.")
    beta1: float = Field(0.9, ge=0.0, lt=1.0, description="Decay of the first moment.")
    beta2: float = Field(0.999, ge=0.0, lt=1.0, description="Decay of the second moment.")
    backbone_lr_scale: float = Field(
        1.0,
        ge=0.0,
        le=100.0,
        description="timm:/torchvision: models: the backbone's learning rate as a share of the new head's (lr).",
    )


class SchedulerConfig(Section):
    name: SchedulerName = Field("cosine", description=SCHEDULERS.description())
    t_max: int = Field(100, ge=1, le=1_000_000, description="Epochs from the start lr down to eta_min.")
    eta_min: float = Field(1e-6, ge=0.0, description="The lowest learning rate.")
    pct_start: float = Field(0.25, gt=0.0, lt=1.0, description="Share of the optimiser steps spent warming up.")


class TrainConfig(Section):
    epochs: int = Field(40, ge=1, le=100_000, description="Number of passes over the training set.")
    accumulation_steps: int = Field(
        1,
        ge=1,
        le=4096,
        description="Batches whose gradients are summed before each optimiser step.",
    )
    device: DeviceName = Field(
        "auto",
        pattern=r"^(auto|cpu|cuda|cuda:\d+|mps)$",
        description="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps.",
        json_schema_extra={"pattern_words": "auto, cpu, cuda, cuda:N (N a GPU number) or mps"},
    )
    precision: PrecisionName = Field("bf16", description=PRECISIONS.description())
    channels_last: bool = Field(True, description="Use the channels-last memory layout on CUDA.")
    compile: bool = Field(False, description="Compile the model with torch.compile (slower start, faster epochs).")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="Seed for weights, shuffling and augmentation.")
    threads: Annotated[int, Field(ge=1, le=1024)] | Literal["auto"] = Field(
        "auto",
        description="CPU threads for tensor ops: auto (the cores not busy at start, re-checked each epoch "
        "on CPU) or a number.",
    )
    ema_decay: float = Field(
        0.0,
        ge=0.0,
        lt=1.0,
        description=(
            "Keep an EMA of the weights with this decay per update (warmed up as (1+n)/(10+n)) and "
            "validate/checkpoint it (0 = off)."
        ),
    )
    ema_every: int = Field(
        1, ge=1, le=100_000, description="Update the weight EMA every this many optimiser steps (BatchNorm copied)."
    )
    tta: bool = Field(False, description="Validate on the mean logits of each image and its horizontal mirror.")
    checkpoint_minutes: float = Field(
        10.0,
        ge=0.0,
        le=10_000.0,
        description="Also save the latest checkpoint inside an epoch this often (minutes of training; 0 = only at "
        "epoch ends and on a stop), so a killed or preempted run loses at most this much.",
    )
    best_metric: BestMetricName = Field("val_acc", description=BEST_METRICS.description())
    keep_every: int = Field(
        0,
        ge=0,
        le=100_000,
        description="Also keep the checkpoint of every this many epochs, never pruned, so a run can be forked "
        "from those epochs (`train --fork RUN@K`; 0 = only the last and the best).",
    )
    notify: str = Field(
        "",
        pattern=r"^$|^[A-Za-z][\w+.-]*://\S*$",
        json_schema_extra={"pattern_words": '"" (off) or a URL like "ntfy://topic"'},
        description='An apprise URL (e.g. "ntfy://topic", "json://host/hook") told when the run finishes, '
        'fails or stops; needs pip install "tui-trainer[notify]" ("" = off).',
    )


class Preset(BaseModel):
    """A whole preset file."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    name: str = Field("untitled", min_length=1, max_length=80, description="Short name, used in run folder names.")
    description: str = Field("", description="What this preset is for.")
    data: DataConfig = Field(default_factory=DataConfig)
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    loss: LossConfig = Field(default_factory=LossConfig)
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)

    @field_validator("name")
    @classmethod
    def _name_fits_folder(cls, v: str) -> str:
        if any(c in v for c in '/\\:*?"<>|') or v.strip() != v:
            raise ValueError('must not contain / \\ : * ? " < > | or leading/trailing spaces')
        return v


def cross_field_problems(preset: Preset) -> list[tuple[str, str]]:
    """Rules that tie two fields together, as (key path, message) pairs.

    Kept out of pydantic's model validators so each problem points at the key to fix.
    """
    problems: list[tuple[str, str]] = []
    if preset.data.dataset in ROOT_NEEDED and not preset.data.root:
        problems.append(("data.root", f"{preset.data.dataset} needs root: {ROOT_NEEDED[preset.data.dataset]}"))
    if preset.model.params and not preset.model.target:
        problems.append(("model.params", "only used with model.target; built-in models take the fields above"))
    if not is_hub_name(preset.model.name) or preset.model.target:
        hub_only = {
            "model.pretrained": preset.model.pretrained != "",
            "model.freeze_epochs": preset.model.freeze_epochs != 0,
            "optimizer.backbone_lr_scale": preset.optimizer.backbone_lr_scale != 1.0,
        }
        for key, is_set in hub_only.items():
            if is_set:
                problems.append((key, 'only used with model.name = "timm:..." or "torchvision:..." (and no target)'))
    return problems


SECTIONS: dict[str, type[Section]] = {
    name: info.annotation
    for name, info in Preset.model_fields.items()
    if isinstance(info.annotation, type) and issubclass(info.annotation, Section)
}
"""Section name -> its model, in file order (data, augment, model, loss, optimizer, ...)."""
