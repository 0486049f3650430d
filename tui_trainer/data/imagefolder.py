"""`dataset = "imagefolder"`: `root/train/<class>/*` (and `root/val/<class>/*`) as ImageSets."""

from __future__ import annotations

from pathlib import Path

import torch

from ..config.schema import DataConfig
from .bad_images import BadImage, find_bad_images, raise_for_bad_images
from .cache import cached, file_fingerprint
from .decode import Progress, decode_images
from .errors import DataError
from .folder import Tree, scan_tree, tree_problems
from .imageset import ImageSet
from .paths import resolve_root
from .subsets import stratified_split


def _load_split(
    root: Path,
    split: str,
    tree: Tree,
    classes: tuple[str, ...],
    cfg: DataConfig,
    progress: Progress | None,
    skipped: list[BadImage] | None = None,
) -> ImageSet:
    split_dir = root / split
    paths: list[Path] = []
    labels: list[int] = []
    for index, cls in enumerate(classes):
        files = tree[split][cls]
        paths += [split_dir / cls / name for name in files]
        labels += [index] * len(files)
    if cfg.bad_images == "skip":  # every file is checked at each start, so the list is never lost to the cache
        bad = find_bad_images(paths)
        if bad:
            if skipped is not None:
                skipped.extend(bad)
            drop = {path for path, _ in bad}
            kept = [(p, label) for p, label in zip(paths, labels, strict=True) if str(p) not in drop]
            paths, labels = [p for p, _ in kept], [label for _, label in kept]
    try:
        fingerprint = file_fingerprint(paths, split_dir)
    except OSError as exc:
        raise DataError(f"cannot read {exc.filename or split_dir}: {exc.strerror or exc}") from exc

    def build() -> ImageSet:
        try:
            images = decode_images(paths, cfg.image_size, progress, stage=f"decode {split}")
        except DataError:
            # One file failed: name every one that does (a full decode finds what a quick check missed).
            bad = find_bad_images(paths, cfg.image_size, quick=False)
            if not bad or cfg.bad_images == "error":
                raise_for_bad_images(bad)
                raise
            if skipped is not None:
                skipped.extend(bad)
            drop = {path for path, _ in bad}
            keep = [i for i, p in enumerate(paths) if str(p) not in drop]
            images = decode_images([paths[i] for i in keep], cfg.image_size, progress, stage=f"decode {split}")
            return ImageSet(images, torch.tensor([labels[i] for i in keep], dtype=torch.int64), classes)
        return ImageSet(images, torch.tensor(labels, dtype=torch.int64), classes)

    slot = ["imagefolder", str(split_dir), str(cfg.image_size)]
    # The fingerprint covers the relative paths, hence the class folders and the label of each file.
    return cached(slot, fingerprint, build, cfg.cache, progress, stage=f"cache {split}")


def load_imagefolder(
    cfg: DataConfig, progress: Progress | None = None, skipped: list[BadImage] | None = None
) -> tuple[ImageSet, ImageSet]:
    """(train, val); without val/ a fixed-seed stratified `val_fraction` of train/ is held out.

    With `data.bad_images = "skip"` the files left out are appended to `skipped` as (path, reason).
    """
    if not cfg.root:
        raise DataError('dataset = "imagefolder" needs data.root: a folder with train/<class>/<image files>')
    root = resolve_root(cfg.root)
    try:
        tree = scan_tree(root)
    except OSError as exc:
        raise DataError(f"cannot list {exc.filename or root}: {exc.strerror or exc}") from exc
    problems = tree_problems(root, tree)
    if problems:
        more = f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})" if len(problems) > 1 else ""
        raise DataError(problems[0] + more)
    classes = tuple(tree["train"])
    train = _load_split(root, "train", tree, classes, cfg, progress, skipped)
    if "val" in tree:
        return train, _load_split(root, "val", tree, classes, cfg, progress, skipped)
    train_idx, val_idx = stratified_split(train.labels, cfg.val_fraction)
    return train.take(train_idx), train.take(val_idx)
