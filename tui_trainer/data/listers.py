"""Which datasets are lists of image files, and how each is listed: one row per kind.

A lister reads the preset's [data] table and returns a `Listing`, or raises LayoutError naming
every problem; it opens no image and imports no torch, so `--check` uses it as the loader does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from ..config.schema import DataConfig
from .csv_list import list_csv
from .folder import list_folder
from .hf_dataset import list_hf
from .listing import Listing
from .shards import list_shards

LISTERS: dict[str, Callable[[DataConfig], Listing]] = {
    "imagefolder": list_folder,
    "csv": list_csv,
    "shards": list_shards,
    "hf": list_hf,
}
"""Dataset name (config.choices.DATASETS) -> lister, for the datasets read from files on disk."""


def list_files(cfg: DataConfig) -> Listing | None:
    """The dataset's file lists, or None for a dataset that is not read from listed files; with
    `data.review` set, as the review file changes them (its summary in the listing's notes)."""
    lister = LISTERS.get(cfg.dataset)
    if lister is None:
        return None
    listing = lister(cfg)
    if not cfg.review:
        return listing
    from .review_file import apply_review

    listing, outcome = apply_review(listing, cfg)
    return replace(listing, notes=(outcome.summary(), *outcome.problems))
