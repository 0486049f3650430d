"""Which datasets are lists of image files, and how each is listed: one row per kind.

A lister reads the preset's [data] table and returns a `Listing`, or raises LayoutError naming
every problem; it opens no image and imports no torch, so `--check` uses it as the loader does.
"""

from __future__ import annotations

from collections.abc import Callable

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
    """The dataset's file lists, or None for a dataset that is not read from listed files."""
    lister = LISTERS.get(cfg.dataset)
    return lister(cfg) if lister is not None else None
