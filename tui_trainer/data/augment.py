"""Per-sample augmentation of whole batches on the training device.

torchvision's v2 transforms draw one set of random parameters per call, i.e. per batch; here every
image gets its own crop, angle, flip, shift and cutout. Crop, rotation, flip and shift are folded into
one sampling grid per image, so the batch is resampled by a single `grid_sample`; parts that are
switched off are skipped entirely. On the CPU, without rotation or translation (the default recipe),
each image's crop box is resized on its own as uint8 instead (`_resize_boxes`): the same crop and
flip, several times faster than a float grid over the whole batch.

Order and sampling follow the per-image torchvision pipeline (translate as pad-and-crop first, then
RandomResizedCrop, RandomRotation with fill 0, RandomHorizontalFlip, ToTensor, Normalize, cutout).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F

from ..config.schema import AugmentConfig
from .image_threads import for_each_share
from .threads import single_thread_for_small

CROP_TRIES = 10
"""Candidate crops per image, as in torchvision's RandomResizedCrop, before the central fallback."""


@functools.lru_cache(maxsize=32)
def _affine_constants(
    mean: tuple[float, ...], std: tuple[float, ...], device: torch.device
) -> tuple[torch.Tensor, ...]:
    """(scale, shift) with x * scale + shift == (x / 255 - mean) / std, shaped [C, 1, 1].

    Cached: making them anew per batch would copy from the host, a sync on CUDA."""
    mean_t = torch.tensor(mean, dtype=torch.float32, device=device).view(-1, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32, device=device).view(-1, 1, 1)
    return 1.0 / (255.0 * std_t), -mean_t / std_t


