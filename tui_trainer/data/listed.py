"""A listed dataset (an image folder, a CSV list: `data.listing`) as train/val ImageSets.

Subsets (a held-out share when there is no val split, `train_limit`, `val_limit`) are chosen from
the file list, before decoding, so only the images a run uses are decoded and read; each subset is
its own cache entry.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..config.schema import DataConfig
from .bad_images import BadImage, find_bad_images, raise_for_bad_images
from .cache import cached_files
from .decode import Progress
from .errors import DataError
from .imageset import ImageSet
from .listing import FileSplit, Listing
from .member import Member
from .store import CacheSpaceError
from .subsets import stratified_limit, stratified_split
from .views import store_size


def _split_files(
    split: FileSplit, cfg: DataConfig, skipped: list[BadImage] | None
) -> tuple[list[Path | Member], torch.Tensor]:
    paths, labels = list(split.paths), list(split.labels)
    if cfg.bad_images == "skip":  # every file is checked at each start, so the list is never lost to the cache
        bad = find_bad_images(paths)
        if bad:
            if skipped is not None:
                skipped.extend(bad)
            drop = {path for path, _ in bad}
            kept = [(p, label) for p, label in zip(paths, labels, strict=True) if str(p) not in drop]
            paths, labels = [p for p, _ in kept], [label for _, label in kept]
    return paths, torch.tensor(labels, dtype=torch.int64)


def _decode_split(
    slot: list[str],
    base: Path,
    name: str,
    paths: list[Path | Member],
    labels: torch.Tensor,
    classes: tuple[str, ...],
    cfg: DataConfig,
    progress: Progress | None,
    skipped: list[BadImage] | None = None,
) -> ImageSet:
    size = store_size(cfg)
    try:
        return cached_files(slot, paths, base, size, labels, classes, name, cfg.cache, progress, cfg.resize)
    except CacheSpaceError:
        raise
    except DataError:
        # One file failed: name every one that does (a full decode finds what a quick check missed).
        bad = find_bad_images(paths, size, quick=False)
        if not bad or cfg.bad_images == "error":
            raise_for_bad_images(bad)
            raise
        if skipped is not None:
            skipped.extend(bad)
        drop = {path for path, _ in bad}
        keep = torch.tensor([i for i, p in enumerate(paths) if str(p) not in drop], dtype=torch.int64)
        kept_paths, kept_labels = _take(paths, labels, keep)
        return _decode_split(slot, base, name, kept_paths, kept_labels, classes, cfg, progress)


def _take(
    paths: list[Path | Member], labels: torch.Tensor, index: torch.Tensor
) -> tuple[list[Path | Member], torch.Tensor]:
    return [paths[i] for i in index.tolist()], labels[index]


def _limited(
    paths: list[Path | Member], labels: torch.Tensor, limit: int, selection: str
) -> tuple[list[Path | Member], torch.Tensor, str]:
    if limit <= 0 or limit >= len(paths):
        return paths, labels, selection
    chosen = stratified_limit(labels, limit)
    return *_take(paths, labels, chosen), f"{selection} limit {limit}"


def load_listed(
    listing: Listing,
    cfg: DataConfig,
    progress: Progress | None = None,
    skipped: list[BadImage] | None = None,
    val_files: list[str] | None = None,
    train_files: list[str] | None = None,
) -> tuple[ImageSet, ImageSet]:
    """(train, val); without a val split a fixed-seed stratified `val_fraction` of train is held out.

    With `data.bad_images = "skip"` the files left out are appended to `skipped` as (path, reason).
    `val_files` (`train_files`) receives the source file of each validation (training) image, in the
    order of its set.
    """
    classes = listing.classes
    train_split = listing.splits["train"]
    train_paths, train_labels = _split_files(train_split, cfg, skipped)
    train_sel = "all"
    if "val" in listing.splits:
        val_split = listing.splits["val"]
        val_paths, val_labels = _split_files(val_split, cfg, skipped)
        val_sel = "all"
    else:
        val_split = train_split
        train_idx, val_idx = stratified_split(train_labels, cfg.val_fraction)
        val_paths, val_labels = _take(train_paths, train_labels, val_idx)
        train_paths, train_labels = _take(train_paths, train_labels, train_idx)
        train_sel, val_sel = f"kept {cfg.val_fraction!r}", f"held out {cfg.val_fraction!r}"
    train_paths, train_labels, train_sel = _limited(train_paths, train_labels, cfg.train_limit, train_sel)
    val_paths, val_labels, val_sel = _limited(val_paths, val_labels, cfg.val_limit, val_sel)
    size = str(store_size(cfg))

    def slot(split: FileSplit, selection: str) -> list[str]:
        return [listing.kind, split.source, size, selection]

    train_skipped: list[BadImage] = []
    train = _decode_split(
        slot(train_split, train_sel),
        train_split.base,
        "train",
        train_paths,
        train_labels,
        classes,
        cfg,
        progress,
        train_skipped,
    )
    val_skipped: list[BadImage] = []
    val = _decode_split(
        slot(val_split, val_sel), val_split.base, "val", val_paths, val_labels, classes, cfg, progress, val_skipped
    )
    if skipped is not None:
        skipped.extend([*train_skipped, *val_skipped])
    for files, paths, left_out in ((val_files, val_paths, val_skipped), (train_files, train_paths, train_skipped)):
        if files is not None:
            dropped = {path for path, _ in left_out}
            files.extend(str(p) for p in paths if str(p) not in dropped)
    return train, val
