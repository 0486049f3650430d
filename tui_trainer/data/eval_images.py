"""Images a trained model is scored on or asked about: a labelled folder for `--eval`, loose files
for `--predict`. Both are read as training read its validation images: decoded at the stored size,
then centre-cropped to the image size.

A labelled folder goes through the data cache like a training split (decoded once, in parallel,
into a mapped file that scoring streams from when it does not fit), so a test set of any size is
scored in bounded memory.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from ..config.schema import DataConfig
from ..text import short_path
from .cache import cached_files
from .decode import Progress
from .errors import DataError
from .folder import _names, class_images, is_image_name
from .imageset import ImageSet
from .listing import Listing
from .member import Member
from .views import decode_for_validation, store_size


def decode_like_validation(
    paths: Sequence[Path | str], data: DataConfig, progress: Progress | None = None, stage: str = "decode"
) -> torch.Tensor:
    """Image files as uint8 [N, 3, S, S] (S = data.image_size), read exactly as training's
    validation images: decoded at the cache's stored size, then centre-cropped (data.views).

    The one place outside training that turns files into model inputs (evaluation, prediction,
    export checks); a file that cannot be read raises DataError naming it.
    """
    return decode_for_validation(paths, data, progress, stage=stage)


@dataclass(frozen=True, eq=False)
class LabelledImages:
    """A decoded labelled folder: the images (at the stored size: crop them with `validation_view`)
    in the run's class order, and the file behind each."""

    data: ImageSet
    paths: tuple[Path | Member, ...]  # a member of a shard or a parquet file names itself when printed
    folder: Path


def eval_folder(path: Path) -> Path:
    """The labelled folder `--eval --data PATH` means: PATH/test/ of a dataset root, else PATH itself."""
    path = Path(path)
    shown = short_path(path)
    if not path.is_dir():
        raise DataError(f"{shown} is not a folder (expected <class>/<image files>, or a dataset root with test/)")
    if (path / "test").is_dir():
        return path / "test"
    if (path / "train").is_dir():
        raise DataError(
            f"{shown} is a dataset root without a test/ folder: give {short_path(path / 'val')} to score the "
            "validation images"
        )
    return path


def class_files(folder: Path) -> dict[str, list[str]]:
    """class name -> sorted image paths under `folder/<class>/`, sub-folders included (the layout of a
    train/ split)."""
    try:
        with os.scandir(folder) as entries:
            classes = sorted(e.name for e in entries if not e.name.startswith(".") and e.is_dir())
        out = {cls: class_images(folder / cls) for cls in classes}
    except OSError as exc:
        raise DataError(f"cannot list {short_path(exc.filename or folder)}: {exc.strerror or exc}") from exc
    return out


def load_labelled_folder(
    folder: Path, classes: Sequence[str], data: DataConfig, progress: Progress | None = None
) -> LabelledImages:
    """`folder/<class>/<images>` with exactly the run's `classes`, labelled in the run's class order.

    A class folder the run does not know, a class of the run without a folder (or without images),
    or no class folders at all raise DataError naming them.
    """
    folder = Path(folder)
    found = {cls: files for cls, files in class_files(folder).items() if files}
    if not found:
        raise DataError(f"{short_path(folder)} has no class folders with images (expected <class>/<image files>)")
    unknown = sorted(set(found) - set(classes))
    missing = [cls for cls in classes if cls not in found]
    problems = []
    if unknown:
        problems.append(f"class folders the run does not know: {_names(unknown)}")
    if missing:
        problems.append(f"no images for the run's classes: {_names(missing)}")
    if problems:
        raise DataError(f"{short_path(folder)}: {'; '.join(problems)} (the run's classes: {_names(list(classes), 20)})")
    paths: list[Path] = []
    labels: list[int] = []
    for index, cls in enumerate(classes):
        paths += [folder / cls / name for name in found[cls]]
        labels += [index] * len(found[cls])
    source = str(folder.resolve())
    return _labelled(paths, labels, classes, folder, ["labelled folder", source], folder.name, data, progress)


def load_labelled_split(
    listing: Listing, split: str, classes: Sequence[str], data: DataConfig, progress: Progress | None = None
) -> LabelledImages:
    """A listed dataset's split (a CSV list's test rows) labelled in the run's class order: the
    dataset's classes must still be the run's, else DataError naming both."""
    if listing.classes != tuple(classes):
        raise DataError(
            f"the run's data now has classes {list(listing.classes)}, its checkpoint {list(classes)}: "
            "pass --data with a folder of the checkpoint's classes"
        )
    chosen = listing.splits[split]
    slot = ["labelled list", listing.kind, chosen.source]
    return _labelled(list(chosen.paths), list(chosen.labels), classes, chosen.base, slot, split, data, progress)


def _labelled(
    paths: Sequence[Path | Member],
    labels: list[int],
    classes: Sequence[str],
    base: Path,
    source: list[str],
    name: str,
    data: DataConfig,
    progress: Progress | None,
) -> LabelledImages:
    size = store_size(data)
    slot = [*source, str(size), *classes]  # the class order sets the labels
    label_tensor = torch.tensor(labels, dtype=torch.int64)
    images = cached_files(
        slot, paths, base, size, label_tensor, tuple(classes), name, data.cache, progress, data.resize
    )
    return LabelledImages(images, tuple(paths), base)


def collect_files(paths: Iterable[Path | str]) -> tuple[list[Path], list[str]]:
    """(files to predict, problems): given files as they are, folders walked recursively in sorted
    order (hidden entries skipped); a path that does not exist, or a non-image file, is a problem."""
    files: list[Path] = []
    problems: list[str] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            for folder, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(names):
                    if name.startswith("."):
                        continue
                    file = Path(folder) / name
                    if not file.is_file():  # a FIFO, a socket or a device: opening it could block for ever
                        problems.append(f"{file}: not a regular file (skipped)")
                    elif is_image_name(name):
                        files.append(file)
                    else:
                        problems.append(f"{file}: not an image file (skipped)")
        elif path.is_file():
            if is_image_name(path.name):
                files.append(path)
            else:
                problems.append(f"{path}: not an image file (skipped)")
        elif path.exists():
            problems.append(f"{path}: not a regular file (skipped)")
        else:
            problems.append(f"{path}: no such file or folder")
    return files, problems