def _normalize_(x: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """0-255 floats -> ((x / 255) - mean) / std, in place. The same mean and std on every channel
    (the seed's 0.5) takes a plain scalar multiply-add, several times faster on CPU than a
    per-channel broadcast."""
    if len(set(mean)) == 1 and len(set(std)) == 1:
        return x.mul_(1.0 / (255.0 * std[0])).add_(-mean[0] / std[0])
    scale, shift = _affine_constants(mean, std, x.device)
    return x.mul_(scale).add_(shift)


def normalize(images_uint8: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 [N, C, H, W] -> float32 ((x / 255) - mean) / std, on the same device."""
    return _normalize_(images_uint8.float(), tuple(map(float, mean)), tuple(map(float, std)))


def _rand(generator: torch.Generator, shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """Uniform [0, 1) floats drawn with `generator` (on its own device), then moved to `device`."""
    return torch.rand(shape, generator=generator, device=generator.device).to(device)


def _affine_grid(theta: torch.Tensor, size: int) -> torch.Tensor:
    """F.affine_grid(theta, [B, C, size, size], align_corners=False) without its batched matmul,
    which is slow on CPU for a contraction of length 3: each coordinate is an outer sum of a
    per-column and a per-row term."""
    b = theta.shape[0]
    base = (torch.arange(size, device=theta.device, dtype=theta.dtype) * 2 + 1) / size - 1  # pixel centres
    grid = torch.empty(b, size, size, 2, device=theta.device, dtype=theta.dtype)
    for k in range(2):
        along_x = theta[:, k, 0:1] * base + theta[:, k, 2:3]
        along_y = theta[:, k, 1:2] * base
        torch.add(along_x.unsqueeze(1), along_y.unsqueeze(2), out=grid[..., k])
    return grid


def _outside_frame(frame: torch.Tensor, size: int) -> torch.Tensor:
    """bool [B, size, size]: output pixels that `frame` maps outside [-1, 1]^2, computed on
    contiguous planes (max(|x|, |y|) > 1), which is several times faster than on a grid's views."""
    base = (torch.arange(size, device=frame.device, dtype=frame.dtype) * 2 + 1) / size - 1
    planes = []
    for k in range(2):
        plane = (frame[:, k, 0:1] * base + frame[:, k, 2:3]).unsqueeze(1) + (frame[:, k, 1:2] * base).unsqueeze(2)
        planes.append(plane.abs_())
    return torch.maximum(planes[0], planes[1]) > 1


class BatchAugment:
    """Turns a uint8 batch into normalised float32 training images, each randomised on its own."""

    def __init__(self, cfg: AugmentConfig, image_size: int, *, pad_mode: Literal["zeros", "reflect"] = "zeros") -> None:
        """`pad_mode`: what `translate` shifts in from beyond the edge (zeros, or a mirror image)."""
        self.size = image_size
        self.crop = cfg.crop
        self.scale = (float(cfg.crop_scale[0]), float(cfg.crop_scale[1]))
        self.ratio = (float(cfg.crop_ratio[0]), float(cfg.crop_ratio[1]))
        self.log_ratio = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        self.degrees = float(cfg.rotation)
        self.hflip = float(cfg.hflip)
        self.translate = int(cfg.translate)
        self.cutout = int(cfg.cutout)
        self.mean = tuple(float(m) for m in cfg.mean)
        self.std = tuple(float(v) for v in cfg.std)
        if pad_mode not in ("zeros", "reflect"):
            raise ValueError(f"pad_mode must be 'zeros' or 'reflect', not {pad_mode!r}")
        self.pad_mode = pad_mode

    def __repr__(self) -> str:
        return (
            f"BatchAugment(size={self.size}, crop={self.crop and self.scale}, ratio={self.ratio}, "
            f"rotation={self.degrees}, hflip={self.hflip}, translate={self.translate}, cutout={self.cutout})"
        )

    def __call__(self, images_uint8: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """uint8 [B, C, H, W] -> float32 [B, C, size, size], normalised, on the input's device."""
        b, c, h, w = images_uint8.shape
        with single_thread_for_small(images_uint8.device, b * c * max(h * w, self.size**2)):
            return self._augment(images_uint8, generator)

    def _augment(self, images_uint8: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        device = images_uint8.device
        b, _, h, w = images_uint8.shape
        resamples = self.crop or self.degrees > 0 or self.translate > 0 or (h, w) != (self.size, self.size)
        if resamples and self._resizes_boxes(device):
            x = self._resize_boxes(images_uint8, generator)
            return self._cutout(x, generator) if self.cutout > 0 else x
        x = images_uint8.float()
        if resamples:
            x = self._warp(x, generator)
        elif self.hflip > 0:
            flip = _rand(generator, (b,), device) < self.hflip
            x = torch.where(flip.view(b, 1, 1, 1), x.flip(-1), x)
        x = _normalize_(x, self.mean, self.std)
        if self.cutout > 0:
            x = self._cutout(x, generator)
        return x

    def crop_boxes(self, b: int, h: int, w: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
        """Per-image crops (top, left, height, width) in pixels, int64 [b, 4], drawn like
        RandomResizedCrop.get_params: area uniform in scale, log-uniform aspect ratio, the first of
        CROP_TRIES candidates that fits, else a central crop at the nearest allowed ratio."""
        area = _rand(generator, (b, CROP_TRIES), device) * (self.scale[1] - self.scale[0]) + self.scale[0]
        area = area * (h * w)
        log_r = _rand(generator, (b, CROP_TRIES), device) * (self.log_ratio[1] - self.log_ratio[0]) + self.log_ratio[0]
        aspect = torch.exp(log_r)
        cw = torch.round(torch.sqrt(area * aspect))
        ch = torch.round(torch.sqrt(area / aspect))
        fits = (cw > 0) & (cw <= w) & (ch > 0) & (ch <= h)
        first = fits.to(torch.uint8).argmax(dim=1, keepdim=True)  # index of the first candidate that fits
        cw = cw.gather(1, first).squeeze(1)
        ch = ch.gather(1, first).squeeze(1)
        found = fits.any(dim=1)
        # torchvision's fallback: the whole image, cut to the nearest allowed aspect ratio, centred.
        in_ratio = w / h
        if in_ratio < self.ratio[0]:
            fw, fh = w, round(w / self.ratio[0])
        elif in_ratio > self.ratio[1]:
            fw, fh = round(h * self.ratio[1]), h
        else:
            fw, fh = w, h
        cw = torch.where(found, cw, torch.full_like(cw, fw))
        ch = torch.where(found, ch, torch.full_like(ch, fh))
        offsets = _rand(generator, (b, 2), device)
        top = torch.where(found, torch.floor(offsets[:, 0] * (h - ch + 1)), torch.floor((h - ch) / 2))
        left = torch.where(found, torch.floor(offsets[:, 1] * (w - cw + 1)), torch.floor((w - cw) / 2))
        return torch.stack([top, left, ch, cw], dim=1).long()

    def _resizes_boxes(self, device: torch.device) -> bool:
        """Whether `_resize_boxes` does the resampling: on the CPU, when every image is an axis-aligned
        crop (no rotation, no shift). On CUDA one `grid_sample` over the batch is faster than a loop
        of per-image calls, and the loop's box list would cost a host-device sync."""
        return device.type == "cpu" and self.degrees == 0 and self.translate == 0

    def _resize_boxes(self, images_uint8: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Crop, resize, flip and normalise image by image: uint8 bilinear `F.interpolate` of each
        crop box (torchvision's crop-then-resize, without antialiasing, as `_warp` samples), the flip
        as a reversed view, the normalisation in place while the image is still in cache.

        Draws exactly what `_warp` draws, in the same order, and samples the same points: the result
        equals `_warp`'s within the rounding of the resized uint8 pixels (at most 1 of 255). Each box
        is made channels-last first: torch's uint8 resize of interleaved pixels gives the same values
        faster. The images are shared among the caller's intra-op threads (`image_threads`), each
        running its ops on one thread: the per-image ops are too small to split.
        """
        b, c, h, w = images_uint8.shape
        s = self.size
        device = images_uint8.device
        flips = (_rand(generator, (b,), device) < self.hflip).tolist() if self.hflip > 0 else [False] * b
        boxes = self.crop_boxes(b, h, w, generator, device).tolist() if self.crop else [[0, 0, h, w]] * b
        out = torch.empty(b, c, s, s, device=device)

        def resize(share: range) -> None:
            for i in share:
                top, left, ch, cw = boxes[i]
                box = images_uint8[i : i + 1, :, top : top + ch, left : left + cw]
                if (ch, cw) != (s, s):
                    box = box.contiguous(memory_format=torch.channels_last)
                    box = F.interpolate(box, size=(s, s), mode="bilinear", align_corners=False)
                _normalize_(out[i].copy_(box[0].flip(-1) if flips[i] else box[0]), self.mean, self.std)

        threads = torch.get_num_threads()
        with single_thread_for_small(device, 0):
            for_each_share(b, threads, resize)
        return out

    def _warp(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Resample every image through its own shift -> crop -> rotation -> flip in one pass.

        The grid maps each output pixel back to the input, so the transforms are inverted in reverse
        order: un-flip, un-rotate (in the square crop frame), place in the crop box, add the shift.
        All four are affine, so they compose into one 2x3 matrix per image. Coordinates are
        normalised with align_corners=False, like torchvision's resize and rotate.
        """
        b, _, h, w = x.shape
        device = x.device
        s = self.size
        # Rows of the per-image matrix that maps output coordinates into the crop frame: flip, rotate.
        a = torch.ones(b, device=device)
        zero = torch.zeros(b, device=device)
        if self.hflip > 0:
            a = torch.where(_rand(generator, (b,), device) < self.hflip, -1.0, 1.0)
        if self.degrees > 0:
            angle = (_rand(generator, (b,), device) * 2 - 1) * math.radians(self.degrees)
            cos, sin = torch.cos(angle), torch.sin(angle)
            frame = torch.stack([a * cos, -sin, zero, a * sin, cos, zero], dim=1).view(b, 2, 3)
        else:
            frame = torch.stack([a, zero, zero, zero, a.new_ones(b), zero], dim=1).view(b, 2, 3)
        theta = frame
        box = None
        if self.crop:
            top, left, ch, cw = self.crop_boxes(b, h, w, generator, device).float().unbind(1)
            box_scale = torch.stack([cw / w, ch / h], dim=1)
            box_centre = torch.stack([(2 * left + cw) / w - 1, (2 * top + ch) / h - 1], dim=1)
            theta = frame * box_scale.unsqueeze(2)
            theta[:, :, 2] = box_centre
            box = (left, top, cw, ch)
        grid = _affine_grid(theta, s)
        # Resizing a crop reads only inside it, like torchvision's resize of the cropped image, which
        # clamps to its edge pixels: sample points may fall up to half a pixel beyond the outermost
        # pixel centres, and are kept on them instead of blending in what lies beyond.
        if box is not None and self.degrees == 0:
            # The crop box's edge pixels (so this equals `_resize_boxes`), with per-image bounds as
            # tensors: no host-device sync, one op.
            left, top, cw, ch = box
            low = torch.stack([(2 * left + 1) / w - 1, (2 * top + 1) / h - 1], dim=1).view(b, 1, 1, 2)
            high = torch.stack([(2 * (left + cw) - 1) / w - 1, (2 * (top + ch) - 1) / h - 1], dim=1).view(b, 1, 1, 2)
            grid.clamp_(low, high)
        elif h == w:
            # The image's edge pixels. With rotation that half pixel at the box border lies mostly in
            # the black fill, and per-image bounds cost a tenth of the seed recipe's CPU rate.
            # (Python scalars only: a small tensor made from a list would cost a host-device sync.)
            grid.clamp_(-1 + 1 / w, 1 - 1 / w)
        else:
            grid[..., 0].clamp_(-1 + 1 / w, 1 - 1 / w)
            grid[..., 1].clamp_(-1 + 1 / h, 1 - 1 / h)
        if self.translate > 0:
            shift = torch.floor(_rand(generator, (b, 2), device) * (2 * self.translate + 1)) - self.translate
            shift = torch.stack([shift[:, 0] * (2 / w), shift[:, 1] * (2 / h)], dim=1)
            grid = grid.add_(shift.view(b, 1, 1, 2))
        reflect = self.pad_mode == "reflect"
        outside = None
        if self.degrees > 0:
            # torchvision rotates the already cropped (and shifted) image with fill 0: corners that
            # leave that frame are black, not pixels from beyond the crop box or a mirror image.
            outside = _outside_frame(frame, s)
            if not reflect:  # move those points off the image, where zero padding samples 0
                grid[..., 0].masked_fill_(outside, -4.0)
                outside = None
        padding = "reflection" if reflect else "zeros"
        out = F.grid_sample(x, grid, mode="bilinear", padding_mode=padding, align_corners=False)
        return out if outside is None else out.masked_fill_(outside.unsqueeze(1), 0.0)

    def _cutout(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Zero (the mean, after normalisation) a `cutout`-pixel square centred anywhere in each image,
        clipped at the border (DeVries & Taylor, 2017)."""
        b, _, h, w = x.shape
        r = _rand(generator, (b, 2), x.device)
        top = torch.floor(r[:, :1] * h) - self.cutout // 2
        left = torch.floor(r[:, 1:] * w) - self.cutout // 2
        rows = torch.arange(h, device=x.device).view(1, h)
        cols = torch.arange(w, device=x.device).view(1, w)
        in_rows = (rows >= top) & (rows < top + self.cutout)
        in_cols = (cols >= left) & (cols < left + self.cutout)
        mask = in_rows.view(b, 1, h, 1) & in_cols.view(b, 1, 1, w)
        return x.masked_fill(mask, 0.0)
