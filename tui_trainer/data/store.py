"""The data cache's file format: one memory-mappable `.npy` of uint8 images [N, C, H, W] per entry,
beside a small `.json` record (format, fingerprint, shape, labels, class names).

The record is the commit mark. A rebuild removes it first, decodes into a temporary file, flushes
and fsyncs that, renames it into place and only then writes the record (atomically). A kill at any
moment therefore leaves either a complete entry or one without a record, which is rebuilt; an
entry whose images file does not match its record (size, shape, dtype, labels out of range) is
rebuilt too, never trained on. Reading maps the file, read-only and shared: nothing is loaded until a
row is touched, and a file larger than the machine's memory maps as well as a small one.

The fingerprint trusts each source file's size and mtime: a file changed in place with both kept
is not detected (set `data.cache = false` to decode every start). Nor are pixels of the entry's own
`.npy` changed in place with its header and size kept: checking them would mean reading the whole
entry at every start, which is what the cache is there to avoid.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..atomic import atomic_write_text
from ..process import process_alive
from .errors import DataError
from .imageset import DiskRows, ImageSet
from .paths import CACHE_ENV

FORMAT_VERSION = 3
"""Bump when the decoding or the layout changes, so old entries are rebuilt (3: EXIF orientation applied)."""

HEADER_ALLOWANCE = 1 << 16
"""Bytes beyond the pixels an entry may take on disk (npy header, record), for the space check."""


class CacheSpaceError(DataError):
    """Not enough free disk for a cache entry: a usage problem (exit 2), found before any decoding."""


class CacheFileGone(DataError):
    """A cache entry's file was removed (or cut short) while a run streamed from it: the data is fine,
    the run only has to start again, which rebuilds the entry."""


@dataclass(frozen=True)
class Entry:
    """The two files of one cache entry."""

    images: Path
    record: Path

    @classmethod
    def at(cls, folder: Path, key: str) -> Entry:
        return cls(folder / f"{key}.npy", folder / f"{key}.json")

    @property
    def lock(self) -> Path:
        """Held by the one process that builds the entry (entry_lock.py)."""
        return self.images.with_suffix(".lock")


def free_bytes(folder: Path) -> int:
    """Free space on the disk holding `folder` (tests replace this to fake a full disk)."""
    return shutil.disk_usage(folder).free


def _gib(n: float) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**28 else f"{n / 2**20:.1f} MiB"


def check_space(entry: Entry, needed: int) -> None:
    """Raise CacheSpaceError, naming the figure, the folder and TUI_TRAINER_CACHE, when the entry will not fit."""
    folder = entry.images.parent
    folder.mkdir(parents=True, exist_ok=True)
    reclaimable = entry.images.stat().st_size if entry.images.exists() else 0  # replaced by the rebuild
    free = free_bytes(folder) + reclaimable
    if needed > free:
        raise CacheSpaceError(
            f"the decoded-image cache needs {_gib(needed)} in {folder}, but only {_gib(free)} is free there: "
            f"free some space, or point the {CACHE_ENV} environment variable at a folder on a larger disk"
        )


def _remove_stale_temporaries(entry: Entry) -> None:
    """Temporary images files of this entry left by killed builds (their pid is gone)."""
    for tmp in entry.images.parent.glob(f".{entry.images.name}.*.tmp"):
        try:
            pid = int(tmp.name.rsplit(".", 2)[-2])
        except ValueError:
            continue
        if pid != os.getpid() and not process_alive(pid):
            with contextlib.suppress(OSError):
                tmp.unlink()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_entry(
    entry: Entry,
    fingerprint: str,
    shape: tuple[int, int, int, int],
    labels: torch.Tensor,
    classes: Sequence[str],
    fill: Callable[[torch.Tensor, DiskRows | None], None],
    source: str,
) -> None:
    """Create the entry: `fill(out, disk)` writes the uint8 images into `out`, a tensor over the mapped
    file whose rows lie in the file as `disk` says (so workers may write the file directly).

    Raises CacheSpaceError before any work when the disk is too small; other OSErrors propagate.
    """
    needed = int(np.prod(shape)) + HEADER_ALLOWANCE + 24 * len(labels)
    check_space(entry, needed)
    _remove_stale_temporaries(entry)
    entry.record.unlink(missing_ok=True)  # from here on the old entry is gone, whatever happens
    tmp = entry.images.with_name(f".{entry.images.name}.{os.getpid()}.tmp")
    try:
        mapped = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
        fill(torch.from_numpy(mapped), DiskRows(tmp, int(mapped.offset)))
        mapped.flush()
        del mapped
        _fsync(tmp)
        os.replace(tmp, entry.images)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    record = {
        "format": FORMAT_VERSION,
        "fingerprint": fingerprint,
        "source": source,
        "shape": list(shape),
        "dtype": "uint8",
        "classes": list(classes),
        "labels": labels.tolist(),
    }
    atomic_write_text(entry.record, json.dumps(record, separators=(",", ":")))


def _mismatch(record: dict, fingerprint: str) -> str:
    """Why a record cannot be used ("" = usable)."""
    if record.get("format") != FORMAT_VERSION:
        return "old format"
    if record.get("fingerprint") != fingerprint:
        return "source changed"
    shape, labels, classes = record.get("shape"), record.get("labels"), record.get("classes")
    if not (isinstance(shape, list) and len(shape) == 4 and all(isinstance(v, int) and v >= 0 for v in shape)):
        return "bad shape"
    if not (isinstance(classes, list) and classes and all(isinstance(c, str) for c in classes)):
        return "bad class names"
    if not (isinstance(labels, list) and len(labels) == shape[0]):
        return "label count differs from the image count"
    if record.get("dtype") != "uint8":
        return "bad dtype"
    return ""


def open_entry(entry: Entry, fingerprint: str) -> ImageSet | None:
    """The entry as an ImageSet over the mapped file, or None when it is missing, stale or damaged."""
    try:
        record = json.loads(entry.record.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        warnings.warn(f"ignoring unreadable data cache record {entry.record}: {exc}", stacklevel=3)
        return None
    if not isinstance(record, dict):
        return None
    why = _mismatch(record, fingerprint)
    if why in ("old format", "source changed"):
        return None
    shape = tuple(record["shape"]) if not why else ()
    try:
        if why:
            raise ValueError(why)
        # Read-only and shared: a copy-on-write mapping ("c") is charged to the kernel's commit limit in
        # full, so a cache larger than RAM + swap failed to open (ENOMEM) under the default overcommit.
        mapped = np.load(entry.images, mmap_mode="r", allow_pickle=False)
        if not isinstance(mapped, np.memmap) or mapped.dtype != np.uint8 or mapped.shape != shape:
            raise ValueError(f"images file holds {getattr(mapped, 'dtype', '?')} {getattr(mapped, 'shape', '?')}")
        if not mapped.flags.c_contiguous:
            raise ValueError("images file is not in C order")
        expected = mapped.offset + mapped.nbytes
        if entry.images.stat().st_size != expected:
            raise ValueError(f"images file is {entry.images.stat().st_size} bytes, expected {expected}")
        labels = torch.tensor(record["labels"], dtype=torch.int64)
        classes = tuple(record["classes"])
        if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= len(classes)):
            raise ValueError(f"labels outside 0..{len(classes) - 1}")
    except (OSError, ValueError, TypeError, EOFError) as exc:  # EOFError: an empty or cut-short header
        warnings.warn(f"rebuilding damaged data cache {entry.images}: {exc or type(exc).__name__}", stacklevel=3)
        return None
    with warnings.catch_warnings():
        # torch warns that it cannot mark the tensor read-only; nothing writes into a set's images.
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        images = torch.from_numpy(mapped)
    return ImageSet(images, labels, classes, disk=DiskRows(entry.images, int(mapped.offset)))
