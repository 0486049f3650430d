"""Fast layout checks for `tui-trainer --check`: folders and file names only, no decoding and no
torch import."""

from __future__ import annotations

from ..config.schema import DataConfig
from .cifar_layout import ARCHIVE, cifar_root, is_extracted, missing_message
from .folder import scan_tree, tree_problems
from .paths import resolve_root


def check_data_layout(cfg: DataConfig) -> list[str]:
    """Problems that would stop `load_data`, found without opening any image (empty = looks fine).

    Synthetic data has none; CIFAR-10 is only checked when it may not be downloaded.
    """
    if cfg.dataset == "synthetic":
        return []
    if cfg.dataset == "cifar10":
        root = cifar_root(cfg)
        if cfg.download or is_extracted(root) or (root / ARCHIVE).is_file():
            return []
        return [missing_message(root)]
    if not cfg.root:
        return ['dataset = "imagefolder" needs data.root: a folder with train/<class>/<image files>']
    root = resolve_root(cfg.root)
    try:
        tree = scan_tree(root)
    except OSError as exc:
        return [f"cannot list {exc.filename or root}: {exc.strerror or exc}"]
    return tree_problems(root, tree)
