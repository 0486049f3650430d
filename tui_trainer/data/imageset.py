"""The in-memory form of every dataset: one uint8 tensor of images and one of labels."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch


@dataclass(frozen=True)
class DiskRows:
    """Where an ImageSet's rows lie in a cache file: row i starts at offset + i * row bytes."""

    path: Path
    offset: int


@dataclass(frozen=True, eq=False)
class ImageSet:
    """Images as uint8 [N, C, H, W] and labels as int64 [N], on one device.

    Keeping whole datasets as tensors lets batches be gathered and augmented on the training
    device without a per-image Python pipeline. Equality is identity (eq=False): comparing tensors
    element-wise would not give a bool.
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]
    disk: DiskRows | None = None
    """Set when `images` maps a cache file: streaming then reads rows from the file, not the mapping."""

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError(f"images must be uint8 [N, C, H, W], got {self.images.dtype} {tuple(self.images.shape)}")
        if self.labels.dtype != torch.int64 or self.labels.shape != (self.images.shape[0],):
            raise ValueError(
                f"labels must be int64 [{self.images.shape[0]}], got {self.labels.dtype} {tuple(self.labels.shape)}"
            )
        if self.images.device != self.labels.device:
            raise ValueError("images and labels must be on the same device")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def device(self) -> torch.device:
        return self.images.device

    @property
    def nbytes(self) -> int:
        """Bytes of the images (what holding the whole set on a device costs)."""
        return self.images.numel() * self.images.element_size()

    def to(self, device: torch.device | str) -> ImageSet:
        """A copy on `device` (the same object when it is already there); a mapped cache file is read
        into memory, so `device` training never waits on the disk."""
        device = torch.device(device)
        if self.images.device == device:
            return self if self.disk is None else ImageSet(self.images.clone(), self.labels, self.classes)
        return ImageSet(self.images.to(device), self.labels.to(device), self.classes)

    def take(self, indices: torch.Tensor) -> ImageSet:
        """The samples at `indices`, in that order."""
        indices = indices.to(self.images.device)
        return ImageSet(self.images[indices], self.labels[indices], self.classes)


@dataclass(frozen=True, eq=False)
class DataSplits:
    """What `load_data` returns: the training and validation sets and their shared class names."""

    train: ImageSet
    val: ImageSet
    classes: tuple[str, ...]
    skipped: tuple[tuple[str, str], ...] = ()
    """(path, reason) of image files left out under `data.bad_images = "skip"`."""
    val_paths: tuple[str, ...] = ()
    """The source file of each validation image, in order (image folders); empty for generated sets."""
    train_paths: tuple[str, ...] = ()
    """The source file of each training image, in order, as `val_paths` (the training set's label review)."""
    notes: tuple[str, ...] = ()
    """Lines the run prints before training: what `data.review` changed, the entries it could not apply."""
