"""`dataset = "synthetic"`: procedurally drawn shapes for smoke tests and demos without downloads.

Ten shape classes, each drawn with a random position, size, tilt and colours (mostly light shapes on
dark ground, a quarter the other way round) on a shaded background with noise, so a small CNN learns
them in a few epochs (about 80% after the smoke preset's 3) but does not reach 100%.
Everything is generated in batched tensor maths from one seed: the same seed gives the same images.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable

import torch

from .imageset import ImageSet

DistanceField = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _box(u: torch.Tensor, v: torch.Tensor, half_u: float, half_v: float) -> torch.Tensor:
    """Signed distance to an axis-aligned box (negative inside)."""
    du, dv = u.abs() - half_u, v.abs() - half_v
    outside = torch.sqrt(du.clamp(min=0) ** 2 + dv.clamp(min=0) ** 2)
    return outside + torch.maximum(du, dv).clamp(max=0)


def _bars(coord: torch.Tensor, across: torch.Tensor) -> torch.Tensor:
    """Three parallel bars across `coord`, inside a unit box."""
    stripes = (torch.remainder(coord * 1.5 + 0.25, 1.0) - 0.5).abs() - 0.25  # bars 1/3 wide, gaps 1/3
    return torch.maximum(stripes / 1.5, torch.maximum(coord.abs(), across.abs()) - 0.95)


def _diag(u: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r = math.sqrt(0.5)
    return (u + v) * r, (v - u) * r


SHAPES: dict[str, DistanceField] = {
    "circle": lambda u, v: torch.sqrt(u * u + v * v) - 0.9,
    "square": lambda u, v: _box(u, v, 0.8, 0.8),
    "triangle": lambda u, v: torch.maximum(v - 0.7, (u.abs() - (v + 1.0) * 0.6) / math.sqrt(1.36)),
    "diamond": lambda u, v: (u.abs() + v.abs() - 1.05) * math.sqrt(0.5),
    "plus": lambda u, v: torch.minimum(_box(u, v, 0.28, 0.95), _box(u, v, 0.95, 0.28)),
    "cross": lambda u, v: torch.minimum(_box(*_diag(u, v), 0.25, 1.05), _box(*_diag(u, v), 1.05, 0.25)),
    "ring": lambda u, v: (torch.sqrt(u * u + v * v) - 0.7).abs() - 0.22,
    "frame": lambda u, v: (torch.maximum(u.abs(), v.abs()) - 0.65).abs() - 0.18,
    "h-bars": lambda u, v: _bars(v, u),
    "v-bars": lambda u, v: _bars(u, v),
}
"""Class name -> signed distance field in shape units (negative inside), in class-index order."""

CLASSES: tuple[str, ...] = tuple(SHAPES)


def _seed(*parts: object) -> int:
    raw = hashlib.blake2b(":".join(map(str, ("synthetic", *parts))).encode(), digest_size=8).digest()
    return int.from_bytes(raw, "little") & ((1 << 63) - 1)


def _draw(labels: torch.Tensor, size: int, g: torch.Generator) -> torch.Tensor:
    """uint8 [n, 3, size, size] images of the given shape classes."""
    n = len(labels)

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(shape, generator=g)

    # Shape placement in image units ([-1, 1] across the image).
    radius = 0.45 + 0.35 * rand(n)
    centre = (rand(n, 2) * 2 - 1) * (0.95 - radius).unsqueeze(1)
    tilt = (rand(n) * 2 - 1) * math.radians(15)
    axis = (torch.arange(size, dtype=torch.float32) * 2 + 1) / size - 1
    x = axis.view(1, 1, size) - centre[:, 0].view(n, 1, 1)
    y = axis.view(1, size, 1) - centre[:, 1].view(n, 1, 1)
    cos, sin = torch.cos(tilt).view(n, 1, 1), torch.sin(tilt).view(n, 1, 1)
    u = (cos * x + sin * y) / radius.view(n, 1, 1)
    v = (cos * y - sin * x) / radius.view(n, 1, 1)

    distance = torch.empty(n, size, size)
    for index, field in enumerate(SHAPES.values()):
        members = labels == index
        distance[members] = field(u[members], v[members])
    # Anti-aliased edge about one pixel wide: distance in shape units -> pixels.
    pixels = distance * radius.view(n, 1, 1) * (size / 2)
    coverage = torch.sigmoid(-pixels * 2.0).unsqueeze(1)

    background = 0.4 * rand(n, 3, 1, 1)
    foreground = 0.55 + 0.45 * rand(n, 3, 1, 1)
    inverted = rand(n, 1, 1, 1) < 0.25  # a quarter are dark shapes on light ground
    background, foreground = (
        torch.where(inverted, foreground, background),
        torch.where(inverted, background, foreground),
    )
    gradient = (rand(n, 3, 1, 1) - 0.5) * 0.5 * axis.view(1, 1, 1, size)  # a soft left-right shading
    images = background + gradient + (foreground - background) * coverage
    noise = torch.randn(n, 3, size, size, generator=g) * (0.02 + 0.08 * rand(n, 1, 1, 1))
    return ((images + noise).clamp_(0, 1) * 255).round_().to(torch.uint8)


def make_synthetic(n: int, size: int, seed: int, split: str = "train") -> ImageSet:
    """`n` images of `size` x `size`, labels balanced over the ten classes, fixed by (seed, split).

    Drawn in chunks of about 4M pixels, each from its own seeded generator, so memory stays small
    for large sets and the result does not depend on anything but the arguments.
    """
    g = torch.Generator().manual_seed(_seed(seed, split))
    labels = (torch.arange(n) % len(CLASSES))[torch.randperm(n, generator=g)]
    images = torch.empty((n, 3, size, size), dtype=torch.uint8)
    chunk = max(1, (1 << 22) // (size * size))
    for number, start in enumerate(range(0, n, chunk)):
        part = torch.Generator().manual_seed(_seed(seed, split, number))
        images[start : start + chunk] = _draw(labels[start : start + chunk], size, part)
    return ImageSet(images, labels.to(torch.int64), CLASSES)
