"""Training and validation batches drawn straight from an ImageSet on its device.

An epoch's order and augmentation depend only on (seed, epoch, rank), so a resumed run replays
exactly the batches it would have seen, with no RNG state in the checkpoint.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence

import torch

from .augment import BatchAugment, normalize
from .imageset import ImageSet
from .threads import single_thread_for_small

Batch = tuple[torch.Tensor, torch.Tensor]


def derive_seed(*parts: int | str) -> int:
    """A 63-bit seed mixed from several values, so (seed, epoch) and (seed, epoch + 1) are unrelated."""
    raw = hashlib.blake2b(":".join(str(p) for p in parts).encode(), digest_size=8).digest()
    return int.from_bytes(raw, "little") & ((1 << 63) - 1)


def _generator(device: torch.device, seed: int) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


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
    ) -> None:
        """`mean`/`std` normalise the images only when `augment` is None (BatchAugment has its own)."""
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

    @property
    def samples_per_rank(self) -> int:
        """Every rank gets the same number: the permutation is cut to a multiple of world_size."""
        return len(self.data) // self.world_size

    def __len__(self) -> int:
        n = self.samples_per_rank
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def indices(self, epoch: int) -> torch.Tensor:
        """This rank's sample indices for `epoch`, in batch order, on the data's device."""
        device = self.data.device
        n = len(self.data)
        perm = torch.randperm(n, generator=_generator(device, derive_seed("order", self.seed, epoch)), device=device)
        per_rank = self.samples_per_rank
        return perm[self.rank * per_rank : (self.rank + 1) * per_rank]

    def epoch(self, epoch: int) -> Iterator[Batch]:
        """(float32 images [B, C, S, S], int64 labels [B]) for every batch of `epoch`."""
        order = self.indices(epoch)
        generator = _generator(self.data.device, derive_seed("augment", self.seed, epoch, self.rank))
        sample_size = self.data.images[0].numel()
        for batch in range(len(self)):
            index = order[batch * self.batch_size : (batch + 1) * self.batch_size]
            # The thread setting is restored before the yield, so it never reaches the training step.
            with single_thread_for_small(self.data.device, len(index) * sample_size):
                images = self.data.images.index_select(0, index)  # much faster than images[index] on CPU
                if self.augment is not None:
                    images = self.augment(images, generator)
                else:
                    images = normalize(images, self.mean, self.std)
                labels = self.data.labels.index_select(0, index)
            yield images, labels


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
) -> Iterator[Batch]:
    """Un-augmented, normalised batches in dataset order; rank r gets a contiguous shard, and the
    shards cover every sample exactly once (no padding, so metrics are exact)."""
    start, end = shard_bounds(len(data), rank, world_size)
    for lo in range(start, end, batch_size):
        hi = min(lo + batch_size, end)
        with single_thread_for_small(data.device, data.images[lo:hi].numel()):
            images = normalize(data.images[lo:hi], mean, std)
        yield images, data.labels[lo:hi]
