"""BatchAugment: every image gets its own random parameters, drawn as torchvision draws them."""

from __future__ import annotations

import functools
import math

import pytest
import torch
import torch.nn.functional as F

from tui_trainer.config.schema import AugmentConfig
from tui_trainer.data import BatchAugment, normalize
from tui_trainer.data.augment import _normalize_

UNIT = {"mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0)}  # outputs stay x / 255
STILL = {"crop": False, "rotation": 0.0, "hflip": 0.0}


def coordinate_images(n: int, size: int = 32) -> torch.Tensor:
    """Channel 0 = 8 * column, channel 1 = 8 * row, channel 2 = 255: content that says where it came from."""
    ramp = torch.arange(size) * (256 // size)
    image = torch.stack([ramp.view(1, -1).expand(size, size), ramp.view(-1, 1).expand(size, size)])
    image = torch.cat([image, torch.full((1, size, size), 255)])
    return image.to(torch.uint8).expand(n, 3, size, size).contiguous()


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_shapes_dtype_and_range_after_normalisation() -> None:
    images = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8)
    cfg = AugmentConfig(rotation=15, translate=4, cutout=8, mean=(0.4, 0.5, 0.6), std=(0.2, 0.25, 0.3))
    out = BatchAugment(cfg, 32)(images, gen())
    assert out.shape == (16, 3, 32, 32) and out.dtype == torch.float32 and out.device == images.device
    low = (0 - torch.tensor(cfg.mean)) / torch.tensor(cfg.std)
    high = (1 - torch.tensor(cfg.mean)) / torch.tensor(cfg.std)
    per_channel = out.transpose(0, 1).flatten(1)
    assert (per_channel.min(1).values >= low - 1e-5).all() and (per_channel.max(1).values <= high + 1e-5).all()
    assert BatchAugment(cfg, 24)(images, gen()).shape == (16, 3, 24, 24)  # resized to image_size


def test_normalize_matches_the_formula() -> None:
    images = torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8)
    mean, std = (0.1, 0.2, 0.3), (0.5, 0.6, 0.7)
    expected = (images.float() / 255 - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)
    assert torch.allclose(normalize(images, mean, std), expected, atol=1e-6)


def test_everything_off_is_just_normalisation() -> None:
    images = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    out = BatchAugment(AugmentConfig(**STILL), 32)(images, gen())
    assert torch.allclose(out, normalize(images, (0.5,) * 3, (0.5,) * 3))


def test_identical_images_come_out_different() -> None:
    images = torch.randint(0, 256, (1, 3, 32, 32), dtype=torch.uint8).expand(32, 3, 32, 32).contiguous()
    out = BatchAugment(AugmentConfig(crop_scale=(0.5, 1.0), rotation=15, hflip=0.5), 32)(images, gen())
    flat = out.flatten(1)
    distinct = {tuple(row.tolist()) for row in flat.round(decimals=4)}
    assert len(distinct) == 32


@pytest.mark.parametrize("crop", [False, True], ids=["flip-only", "flip-in-grid"])
def test_flip_rate_is_p_per_image(crop: bool) -> None:
    n, p = 4000, 0.3
    cfg = AugmentConfig(crop=crop, crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), rotation=0, hflip=p, **UNIT)
    out = BatchAugment(cfg, 32)(coordinate_images(n), gen(1))
    left, right = out[:, 0, :, 0], out[:, 0, :, -1]
    flipped = (left > right).all(dim=1)
    assert ((left < right).all(dim=1) | flipped).all()  # every image is either flipped or not, whole
    assert abs(flipped.float().mean().item() - p) < 0.03
    # An unflipped full-frame crop is the image itself.
    assert torch.allclose(out[~flipped], coordinate_images(int((~flipped).sum())).float() / 255, atol=1e-5)


def test_crop_boxes_follow_random_resized_crop() -> None:
    cfg = AugmentConfig(crop_scale=(0.3, 0.6), crop_ratio=(0.5, 2.0))
    boxes = BatchAugment(cfg, 32).crop_boxes(5000, 32, 40, gen(2), torch.device("cpu"))
    top, left, h, w = boxes.unbind(1)
    assert (top >= 0).all() and (left >= 0).all() and (top + h <= 32).all() and (left + w <= 40).all()
    area = (h * w).float() / (32 * 40)
    slack = (h + w + 1).float() / (32 * 40)  # width and height are rounded to whole pixels
    assert (area >= 0.3 - slack).all() and (area <= 0.6 + slack).all()
    assert area.min() < 0.33 and area.max() > 0.57  # the whole range is used
    ratio = (w / h).float()
    assert ratio.min() < 0.6 and ratio.max() > 1.7
    assert len({tuple(b) for b in boxes.tolist()}) > 1000  # per image, not per batch
    # A ratio range no candidate can meet on a 32x32 image falls back to the central crop.
    fallback = BatchAugment(AugmentConfig(crop_scale=(1.0, 1.0), crop_ratio=(3.0, 4.0)), 32)
    assert fallback.crop_boxes(4, 32, 32, gen(), torch.device("cpu")).tolist() == [[10, 0, 11, 32]] * 4


