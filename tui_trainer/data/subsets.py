"""Deterministic, class-balanced subsets: held-out validation splits and `*_limit` subsets.

Both use a fixed seed rather than the preset's, so runs with different seeds are compared on the
same images.
"""

from __future__ import annotations

import torch

from .class_counts import held_out

SUBSET_SEED = 20240611
"""Seed of every split and subset permutation; changing it changes which images are held out."""


def _within_class_order(labels: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed-seed shuffle of the samples, plus each sample's rank among its class in that shuffle."""
    labels = labels.cpu()
    generator = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(labels), generator=generator)
    # Stable sort by class keeps the shuffled order inside each class.
    by_class = perm[torch.sort(labels[perm], stable=True).indices]
    counts = torch.bincount(labels, minlength=int(labels.max()) + 1 if len(labels) else 0)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.empty(len(labels), dtype=torch.int64)
    rank[by_class] = torch.arange(len(labels)) - starts[labels[by_class]]
    return rank, counts


def stratified_limit(labels: torch.Tensor, limit: int, seed: int = SUBSET_SEED) -> torch.Tensor:
    """Indices (ascending) of `limit` samples with each class represented in proportion to its size."""
    n = len(labels)
    if limit <= 0 or limit >= n:
        return torch.arange(n)
    rank, counts = _within_class_order(labels, seed)
    labels = labels.cpu()
    # A sample's position as a fraction through its class: taking the smallest fractions first
    # fills every class proportionally; ties go to the lower class index (stable sort).
    position = (rank.double() + 0.5) / counts[labels].double()
    order = torch.sort(position, stable=True).indices
    return torch.sort(order[:limit]).values


def stratified_split(
    labels: torch.Tensor, fraction: float, seed: int = SUBSET_SEED
) -> tuple[torch.Tensor, torch.Tensor]:
    """(train indices, val indices), holding out `fraction` of each class (at least one image of a
    class with two or more, never all of one)."""
    rank, counts = _within_class_order(labels, seed)
    labels = labels.cpu()
    held = torch.tensor([held_out(int(count), fraction) for count in counts], dtype=torch.int64)
    is_val = rank < held[labels]
    return torch.nonzero(~is_val).squeeze(1), torch.nonzero(is_val).squeeze(1)


def stratified_folds(labels: torch.Tensor, folds: int, seed: int = SUBSET_SEED) -> torch.Tensor:
    """Each sample's fold (int64 [N] in 0..folds-1): within every class, a seeded shuffle dealt out in
    turn, so each fold holds about 1/folds of every class (cross-validation over the training set)."""
    if folds < 2:
        raise ValueError(f"cross-validation needs at least 2 folds, not {folds}")
    if len(labels) == 0:
        return torch.zeros(0, dtype=torch.int64)
    rank, _ = _within_class_order(labels, seed)
    return rank % folds
