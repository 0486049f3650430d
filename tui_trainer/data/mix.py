"""Mixup and CutMix on whole training batches, each image mixed (or not) on its own.

Every image i is paired with image perm[i] of the same batch. Mixup blends the two,
``lam * x_i + (1 - lam) * x_j`` with lam ~ Beta(mixup_alpha, mixup_alpha) (Zhang et al., 2018);
CutMix pastes a box of x_j whose area share is 1 - lam, lam ~ Beta(cutmix_alpha, cutmix_alpha),
and lam is then corrected to the box actually pasted after clipping (Yun et al., 2019). The
targets become the same blend of the one-hot labels, so they sum to 1; the loss turns them into
smoothed targets when label smoothing is on. An image that is not mixed keeps lam = 1.

The few random numbers per image (pairing, mixed or not, which method, lam, box) are drawn on the
host from a generator seeded by (seed, epoch, rank) and the batch's number, like the batches
themselves, so a run resumed at any batch mixes exactly as an uninterrupted one; the pixel work
happens on the batch's device.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..config.schema import AugmentConfig


@dataclass(frozen=True)
class MixPlan:
    """What happens to each image of one batch (host arrays of length B)."""

    partner: np.ndarray  # int64: index of the image mixed in
    lam: np.ndarray  # float64: weight of the image's own label, 1.0 when not mixed
    cutmix: np.ndarray  # bool: a pasted box rather than a blend
    box: np.ndarray  # int64 [B, 4]: top, left, bottom, right (exclusive) of the pasted box


class BatchMix:
    """Mixes a normalised float batch and turns its int labels into soft targets [B, K]."""

    def __init__(self, cfg: AugmentConfig, num_classes: int) -> None:
        self.mixup_alpha = float(cfg.mixup_alpha)
        self.cutmix_alpha = float(cfg.cutmix_alpha)
        self.prob = float(cfg.mix_prob)
        self.num_classes = num_classes

    @property
    def active(self) -> bool:
        return self.prob > 0 and (self.mixup_alpha > 0 or self.cutmix_alpha > 0)

    def plan(self, b: int, h: int, w: int, rng: np.random.Generator) -> MixPlan:
        """Draw every image's pairing, method, weight and box."""
        partner = rng.permutation(b)
        mixed = rng.random(b) < self.prob
        if self.mixup_alpha > 0 and self.cutmix_alpha > 0:
            cutmix = rng.random(b) < 0.5
        else:
            cutmix = np.full(b, self.cutmix_alpha > 0)
        alpha = np.where(cutmix, self.cutmix_alpha, self.mixup_alpha)
        lam = rng.beta(np.maximum(alpha, 1e-12), np.maximum(alpha, 1e-12))
        lam = np.where(mixed, lam, 1.0)
        cutmix = cutmix & mixed
        # CutMix box: sides scaled by sqrt(1 - lam), centre uniform, clipped at the border.
        cut = np.sqrt(1.0 - lam)
        cy, cx = rng.integers(0, h, b), rng.integers(0, w, b)
        half_h, half_w = (cut * h / 2).astype(np.int64), (cut * w / 2).astype(np.int64)
        top, bottom = np.clip(cy - half_h, 0, h), np.clip(cy + half_h, 0, h)
        left, right = np.clip(cx - half_w, 0, w), np.clip(cx + half_w, 0, w)
        box = np.stack([top, left, bottom, right], axis=1).astype(np.int64)
        area = (bottom - top) * (right - left) / (h * w)
        lam = np.where(cutmix, 1.0 - area, lam)
        box[~cutmix] = 0
        return MixPlan(partner=partner.astype(np.int64), lam=lam, cutmix=cutmix, box=box)

    def apply(self, images: torch.Tensor, labels: torch.Tensor, plan: MixPlan) -> tuple[torch.Tensor, torch.Tensor]:
        """(mixed images, soft targets float32 [B, K]) following `plan`."""
        device = images.device
        b, _, h, w = images.shape
        partner = torch.from_numpy(plan.partner).to(device)
        lam = torch.from_numpy(plan.lam).to(device=device, dtype=torch.float32)
        cutmix = torch.from_numpy(plan.cutmix).to(device)
        box = torch.from_numpy(plan.box).to(device)
        other = images.index_select(0, partner)
        blend = lam.view(b, 1, 1, 1)
        blended = torch.where(cutmix.view(b, 1, 1, 1), images, images * blend + other * (1.0 - blend))
        rows = torch.arange(h, device=device).view(1, h)
        cols = torch.arange(w, device=device).view(1, w)
        in_rows = (rows >= box[:, 0:1]) & (rows < box[:, 2:3])
        in_cols = (cols >= box[:, 1:2]) & (cols < box[:, 3:4])
        pasted = in_rows.view(b, 1, h, 1) & in_cols.view(b, 1, 1, w)
        mixed = torch.where(pasted, other, blended)
        one_hot = F.one_hot(labels, self.num_classes).float()
        targets = one_hot * lam.view(b, 1) + one_hot.index_select(0, partner) * (1.0 - lam.view(b, 1))
        return mixed, targets

    def __call__(
        self, images: torch.Tensor, labels: torch.Tensor, rng: np.random.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        b, _, h, w = images.shape
        return self.apply(images, labels, self.plan(b, h, w, rng))


def mixed_batches(
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]], mix: BatchMix, seed: int, start: int = 0
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """`batches` (batch `start` onwards) with every batch mixed; the same `seed` (derived from seed,
    epoch, rank) mixes batch b the same whichever batch the epoch started at."""
    for batch, (images, labels) in enumerate(batches, start=start):
        yield mix(images, labels, np.random.default_rng((seed, batch)))
