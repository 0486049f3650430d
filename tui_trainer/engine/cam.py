"""Class-activation maps: where in an image a classifier found the evidence for one class.

The maps come from the `grad-cam` package (optional extra `cam`). The default method is HiResCAM:
for the models here (a feature map, global average pooling, a linear layer) its map is exactly
each location's share of the class score (gradient × activation summed over channels), where
Grad-CAM first averages the gradient over the image and so can light up places the class did not
use (Draelos & Carin, "Use HiResCAM instead of Grad-CAM", 2020). Grad-CAM, Grad-CAM++ and LayerCAM
are there to compare; EigenCAM is left out because it ignores the class, and a predicted-class
and a true-class map that cannot differ would say nothing.

The target layer is found by running the model once: the last module whose output is still a
spatial map (N×C×H×W with H×W > 1), i.e. the last conv stage before pooling, for the built-in,
timm and torchvision CNNs alike; for a vision transformer (token outputs N×T×C), the input norm
of its last block, with the tokens put back on their grid. `layer=` names one instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .cam_methods import DEFAULT_METHOD, METHODS

CAM_MISSING = 'the class-activation maps need the grad-cam package: pip install "tui-trainer[cam]"'


class CamUnavailable(ImportError):
    """The optional `grad-cam` package is missing; the message says how to install it."""


class CamError(ValueError):
    """No map can be made for this model (no spatial layer, an unknown `layer` name): the message says why."""


@dataclass(frozen=True, eq=False)
class TargetLayer:
    """The module whose output the maps are computed on, by its name in `model.named_modules()`."""

    name: str
    module: nn.Module
    grid: tuple[int, int]
    """The map's own resolution (feature-map rows, columns) before it is scaled up to the image."""
    prefix_tokens: int | None = None
    """For a token output (N×T×C): the class/register tokens before the patch grid; None for a conv map."""

    def reshape(self) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """grad-cam's reshape_transform: N×T×C tokens -> N×C×H×W (None for a conv map)."""
        if self.prefix_tokens is None:
            return None
        prefix, (rows, columns) = self.prefix_tokens, self.grid

        def to_grid(tokens: torch.Tensor) -> torch.Tensor:
            patches = tokens[:, prefix:, :]
            return patches.reshape(patches.shape[0], rows, columns, patches.shape[2]).permute(0, 3, 1, 2)

        return to_grid


def _outputs(model: nn.Module, example: torch.Tensor) -> list[tuple[str, nn.Module, torch.Size, int]]:
    """(name, module, output shape, calls) of every module that returned a tensor, in the order they finished."""
    finished: dict[int, int] = {}
    order: list[tuple[str, nn.Module, torch.Size]] = []
    handles = []

    def hook(name: str) -> Callable[..., None]:
        def record(module: nn.Module, _inputs: object, output: object) -> None:
            finished[id(module)] = finished.get(id(module), 0) + 1
            if isinstance(output, torch.Tensor):
                order.append((name, module, output.shape))

        return record

    for name, module in model.named_modules():
        if name:  # the model itself returns the logits
            handles.append(module.register_forward_hook(hook(name)))
    try:
        with torch.no_grad():
            model(example)
    finally:
        for handle in handles:
            handle.remove()
    return [(name, module, shape, finished[id(module)]) for name, module, shape in order]


def _token_grid(tokens: int, model: nn.Module) -> tuple[int, tuple[int, int]] | None:
    """(prefix tokens, (rows, columns)) when `tokens` is a square patch grid after the model's class tokens."""
    prefixes = [int(getattr(model, "num_prefix_tokens", 1)), 0, 1]
    for prefix in prefixes:
        side = math.isqrt(max(tokens - prefix, 0))
        if side > 1 and side * side == tokens - prefix:
            return prefix, (side, side)
    return None


