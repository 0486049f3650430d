"""The data layer: datasets decoded once into uint8 tensors (cached on disk), and per-sample
augmentation of whole batches on the training device.

Nothing here imports the UI. The names below are imported on first use (PEP 562), so
`tui_trainer.data.checks` (used by `--check`) loads without torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "BatchAugment": ".augment",
    "normalize": ".augment",
    "TrainBatches": ".batches",
    "val_batches": ".batches",
    "check_data_layout": ".checks",
    "DataError": ".errors",
    "DataSplits": ".imageset",
    "ImageSet": ".imageset",
    "load_data": ".loading",
}

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

if TYPE_CHECKING:
    from .augment import BatchAugment, normalize
    from .batches import TrainBatches, val_batches
    from .checks import check_data_layout
    from .errors import DataError
    from .imageset import DataSplits, ImageSet
    from .loading import load_data


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
