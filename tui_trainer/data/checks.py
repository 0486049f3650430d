"""Fast layout checks for `tui-trainer --check`: folders and file names only, no decoding and no
torch import."""

from __future__ import annotations

from ..config.schema import DataConfig
from .cifar_layout import ARCHIVE, cifar_root, is_extracted, missing_message
from .listers import list_files
from .listing import LayoutError


def check_data_layout(cfg: DataConfig, notes: list[str] | None = None) -> list[str]:
    """Problems that would stop `load_data`, found without opening any image (empty = looks fine).

    Synthetic data has none; CIFAR-10 is only checked when it may not be downloaded. `notes`
    receives what `data.review` changed and the entries it could not apply.
    """
    if cfg.dataset == "synthetic":
        return []
    if cfg.dataset == "cifar10":
        root = cifar_root(cfg)
        if cfg.download or is_extracted(root) or (root / ARCHIVE).is_file():
            return []
        return [missing_message(root)]
    try:
        listing = list_files(cfg)
    except LayoutError as exc:
        return list(exc.problems)
    if notes is not None and listing is not None:
        notes.extend(listing.notes)
    return []
