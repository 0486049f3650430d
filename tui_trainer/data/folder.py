"""The image-folder layout `root/train/<class>/*`, `root/val/<class>/*` (and an optional held-out
`root/test/<class>/*`): listing and checking it.

A class folder is read recursively (`cat/indoor/x.jpg` is a cat), as torchvision's ImageFolder
does; hidden files and folders (".DS_Store", ".thumbnails/") are skipped at every depth, hidden
class folders included, so a class index can differ from torchvision's when a hidden class
folder exists. Listing reads directory entries only (no image is opened), so `--check` stays fast
and the loader and the check report the same problems in the same words.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from ..config.choices import ROOT_NEEDED
from ..config.schema import DataConfig
from .listing import FileSplit, LayoutError, Listing
from .paths import missing_root_message, resolve_root

SPLITS = ("train", "val", "test")
"""`test/` is never trained or validated on: `tui-trainer --eval` scores a run on it."""

Tree = dict[str, dict[str, list[str]]]
"""split name -> class name -> sorted image paths relative to the class folder ("sub/x.jpg");
only the splits that exist."""


@lru_cache(maxsize=1)
def image_extensions() -> frozenset[str]:
    """Every file extension Pillow can open (".jpg", ".png", ".webp", ...), lower case.

    Not every extension Pillow knows: some formats it only writes (".pdf", ".palm", ".xv"), and a
    `notes.pdf` beside the images is not an image that fails to decode."""
    from PIL import Image

    return frozenset(ext.lower() for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN)


def is_image_name(name: str) -> bool:
    """Visible files whose extension Pillow reads; hidden files (".DS_Store", "._x.jpg") are skipped."""
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in image_extensions()


def _subdirs(folder: Path) -> list[str]:
    with os.scandir(folder) as entries:
        return sorted(e.name for e in entries if not e.name.startswith(".") and e.is_dir())


def class_images(folder: Path) -> list[str]:
    """The image files under a class folder, at any depth, as sorted relative POSIX paths; hidden
    entries are skipped, and a symlinked sub-folder is not entered (a link back up would never end).
    Raises OSError when a folder cannot be listed."""

    def walk(folder: Path, prefix: str) -> list[str]:
        names: list[str] = []
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    names += walk(folder / entry.name, f"{prefix}{entry.name}/")
                elif is_image_name(entry.name) and entry.is_file():
                    names.append(prefix + entry.name)
        return names

    return sorted(walk(folder, ""))


def scan_tree(root: Path) -> Tree:
    """List the splits, class folders and image files under `root` (empty dict if no root)."""
    tree: Tree = {}
    for split in SPLITS:
        split_dir = root / split
        if split_dir.is_dir():
            tree[split] = {cls: class_images(split_dir / cls) for cls in _subdirs(split_dir)}
    return tree


def _names(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def tree_problems(root: Path, tree: Tree) -> list[str]:
    """Everything wrong with the layout, one sentence each, naming the folder to fix."""
    if not root.exists():
        return [missing_root_message(root)]
    if not root.is_dir():
        return [f"data root {root} is not a folder"]
    if "train" not in tree:
        return [f"{root} has no train/ folder (expected train/<class>/<image files>)"]
    problems: list[str] = []
    for split, classes in tree.items():
        if not classes:
            problems.append(f"{root / split} has no class folders (expected {split}/<class>/<image files>)")
        elif split == "train" and len(classes) == 1:
            problems.append(
                f"{root / split} has one class folder ({next(iter(classes))}): a classifier needs two or more"
            )
        problems += [f"class folder {root / split / cls} has no images" for cls, files in classes.items() if not files]
    train = {cls for cls, files in tree["train"].items() if files}
    for split in ("val", "test"):
        if not tree.get(split):
            continue
        # Empty folders are reported above; comparing them again would only repeat that.
        other = {cls for cls, files in tree[split].items() if files}
        if train != other:
            parts = []
            if train - other:
                parts.append(f"missing from {split}/: {_names(sorted(train - other))}")
            if other - train:
                parts.append(f"missing from train/: {_names(sorted(other - train))}")
            problems.append(f"train/ and {split}/ in {root} have different class folders ({'; '.join(parts)})")
    return problems


def list_folder(cfg: DataConfig) -> Listing:
    """The image folder `cfg.root` as file lists; LayoutError names every problem of its layout."""
    if not cfg.root:
        raise LayoutError([f'dataset = "imagefolder" needs data.root: {ROOT_NEEDED["imagefolder"]}'])
    root = resolve_root(cfg.root)
    try:
        tree = scan_tree(root)
    except OSError as exc:
        raise LayoutError([f"cannot list {exc.filename or root}: {exc.strerror or exc}"]) from exc
    problems = tree_problems(root, tree)
    if problems:
        raise LayoutError(problems)
    classes = tuple(tree["train"])
    splits = {}
    for split, folders in tree.items():
        paths = [root / split / cls / name for cls in classes for name in folders[cls]]
        labels = [index for index, cls in enumerate(classes) for _ in folders[cls]]
        splits[split] = FileSplit(split, str(root / split), root / split, tuple(paths), tuple(labels))
    return Listing("imagefolder", classes, splits)
