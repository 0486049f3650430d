"""The data layer: datasets decoded once into uint8 tensors (cached on disk), and per-sample
augmentation of whole batches on the training device.

Nothing here imports the UI; `load_data` is the entry point, `TrainBatches`/`val_batches` feed the
loops.
"""

from __future__ import annotations

from .augment import BatchAugment, normalize
from .batches import TrainBatches, val_batches
from .checks import check_data_layout
from .errors import DataError
from .imageset import DataSplits, ImageSet
from .loading import load_data

__all__ = [
    "BatchAugment",
    "DataError",
    "DataSplits",
    "ImageSet",
    "TrainBatches",
    "check_data_layout",
    "load_data",
    "normalize",
    "val_batches",
]
