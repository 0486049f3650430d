"""The sizes images are kept and seen at: the stored size in the cache, and the validation view.

Training's random resized crop takes its pixels from the stored image, which for large images is
kept bigger than the trained size (as FFCV's max-resolution setting does); validation, evaluation
and prediction all see `validation_view` of it. With `data.resize = "crop"` the stored image is the
centre square of the file at the stored size, so that view is the standard ImageNet evaluation:
shorter side to 1.15 x the size, then the centre crop.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from ..config.schema import DataConfig
from .decode import Progress, decode_images

MARGIN = 1.15
"""Stored side / trained side for images above SMALL_SIDE (256 for 224, ImageNet's evaluation ratio)."""

SMALL_SIDE = 64
"""Up to this trained side the image is stored at that size: crops of tiny images gain nothing."""


def store_size(cfg: DataConfig) -> int:
    """Side in pixels of the images kept in the cache for `cfg`."""
    if cfg.store_size:
        return cfg.store_size
    return cfg.image_size if cfg.image_size <= SMALL_SIDE else round(MARGIN * cfg.image_size)


def validation_view(images_uint8: torch.Tensor, image_size: int) -> torch.Tensor:
    """uint8 [N, C, H, W] -> uint8 [N, C, image_size, image_size]: resized (bilinear, antialiased)
    only when its shorter side is below image_size, then the centre crop. A view, no copy, when the
    stored image is at least image_size."""
    h, w = images_uint8.shape[-2:]
    if min(h, w) < image_size:
        scale = image_size / min(h, w)
        size = (max(image_size, round(h * scale)), max(image_size, round(w * scale)))
        x = F.interpolate(images_uint8.float(), size=size, mode="bilinear", antialias=True, align_corners=False)
        images_uint8 = x.round_().clamp_(0, 255).to(torch.uint8)
        h, w = size
    top = (h - image_size) // 2  # floor, as the export sidecar tells other programs to do
    left = (w - image_size) // 2
    return images_uint8[..., top : top + image_size, left : left + image_size]


def decode_for_validation(
    paths: Sequence[Path | str], cfg: DataConfig, progress: Progress | None = None, stage: str = "decode"
) -> torch.Tensor:
    """Image files as validation sees them (for --eval / --predict): decoded at the stored size like
    the cache, then `validation_view`; uint8 [N, C, image_size, image_size]."""
    images = decode_images(paths, store_size(cfg), progress, stage=stage, resize=cfg.resize)
    return validation_view(images, cfg.image_size).contiguous()
