"""Training and validation batches drawn straight from an ImageSet on its device, or streamed.

An epoch's order depends only on (seed, epoch) and each batch's augmentation only on (seed, epoch,
rank, batch), so a run resumed at any batch of an epoch replays exactly the batches it would have
seen, with no RNG state in the checkpoint. With `stream=True` the
images stay in the cache file and each batch's rows are read ahead in a thread (`stream.py`); the
order is still drawn on the training device and the augmentation runs there, so both storages give
the same batches for one seed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch

from ..config.choices import SAMPLERS
from .augment import BatchAugment, normalize
from .heap import keep_freed_buffers
from .imageset import ImageSet
from .stream import stream_rows
from .threads import single_thread_for_small
from .views import validation_view

Batch = tuple[torch.Tensor, torch.Tensor]


def derive_seed(*parts: int | str) -> int:
    """A 63-bit seed mixed from several values, so (seed, epoch) and (seed, epoch + 1) are unrelated."""
    raw = hashlib.blake2b(":".join(str(p) for p in parts).encode(), digest_size=8).digest()
    return int.from_bytes(raw, "little") & ((1 << 63) - 1)


def _generator(device: torch.device, seed: int) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def shuffled_order(labels: torch.Tensor, seed: int, device: torch.device) -> torch.Tensor:
    """Every sample once, in a random order drawn on `device`."""
    return torch.randperm(len(labels), generator=_generator(device, seed), device=device)


def balanced_order(labels: torch.Tensor, seed: int, device: torch.device) -> torch.Tensor:
    """As many draws as samples, each class with images drawn equally often (the remainder of the
    division going to randomly chosen classes, one each), in a random order.

    Inside a class the draws walk through fresh random permutations of its samples, so a rare class
    repeats each image as evenly as it can and a common class is subsampled without repeats. Drawn
    on the CPU from `seed` alone (one sync per epoch to read the labels), so every device and storage
    gets the same order and a resumed run replays it.
    """
    labels = labels.cpu()
    if not len(labels):
        return torch.zeros(0, dtype=torch.int64, device=device)
    generator = torch.Generator().manual_seed(seed)
    counts = torch.bincount(labels)
    present = torch.nonzero(counts).squeeze(1)
    quota = torch.zeros_like(counts)
    quota[present] = len(labels) // len(present)
    quota[present[torch.randperm(len(present), generator=generator)[: len(labels) % len(present)]]] += 1
    by_class = torch.sort(labels, stable=True).indices
    starts = torch.cumsum(counts, 0) - counts
    draws = []
    for cls in present.tolist():
        members = by_class[starts[cls] : starts[cls] + counts[cls]]
        rounds = -(-int(quota[cls]) // len(members))
        draws += [members[torch.randperm(len(members), generator=generator)] for _ in range(rounds)]
        draws[-1] = draws[-1][: int(quota[cls]) - len(members) * (rounds - 1)]
    order = torch.cat(draws)
    return order[torch.randperm(len(order), generator=generator)].to(device)


SAMPLER_ORDERS: dict[str, Callable[[torch.Tensor, int, torch.device], torch.Tensor]] = {
    "shuffle": shuffled_order,
    "balanced": balanced_order,
}
"""Sampler name (config.choices.SAMPLERS) -> order(labels, seed, device): an epoch's sample indices."""


