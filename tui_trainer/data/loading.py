"""`load_data`: the one entry point that turns a preset's [data] table into train/val ImageSets."""

from __future__ import annotations

from collections.abc import Callable

from ..config.choices import DATASETS
from ..config.schema import DataConfig
from .decode import Progress
from .imageset import DataSplits, ImageSet
from .subsets import stratified_limit
from .views import store_size


def _limit(data: ImageSet, limit: int) -> ImageSet:
    if limit <= 0 or limit >= len(data):
        return data
    return data.take(stratified_limit(data.labels, limit))


def _synthetic(cfg: DataConfig, seed: int, progress: Progress | None) -> DataSplits:
    from .synthetic import make_synthetic

    # Generating is faster than reading a cache, so the synthetic set is never cached.
    if progress is not None:
        progress("generate", 0, 2)
    size = store_size(cfg)
    train = make_synthetic(cfg.synthetic_train_size, size, seed, "train")
    val = make_synthetic(cfg.synthetic_val_size, size, seed, "val")
    if progress is not None:
        progress("generate", 2, 2)
    return DataSplits(_limit(train, cfg.train_limit), _limit(val, cfg.val_limit), train.classes)


def _cifar10(cfg: DataConfig, seed: int, progress: Progress | None) -> DataSplits:
    from .cifar import load_cifar10

    train, val = load_cifar10(cfg, progress)
    return DataSplits(_limit(train, cfg.train_limit), _limit(val, cfg.val_limit), train.classes)


def _listed(cfg: DataConfig, seed: int, progress: Progress | None) -> DataSplits:
    """A dataset of image files listed by `listers.LISTERS` (an image folder, a CSV list)."""
    from .listed import load_listed
    from .listers import list_files

    skipped: list[tuple[str, str]] = []
    val_files: list[str] = []
    train_files: list[str] = []
    listing = list_files(cfg)  # with data.review applied
    assert listing is not None  # only called for the datasets of LISTERS
    train, val = load_listed(
        listing, cfg, progress, skipped, val_files, train_files
    )  # applies the limits before decoding
    if len(val_files) != len(val):
        val_files = []  # never pair an image with another's file name
    if len(train_files) != len(train):
        train_files = []
    return DataSplits(
        train,
        val,
        train.classes,
        skipped=tuple(skipped),
        val_paths=tuple(val_files),
        notes=listing.notes,
        train_paths=tuple(train_files),
    )


DATASET_LOADERS: dict[str, Callable[[DataConfig, int, Progress | None], DataSplits]] = {
    "cifar10": _cifar10,
    "imagefolder": _listed,
    "synthetic": _synthetic,
    "csv": _listed,
    "shards": _listed,
    "hf": _listed,
}
"""Dataset name (config.choices.DATASETS) -> loader(cfg, seed, progress)."""


def load_data(cfg: DataConfig, seed: int = 0, progress: Progress | None = None) -> DataSplits:
    """Load (or generate) the dataset named by `cfg.dataset` as uint8 tensors on the CPU, at the
    stored size (`views.store_size`); cached sets map their cache file instead of loading it.

    `seed` only affects the synthetic set. `progress(stage, done, total)` reports decoding
    ("decode train", "decode val") and cache hits ("cache train", ...). Problems raise DataError
    with one message that names the file or folder.
    """
    return DATASET_LOADERS[DATASETS[cfg.dataset].name](cfg, seed, progress)
