"""Where the CIFAR-10 files are expected, and what to say when they are not there (torch-free, for
`--check`)."""

from __future__ import annotations

from pathlib import Path

from ..config.schema import DataConfig
from .paths import default_data_root, resolve_root

ARCHIVE = "cifar-10-python.tar.gz"
FOLDER = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILES = ("test_batch",)
META_FILE = "batches.meta"


def cifar_root(cfg: DataConfig) -> Path:
    """`data.root`, or the default data folder when it is empty."""
    return resolve_root(cfg.root) if cfg.root else default_data_root()


def is_extracted(root: Path) -> bool:
    folder = root / FOLDER
    return all((folder / name).is_file() for name in (*TRAIN_FILES, *TEST_FILES, META_FILE))


def missing_message(root: Path) -> str:
    """What to do when CIFAR-10 is not there and may not be downloaded."""
    return (
        f"CIFAR-10 is not in {root}: put {ARCHIVE} (from https://www.cs.toronto.edu/~kriz/cifar.html) at "
        f"{root / ARCHIVE}, or set data.download = true (needs internet), or use an image folder instead: "
        'dataset = "imagefolder" with root = "../shared/data/cifar10-jpeg" (train/<class>/*.jpg)'
    )
