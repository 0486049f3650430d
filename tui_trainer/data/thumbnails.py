"""Small copies of a set's images for the confusion screen, made a bounded chunk at a time.

A validation or test set can be larger than memory (a mapped cache file) and its images large
(736 px stored): shrinking it whole, or in chunks of a fixed count, once held 3.3 GB of floats at
736 px. Chunks here are sized in bytes and their rows are read with `preadv` (`RowReader`), so the
file's pages stay in the page cache, not in this process.

Their side is what a terminal picture needs (128 px: a tile or a full view in Sixel or Kitty
graphics), within a byte budget for a large set: CIFAR-10's 10 000 images stay 32 px (30 MB);
10 000 images of 224 px become 128 px (492 MB); ImageNet's 50 000 get 64 px (614 MB), as before.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .imageset import ImageSet
from .stream import RowReader

THUMBNAIL_SIDE = 128
"""Longest side of a thumbnail: enough for a picture in terminal graphics (48 KB an RGB image)."""

MIN_THUMBNAIL_SIDE = 64
"""The side a large set still gets (what half blocks need: 32×16 cells of two pixels each)."""

THUMBNAIL_BYTES = 512 << 20
"""The file size above which the side shrinks, down to MIN_THUMBNAIL_SIDE."""


def thumbnail_side(count: int, channels: int, budget: int = THUMBNAIL_BYTES) -> int:
    """Longest side of the thumbnails of `count` images: THUMBNAIL_SIDE, less when the set would pass `budget`."""
    fits = math.isqrt(budget // max(1, count * channels))
    return max(MIN_THUMBNAIL_SIDE, min(THUMBNAIL_SIDE, fits))


CHUNK_BYTES = 32 << 20
"""Bytes of stored images shrunk at once (their float copy is four times that)."""


@dataclass(frozen=True, eq=False)
class Thumbnails:
    """The thumbnails of `data`: `shape` (N, h, w, C) known up front, the uint8 rows made by
    iterating, chunk by chunk, in the set's order (so a writer streams them to a file)."""

    data: ImageSet
    side: int | None = None
    """Longest side; None: `thumbnail_side` of the set."""
    chunk_bytes: int = CHUNK_BYTES

    @property
    def size(self) -> tuple[int, int]:
        h, w = self.data.images.shape[-2:]
        side = self.side if self.side is not None else thumbnail_side(len(self.data), int(self.data.images.shape[1]))
        scale = min(1.0, side / max(h, w))
        return max(1, round(h * scale)), max(1, round(w * scale))

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.data), *self.size, int(self.data.images.shape[1]))

    def __iter__(self) -> Iterator[np.ndarray]:
        """uint8 [n, h, w, C] chunks whose n add up to len(data)."""
        images = self.data.images
        if len(self.data) == 0:
            return
        row_bytes = images[0].numel()
        rows = max(1, self.chunk_bytes // row_bytes)
        reader = RowReader(self.data) if images.device.type == "cpu" else None
        buffer = torch.empty((min(rows, len(self.data)), *images.shape[1:]), dtype=torch.uint8)
        try:
            for lo in range(0, len(self.data), rows):
                hi = min(lo + rows, len(self.data))
                if reader is not None:
                    part = buffer[: hi - lo]
                    reader.read(np.arange(lo, hi), part)
                else:
                    part = images[lo:hi]
                yield self._shrink(part).permute(0, 2, 3, 1).cpu().numpy()
        finally:
            if reader is not None:
                reader.close()

    def _shrink(self, part: torch.Tensor) -> torch.Tensor:
        if tuple(part.shape[-2:]) == self.size:
            return part.clone()  # the reused buffer is overwritten by the next chunk
        small = F.interpolate(part.float(), size=self.size, mode="area")
        return small.round_().clamp_(0, 255).to(torch.uint8)