def grid_path(augment: BatchAugment, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The float `grid_sample` resampling (CUDA's path, and the CPU's with rotation or translation),
    forced on the CPU, normalised."""
    return _normalize_(augment._warp(images.float(), generator), augment.mean, augment.std)


UINT8_ROUNDING = 1.0
"""The CPU box resize rounds its two bilinear passes to uint8: each pixel within 1 of 255 of the float result."""


@pytest.mark.parametrize("path", ["box resize", "grid"])
def test_each_image_is_sampled_from_its_own_crop_box(path: str) -> None:
    n, s = 64, 32
    cfg = AugmentConfig(crop_scale=(0.25, 0.7), rotation=0, hflip=0, **UNIT)
    augment = BatchAugment(cfg, s)
    run = augment if path == "box resize" else functools.partial(grid_path, augment)
    out = run(coordinate_images(n), gen(3)) * 255
    top, left, h, w = augment.crop_boxes(n, s, s, gen(3), torch.device("cpu")).float().unbind(1)
    centres = torch.arange(s).float() + 0.5
    col = left.view(n, 1) + centres.view(1, s) * w.view(n, 1) / s - 0.5  # source pixel column per output column
    row = top.view(n, 1) + centres.view(1, s) * h.view(n, 1) / s - 0.5
    # Resizing reads only inside the box and clamps to its edge pixels, as torchvision's resize of the
    # cropped image does: no blending with the pixels around the box, nor with black.
    col = torch.maximum(torch.minimum(col, (left + w - 1).view(n, 1)), left.view(n, 1))
    row = torch.maximum(torch.minimum(row, (top + h - 1).view(n, 1)), top.view(n, 1))
    atol = UINT8_ROUNDING + 1e-3 if path == "box resize" else 1e-3
    assert torch.allclose(out[:, 0, s // 2, :], 8 * col, atol=atol)
    assert torch.allclose(out[:, 1, :, s // 2], 8 * row, atol=atol)
    assert torch.allclose(out[:, 2], torch.tensor(255.0))


@pytest.mark.parametrize("size", [(48, 40), (28, 40), (40, 40)], ids=["down", "up", "same"])
def test_cpu_box_resize_equals_the_bilinear_crop_resize_of_the_same_boxes(size: tuple[int, int]) -> None:
    # Default recipe (no rotation or shift) on the CPU takes the uint8 per-image resize; it must equal,
    # within uint8 rounding, the float bilinear resize of each drawn box, flipped when drawn so, and the
    # grid_sample path for the same draws, with cutout applied to the same squares afterwards.
    side, s = size
    n = 96
    cfg = AugmentConfig(crop_scale=(0.08, 1.0), hflip=0.5, cutout=6, mean=(0.4, 0.5, 0.6), std=(0.2, 0.25, 0.3))
    augment = BatchAugment(cfg, s)
    images = torch.randint(0, 256, (n, 3, side, side), dtype=torch.uint8, generator=gen(1))
    out = augment(images, gen(9))
    g = gen(9)
    flips = torch.rand(n, generator=g) < 0.5  # drawn first, as BatchAugment draws
    boxes = augment.crop_boxes(n, side, side, g, torch.device("cpu")).tolist()
    expected = torch.stack(
        [
            F.interpolate(images[i : i + 1, :, t : t + ch, x : x + cw].float(), size=(s, s), mode="bilinear")[0]
            for i, (t, x, ch, cw) in enumerate(boxes)
        ]
    )
    expected = _normalize_(torch.where(flips.view(n, 1, 1, 1), expected.flip(-1), expected), augment.mean, augment.std)
    expected = augment._cutout(expected, g)
    tolerance = UINT8_ROUNDING / (255 * min(cfg.std)) + 1e-5
    assert (out - expected).abs().max().item() <= tolerance
    assert abs((out - expected).mean().item()) < 0.05 * tolerance  # rounding, not a shift
    g = gen(9)
    grid = augment._cutout(grid_path(augment, images, g), g)
    assert (out - grid).abs().max().item() <= tolerance


@pytest.mark.parametrize("threads", [2, 3])
def test_cpu_box_resize_gives_the_same_batch_on_any_number_of_threads(threads: int) -> None:
    # A large batch (above the single-thread size) is shared among the intra-op threads; which thread
    # resizes which image must not change a pixel, or stream and device runs would drift apart.
    augment = BatchAugment(AugmentConfig(hflip=0.5, cutout=20), 224)
    images = torch.randint(0, 256, (9, 3, 258, 258), dtype=torch.uint8, generator=gen(2))
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        alone = augment(images, gen(5))
        torch.set_num_threads(threads)
        shared = augment(images, gen(5))
        assert torch.get_num_threads() == threads  # the caller's setting survives the split
    finally:
        torch.set_num_threads(previous)
    assert torch.equal(alone, shared)


def test_rotation_is_per_image_with_black_corners_inside_the_crop() -> None:
    n = 200
    white = torch.full((n, 3, 32, 32), 255, dtype=torch.uint8)
    cfg = AugmentConfig(crop_scale=(0.3, 0.3), crop_ratio=(1.0, 1.0), rotation=30, hflip=0, **UNIT)
    out = BatchAugment(cfg, 32)(white, gen(4))
    black = (out[:, 0] < 0.5).flatten(1).float().mean(1)
    # The crop lies inside a white image, so black corners come only from the rotation's fill 0.
    assert (black > 0).float().mean() > 0.9
    assert black.std() > 0.01  # angles differ per image
    assert torch.allclose(out[:, :, 14:18, 14:18], torch.ones(()))  # the centre stays
    plain = BatchAugment(cfg.model_copy(update={"rotation": 0.0}), 32)(white, gen(4))
    assert torch.allclose(plain, torch.ones(()))


def test_rotation_angles_stay_within_degrees() -> None:
    n, degrees = 500, 20.0
    cfg = AugmentConfig(crop=False, rotation=degrees, hflip=0, **UNIT)
    out = BatchAugment(cfg, 32)(coordinate_images(n), gen(5)) * 255
    # Along the middle row the source column changes by 8*cos(a) and the row by 8*sin(a) per pixel.
    dx = out[:, 0, 16, 17] - out[:, 0, 16, 15]
    dy = out[:, 1, 16, 17] - out[:, 1, 16, 15]
    angle = torch.rad2deg(torch.atan2(dy, dx)).abs()
    assert angle.max() <= degrees + 0.5 and angle.max() > degrees - 2 and angle.min() < 2


@pytest.mark.parametrize("pad_mode", ["zeros", "reflect"])
def test_translate_shifts_whole_pixels(pad_mode: str) -> None:
    n, t = 300, 3
    cfg = AugmentConfig(crop=False, rotation=0, hflip=0, translate=t, **UNIT)
    images = coordinate_images(n)
    out = BatchAugment(cfg, 32, pad_mode=pad_mode)(images, gen(6)) * 255
    shift = torch.round((out[:, 0, 16, 16] - images[:, 0, 16, 16].float()) / 8)
    assert set(shift.long().tolist()) == set(range(-t, t + 1))
    assert torch.allclose(out[:, 0, 16, 16], images[:, 0, 16, 16].float() + 8 * shift, atol=1e-3)
    edge_zero = (out[:, 2] == 0).flatten(1).any(1)  # channel 2 is 255 everywhere inside the image
    moved = (shift != 0) | (torch.round((out[:, 1, 16, 16] - 128) / 8) != 0)
    if pad_mode == "zeros":
        assert torch.equal(edge_zero, moved)
    else:
        assert not edge_zero.any()


def test_cutout_zeroes_one_square_per_image() -> None:
    n, side = 500, 8
    white = torch.full((n, 3, 32, 32), 255, dtype=torch.uint8)
    out = BatchAugment(AugmentConfig(**STILL, cutout=side), 32)(white, gen(7))
    zero = out[:, 0] == 0  # mean 0.5 / std 0.5: zero is the mean colour
    counts = zero.flatten(1).sum(1)
    assert (counts > 0).all() and (counts <= side * side).all() and (counts == side * side).float().mean() > 0.5
    assert torch.equal(zero.unsqueeze(1).expand(-1, 3, -1, -1), out == 0)
    centres = torch.nonzero(zero)[:, 1:].float().mean(0)
    assert torch.allclose(centres, torch.tensor([15.5, 15.5]), atol=1.5)  # placed anywhere, evenly


def test_same_generator_seed_same_output() -> None:
    images = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    augment = BatchAugment(AugmentConfig(rotation=10, translate=2, cutout=4), 32)
    assert torch.equal(augment(images, gen(9)), augment(images, gen(9)))
    assert not torch.equal(augment(images, gen(9)), augment(images, gen(10)))


def test_bad_pad_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="pad_mode"):
        BatchAugment(AugmentConfig(), 32, pad_mode="wrap")  # type: ignore[arg-type]


def test_log_uniform_ratio() -> None:
    cfg = AugmentConfig(crop_scale=(0.5, 0.5), crop_ratio=(0.25, 4.0))
    boxes = BatchAugment(cfg, 256).crop_boxes(4000, 256, 256, gen(8), torch.device("cpu")).float()
    log_ratio = torch.log(boxes[:, 3] / boxes[:, 2])
    # Log-uniform on [-log 4, log 4] before the fit test; fitting trims both ends alike.
    assert abs(log_ratio.mean().item()) < 0.05 and log_ratio.abs().max() <= math.log(4.0) + 0.05