class TrainBatches:
    """One epoch at a time of shuffled, augmented training batches for one rank."""

    def __init__(
        self,
        data: ImageSet,
        batch_size: int,
        augment: BatchAugment | None,
        drop_last: bool,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        *,
        mean: Sequence[float] = (0.5, 0.5, 0.5),
        std: Sequence[float] = (0.5, 0.5, 0.5),
        stream: bool = False,
        device: torch.device | None = None,
        prefetch: int | None = None,
        sampler: str = "shuffle",
    ) -> None:
        """`mean`/`std` normalise the images only when `augment` is None (BatchAugment has its own).
        `sampler`: how an epoch draws its samples (SAMPLER_ORDERS: "shuffle", "balanced").

        `stream`: `data` stays on the CPU (usually mapping the cache file) and batches are read ahead
        (`prefetch` of them; None: as many as fit `stream.READ_AHEAD_BYTES`, one to three) and moved to
        `device`; otherwise `data` is already on the training device."""
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside world_size {world_size}")
        self.data = data
        self.batch_size = batch_size
        self.augment = augment
        self.drop_last = drop_last
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.mean = tuple(mean)
        self.std = tuple(std)
        self.stream = stream
        self.device = torch.device(device) if stream and device is not None else data.device
        self.labels = data.labels.to(self.device)
        self.prefetch = prefetch
        self.order = SAMPLER_ORDERS[SAMPLERS[sampler].name]
        if self.device.type == "cpu":
            keep_freed_buffers()  # each batch reuses the last one's memory instead of faulting it in

    @property
    def samples_per_rank(self) -> int:
        """Every rank gets the same number: the permutation is cut to a multiple of world_size."""
        return len(self.data) // self.world_size

    def __len__(self) -> int:
        n = self.samples_per_rank
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def indices(self, epoch: int) -> torch.Tensor:
        """This rank's sample indices for `epoch`, in batch order, on the data's device."""
        perm = self.order(self.labels, derive_seed("order", self.seed, epoch), self.device)
        per_rank = self.samples_per_rank
        return perm[self.rank * per_rank : (self.rank + 1) * per_rank]

    def epoch(self, epoch: int, start: int = 0) -> Iterator[Batch]:
        """(float32 images [B, C, S, S], int64 labels [B]) for every batch of `epoch` from batch `start`
        (0-based; a run resumed mid-epoch starts at the first batch it had not trained)."""
        order = self.indices(epoch)
        sample_size = self.data.images[0].numel()
        streamed = None
        if self.stream:
            rows = order.cpu().numpy()  # one sync per epoch
            bs = self.batch_size
            streamed = stream_rows(
                self.data, [rows[b * bs : (b + 1) * bs] for b in range(start, len(self))], self.device, self.prefetch
            )
        try:
            for batch in range(start, len(self)):
                index = order[batch * self.batch_size : (batch + 1) * self.batch_size]
                # The thread setting is restored before the yield, so it never reaches the training step.
                with single_thread_for_small(self.device, len(index) * sample_size):
                    if streamed is not None:
                        images = next(streamed)
                    else:
                        # index_select is much faster than images[index] on CPU, and on one thread: a
                        # copy split over OpenMP threads took 25 times as long while other processes
                        # held the cores (17 against 440 ms for 64 rows of 258 px).
                        with single_thread_for_small(self.device, 0):
                            images = self.data.images.index_select(0, index)
                    if self.augment is not None:
                        # A generator per batch: batch b's augmentation does not depend on batches 0..b-1.
                        seed = derive_seed("augment", self.seed, epoch, self.rank, batch)
                        images = self.augment(images, _generator(self.device, seed))
                    else:
                        images = normalize(images, self.mean, self.std)
                    labels = self.labels.index_select(0, index)
                yield images, labels
        finally:
            if streamed is not None:
                streamed.close()  # stops the reading thread when an epoch ends early


def shard_bounds(n: int, rank: int, world_size: int) -> tuple[int, int]:
    """[start, end) of rank's contiguous share of n samples; shares differ by at most one."""
    return n * rank // world_size, n * (rank + 1) // world_size


def val_batches(
    data: ImageSet,
    batch_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    rank: int = 0,
    world_size: int = 1,
    *,
    image_size: int | None = None,
    stream: bool = False,
    device: torch.device | None = None,
) -> Iterator[Batch]:
    """Un-augmented, normalised batches in dataset order; rank r gets a contiguous shard, and the
    shards cover every sample exactly once (no padding, so metrics are exact).

    `image_size`: each image is `validation_view`ed to it (centre crop of the stored image).
    `stream`/`device`: as in TrainBatches."""
    start, end = shard_bounds(len(data), rank, world_size)
    device = torch.device(device) if stream and device is not None else data.device
    bounds = [(lo, min(lo + batch_size, end)) for lo in range(start, end, batch_size)]
    streamed = stream_rows(data, [np.arange(lo, hi) for lo, hi in bounds], device) if stream else None
    labels = data.labels[start:end].to(device)
    try:
        for lo, hi in bounds:
            rows = next(streamed) if streamed is not None else data.images[lo:hi]
            if image_size is not None:
                rows = validation_view(rows, image_size)
            with single_thread_for_small(device, rows.numel()):
                images = normalize(rows, mean, std)
            yield images, labels[lo - start : hi - start]
    finally:
        if streamed is not None:
            streamed.close()