def find_target_layer(model: nn.Module, example: torch.Tensor, name: str | None = None) -> TargetLayer:
    """The layer to explain `model` at, for inputs shaped like `example` (1×C×H×W).

    `name` (a dotted module name, as `print(model)` nests them) overrides the choice. Raises CamError
    when the model has no spatial layer at this image size, or `name` is not a module with one.
    """
    outputs = _outputs(model, example)
    once = [
        (n, m, shape) for n, m, shape, calls in outputs if calls == 1
    ]  # a module reused (a shared ReLU) is ambiguous

    def as_target(n: str, module: nn.Module, shape: torch.Size) -> TargetLayer | None:
        if len(shape) == 4 and shape[-1] * shape[-2] > 1:
            return TargetLayer(n, module, (int(shape[-2]), int(shape[-1])))
        if len(shape) == 3:
            grid = _token_grid(int(shape[1]), model)
            if grid is not None:
                return TargetLayer(n, module, grid[1], prefix_tokens=grid[0])
        return None

    if name is not None:
        for n, module, shape in once:
            if n == name:
                target = as_target(n, module, shape)
                if target is None:
                    raise CamError(
                        f"layer {name!r} outputs {tuple(shape)}: not a spatial map (N×C×H×W) or patch tokens"
                    )
                return target
        known = sorted({n for n, _, _, _ in outputs})
        hint = f" (layers include {', '.join(known[-8:])})" if known else ""
        raise CamError(f"the model has no layer {name!r} that runs once per image{hint}")
    convs = [t for t in (as_target(*o) for o in once) if t is not None and t.prefix_tokens is None]
    tokens = [t for t in (as_target(*o) for o in once) if t is not None and t.prefix_tokens is not None]
    if tokens and (not convs or _position(once, tokens[-1]) > _position(once, convs[-1])):
        # A transformer: the last block's output feeds only the class token to the head, so its patch
        # tokens get no gradient; the input norm of that block still sees every patch.
        norms = [t for t in tokens if t.name.endswith("norm1")]
        return norms[-1] if norms else tokens[-1]
    if convs:
        return convs[-1]
    raise CamError(
        f"the model has no spatial layer at {example.shape[-1]} px (every feature map is 1×1 or flattened): "
        "name one with --layer"
    )


def _position(once: list[tuple[str, nn.Module, torch.Size]], target: TargetLayer) -> int:
    return next(i for i, (n, _, _) in enumerate(once) if n == target.name)


def _cam_class(method: str) -> type:
    if method not in METHODS:
        raise CamError(f"method is one of {', '.join(METHODS)}, not {method!r}")
    try:
        import pytorch_grad_cam
    except ImportError as exc:
        raise CamUnavailable(CAM_MISSING) from exc
    return getattr(pytorch_grad_cam, METHODS[method])


def class_maps(
    model: nn.Module,
    inputs: torch.Tensor,
    classes: Sequence[int],
    layer: TargetLayer,
    method: str = DEFAULT_METHOD,
) -> np.ndarray:
    """The map of each class in `classes` for the one image `inputs` (1×C×H×W, normalised as the model
    was trained): len(classes)×H×W float32 in [0, 1], computed in fp32 on the model's device.

    Each map is scaled to [0, 1] on its own (only positive evidence is kept, so a class the image
    shows no sign of has an all-zero map).
    """
    cam_type = _cam_class(method)
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    device = next(model.parameters()).device
    batch = inputs.float().to(device).expand(len(classes), *inputs.shape[1:]).contiguous()
    targets = [ClassifierOutputTarget(int(c)) for c in classes]
    try:
        with torch.enable_grad(), cam_type(model, [layer.module], reshape_transform=layer.reshape()) as cam:
            maps = cam(input_tensor=batch, targets=targets)
    except (RuntimeError, ValueError, IndexError) as exc:  # a layer whose output the model changes in place, ...
        raise CamError(
            f"no map at layer {layer.name!r} ({type(exc).__name__}: {exc}): name another with --layer"
        ) from exc
    return np.asarray(maps, dtype=np.float32)
