"""How many images each class has in each split, for `tui-trainer --check`: from file names and the
preset alone (no image is decoded and torch is not imported), so a skewed set is seen before a run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from ..config.schema import DataConfig
from .listers import LISTERS, list_files

Counts = dict[str, dict[str, int]]
"""split ("train", "val", "test") -> class name -> images, classes in label order."""

IMBALANCE_RATIO = 10.0
"""`--check` warns when a split's largest class has more than this many times the images of its smallest."""


def held_out(count: int, fraction: float) -> int:
    """Images of a class of `count` that a split without val/ holds out for validation: round(count x
    fraction), at least one of a class with two or more, never all of them (`subsets.stratified_split`)."""
    if count < 2:
        return 0
    return min(max(1, round(count * fraction)), count - 1)


def _listed(cfg: DataConfig) -> Counts:
    """An image folder's or a CSV list's counts, from its listing (the labels the run would read)."""
    listing = list_files(cfg)
    assert listing is not None  # only called for the datasets of LISTERS
    counts: Counts = {}
    for name in ("train", "val", "test"):
        split = listing.splits.get(name)
        if split is not None:
            per_label = Counter(split.labels)
            counts[name] = {cls: per_label.get(index, 0) for index, cls in enumerate(listing.classes)}
    if "val" not in counts and counts.get("train"):
        train = counts["train"]
        counts["val"] = {cls: held_out(n, cfg.val_fraction) for cls, n in train.items()}
        counts["train"] = {cls: n - counts["val"][cls] for cls, n in train.items()}
    return counts


COUNTERS: dict[str, Callable[[DataConfig], Counts]] = dict.fromkeys(LISTERS, _listed)
"""Dataset name -> its class counts from the files alone. CIFAR-10 (5000 train and 1000 test images
per class) and the synthetic shapes (dealt out evenly) are balanced by construction."""


def class_counts(cfg: DataConfig) -> Counts | None:
    """The images per class of each split (before train_limit / val_limit, which keep the proportions);
    None when the dataset's counts are not known without loading it."""
    counter = COUNTERS.get(cfg.dataset)
    return counter(cfg) if counter is not None else None


def count_lines(counts: Counts, name: Callable[[str], str] = str) -> list[str]:
    """One line per split: "train: 1234 images in 3 classes: cat 1000, dog 200, fox 34"."""
    lines = []
    for split, per_class in counts.items():
        shown = ", ".join(f"{name(cls)} {n}" for cls, n in list(per_class.items())[:30])
        more = f", and {len(per_class) - 30} more" if len(per_class) > 30 else ""
        total = sum(per_class.values())
        lines.append(f"{split}: {total} images in {len(per_class)} classes: {shown}{more}")
    return lines


def imbalance_warnings(counts: Counts, name: Callable[[str], str] = str) -> list[str]:
    """A sentence for each split whose largest class has over IMBALANCE_RATIO times its smallest's images."""
    warnings = []
    for split, per_class in counts.items():
        present = {cls: n for cls, n in per_class.items() if n > 0}
        if len(present) < 2:
            continue
        large = max(present, key=present.__getitem__)
        small = min(present, key=present.__getitem__)
        ratio = present[large] / present[small]
        if ratio > IMBALANCE_RATIO:
            warnings.append(
                f"{split} is imbalanced: {name(large)} has {present[large]} images, {name(small)} {present[small]} "
                f"({ratio:.0f}:1, over {IMBALANCE_RATIO:.0f}:1)"
                + (
                    '; consider loss.class_weights = "balanced", data.sampler = "balanced" or loss.name = "focal", '
                    'and train.best_metric = "macro_f1"'
                    if split == "train"
                    else ""
                )
            )
    return warnings
