"""On-disk cache of decoded datasets, so a 50,000-image folder is decoded once, not every start.

One file per source (a folder split or a CIFAR-10 split) and image size; inside it the fingerprint of
the source (file names, sizes, mtimes) it was made from. A changed source gives a new fingerprint,
and the entry is rebuilt in place, so stale copies do not pile up.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

import torch

from ..atomic import atomic_write_with
from .imageset import ImageSet
from .paths import cache_dir

FORMAT_VERSION = 1
"""Bump when the decoding changes (resizing, colour conversion), so old entries are rebuilt."""


def digest(parts: Iterable[str]) -> str:
    """A short stable hash of some strings."""
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        h.update(part.encode("utf-8", "surrogateescape"))
        h.update(b"\0")
    return h.hexdigest()


def file_fingerprint(files: Iterable[Path], base: Path) -> str:
    """Hash of each file's path relative to `base`, size and mtime: changes when any file does."""

    def rows() -> Iterable[str]:
        for path in files:
            st = os.stat(path)
            yield f"{path.relative_to(base).as_posix()}|{st.st_size}|{st.st_mtime_ns}"

    return digest(rows())


def entry_path(slot: Iterable[str]) -> Path:
    """The cache file for a source; `slot` names the source, not its contents."""
    return cache_dir() / f"{digest([f'v{FORMAT_VERSION}', *slot])}.pt"


def _load(path: Path, fingerprint: str) -> ImageSet | None:
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        return None
    except Exception as exc:  # noqa: BLE001 - a truncated or foreign file is rebuilt, never trusted
        warnings.warn(f"ignoring unreadable data cache {path}: {exc}", stacklevel=3)
        return None
    try:
        if blob.get("format") != FORMAT_VERSION or blob.get("fingerprint") != fingerprint:
            return None
        return ImageSet(blob["images"], blob["labels"], tuple(blob["classes"]))
    except (AttributeError, KeyError, TypeError, ValueError):
        return None


def _store(path: Path, fingerprint: str, data: ImageSet, source: str) -> None:
    blob = {
        "format": FORMAT_VERSION,
        "fingerprint": fingerprint,
        "source": source,
        "images": data.images.contiguous(),
        "labels": data.labels,
        "classes": list(data.classes),
    }
    try:
        atomic_write_with(path, lambda handle: torch.save(blob, handle))
    except OSError as exc:  # a read-only cache must not stop training
        warnings.warn(f"could not write data cache {path}: {exc}", stacklevel=3)


def cached(
    slot: list[str],
    fingerprint: str,
    build: Callable[[], ImageSet],
    enabled: bool = True,
    progress: Callable[[str, int, int], None] | None = None,
    stage: str = "cache",
) -> ImageSet:
    """The cached ImageSet for `slot` if its fingerprint matches, else `build()` (and store it)."""
    if not enabled:
        return build()
    path = entry_path(slot)
    hit = _load(path, fingerprint)
    if hit is not None:
        if progress is not None:
            progress(stage, 1, 1)
        return hit
    data = build()
    _store(path, fingerprint, data, source=" ".join(slot))
    return data
