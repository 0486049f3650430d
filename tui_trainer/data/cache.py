"""On-disk cache of decoded datasets, so a 50,000-image folder is decoded once, not every start.

One entry per source (a folder split, a subset of one, or a CIFAR-10 split) and stored size; its
record holds the fingerprint of the source (file names, sizes, mtimes) it was made from. A changed
source gives a new fingerprint and the entry is rebuilt in place, so stale copies do not pile up.
The file format and its crash safety are in `store.py`.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import torch

from .decode import decode_images
from .entry_lock import building
from .errors import DataError
from .imageset import DiskRows, ImageSet
from .member import Member
from .paths import CACHE_ENV, cache_dir
from .storage import available_ram
from .store import FORMAT_VERSION, Entry, open_entry, write_entry

Progress = Callable[[str, int, int], None]
Fill = Callable[[torch.Tensor, DiskRows | None], None]
"""fill(out, disk) writes the images into `out`; `disk`: where its rows lie in the entry's file, if any."""


def digest(parts: Iterable[str]) -> str:
    """A short stable hash of some strings."""
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        h.update(part.encode("utf-8", "surrogateescape"))
        h.update(b"\0")
    return h.hexdigest()


FINGERPRINT_REPORT_EVERY = 20_000
"""Files between two progress reports while fingerprinting: a million-file folder takes tens of
seconds of `stat` calls at each start, which the user sees counted (and can stop)."""

FINGERPRINT_QUIET_SECONDS = 1.0
"""A check done sooner than this (most folders) is not reported at all."""


def _relative(path: Path, base: Path) -> str:
    """`path` relative to `base`; whole, when a list (data.csv_allow_outside) leads outside it."""
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return path.as_posix()


def file_fingerprint(
    files: Sequence[Path | Member], base: Path, progress: Progress | None = None, stage: str = "check"
) -> str:
    """Hash of each file's path relative to `base`, size and mtime (a member's key, which its listing
    made from the same): changes when any file does."""
    started = time.monotonic()
    reported = False

    def rows() -> Iterable[str]:
        nonlocal reported
        for done, path in enumerate(files):
            due = done and done % FINGERPRINT_REPORT_EVERY == 0
            if progress is not None and due and (reported or time.monotonic() - started >= FINGERPRINT_QUIET_SECONDS):
                progress(stage, done, len(files))
                reported = True
            if isinstance(path, Member):
                yield path.key
                continue
            st = os.stat(path)
            yield f"{_relative(path, base)}|{st.st_size}|{st.st_mtime_ns}"

    fingerprint = digest(rows())
    if reported and progress is not None:
        progress(stage, len(files), len(files))
    return fingerprint


def entry_for(slot: Iterable[str]) -> Entry:
    """The cache entry for a source; `slot` names the source, not its contents."""
    return Entry.at(cache_dir(), digest([f"v{FORMAT_VERSION}", *slot]))


def _drop_old_format(slot: Sequence[str]) -> None:
    """Delete what earlier cache formats kept for this slot (the first format's `.pt` file, a later
    one's entry): it is rebuilt in the current format, and nothing would ever read the old files."""
    old = [cache_dir() / f"{digest(['v1', *slot])}.pt"]
    for version in range(2, FORMAT_VERSION):
        entry = Entry.at(cache_dir(), digest([f"v{version}", *slot]))
        old += [entry.record, entry.images, entry.lock]  # the record first: it is what marks an entry complete
    for path in old:
        with contextlib.suppress(OSError):
            path.unlink()


def _hit(entry: Entry, fingerprint: str, progress: Progress | None, stage: str) -> ImageSet | None:
    """The entry's ImageSet when it holds `fingerprint`'s images (reported as a cache hit), else None."""
    hit = open_entry(entry, fingerprint)
    if hit is not None and progress is not None:
        progress(stage, 1, 1)
    return hit


@contextlib.contextmanager
def _hit_or_build(entry: Entry, fingerprint: str, progress: Progress | None, stage: str) -> Iterator[ImageSet | None]:
    """The entry when it is there; else None, with the entry's build lock held for the block, in which
    the caller builds it. The first process to miss builds; the others wait for the lock (reported
    as a setup stage, which is also how a stop reaches them) and then find the entry it built."""
    hit = _hit(entry, fingerprint, progress, stage)
    if hit is not None:
        yield hit
        return
    name = stage.split(" ", 1)[1] if " " in stage else stage

    def waiting(holder: str) -> None:
        if progress is not None:
            progress(f"wait {name}: another process is decoding it ({holder or 'holder unknown'})", 0, 0)

    with building(entry.lock, waiting):
        yield _hit(entry, fingerprint, progress, stage)


def cached_decode(
    slot: list[str],
    fingerprint: str,
    shape: tuple[int, int, int, int],
    labels: torch.Tensor,
    classes: tuple[str, ...],
    fill: Fill,
    enabled: bool = True,
    progress: Progress | None = None,
    stage: str = "cache",
) -> ImageSet:
    """The cached ImageSet for `slot` if its fingerprint matches; else `fill(out)` decodes the images
    straight into a new mapped entry (or into memory when the cache is off or cannot be written).

    Not enough disk for the entry raises CacheSpaceError before any decoding.
    """
    if enabled:
        entry = entry_for(slot)
        with _hit_or_build(entry, fingerprint, progress, stage) as hit:
            if hit is not None:
                return hit
            _drop_old_format(slot)
            if shape[0] > 0:
                try:
                    write_entry(entry, fingerprint, shape, labels, classes, fill, source=" ".join(slot))
                except OSError as exc:  # a read-only cache must not stop training
                    warnings.warn(f"could not write data cache {entry.images}: {exc}", stacklevel=2)
                else:
                    written = open_entry(entry, fingerprint)
                    if written is not None:
                        return written
    _check_memory_for(shape, enabled)
    images = torch.empty(shape, dtype=torch.uint8)
    fill(images, None)
    return ImageSet(images, labels, classes)


def cached_files(
    slot: list[str],
    paths: Sequence[Path | Member],
    base: Path,
    size: int,
    labels: torch.Tensor,
    classes: tuple[str, ...],
    name: str,
    enabled: bool = True,
    progress: Progress | None = None,
    resize: str = "squash",
) -> ImageSet:
    """Image files under `base`, decoded at `size` (in parallel, straight into the entry's file) and
    cached under `slot`; reported as the stages "decode <name>" and "cache <name>". The fingerprint
    covers the paths relative to `base`, the labels and the class names (a CSV list can relabel a file
    that did not change). `resize` (data.resize) is part of the entry's name, except "squash", which
    entries made before the choice existed hold."""
    try:
        files = file_fingerprint(paths, base, progress, f"check {name}")
    except OSError as exc:
        raise DataError(f"cannot read {exc.filename or base}: {exc.strerror or exc}") from exc
    label_bytes = labels.to(torch.int64).contiguous().numpy().tobytes()
    fingerprint = digest([files, hashlib.blake2b(label_bytes, digest_size=16).hexdigest(), *classes])

    def fill(out: torch.Tensor, disk: DiskRows | None) -> None:
        decode_images(paths, size, progress, stage=f"decode {name}", out=out, disk=disk, resize=resize)

    if resize != "squash":
        if enabled:
            _drop_old_format(slot)  # the first format's entries were squashed, under the plain slot
        slot = [*slot, f"resize {resize}"]

    shape = (len(paths), 3, size, size)
    return cached_decode(slot, fingerprint, shape, labels, classes, fill, enabled, progress, f"cache {name}")


def _check_memory_for(shape: tuple[int, ...], cache_enabled: bool) -> None:
    """Before decoding into memory (the cache off, or unusable): a DataError naming the figures when
    the images cannot fit, instead of an allocation failure or the OOM killer half-way through."""
    needed = math.prod(shape)
    room, what = available_ram()
    if needed > room:
        why = "could not be used (see the warning above)" if cache_enabled else "is off (data.cache = false)"
        raise DataError(
            f"the decoded images take {needed / 2**30:.2f} GiB, more than the {room / 2**30:.2f} GiB of {what}; "
            f"a set that large streams from the data cache, which {why}: turn data.cache on and point the "
            f"{CACHE_ENV} environment variable at a writable folder with that much free disk"
        )


def cached(
    slot: list[str],
    fingerprint: str,
    build: Callable[[], ImageSet],
    enabled: bool = True,
    progress: Progress | None = None,
    stage: str = "cache",
) -> ImageSet:
    """Like `cached_decode` for sources that are built whole in memory first (CIFAR-10's arrays)."""
    if not enabled:
        return build()
    entry = entry_for(slot)
    with _hit_or_build(entry, fingerprint, progress, stage) as hit:
        return hit if hit is not None else _build_entry(entry, slot, fingerprint, build)


def _build_entry(entry: Entry, slot: list[str], fingerprint: str, build: Callable[[], ImageSet]) -> ImageSet:
    """`cached`'s miss: build the set in memory and write it as the entry (kept in memory if it cannot be)."""
    data = build()
    if len(data) == 0:
        return data
    _drop_old_format(slot)
    n, channels, height, width = data.images.shape
    shape = (n, channels, height, width)
    try:

        def fill(out: torch.Tensor, _disk: DiskRows | None) -> None:
            out.copy_(data.images)

        write_entry(entry, fingerprint, shape, data.labels, data.classes, fill, source=" ".join(slot))
    except OSError as exc:
        warnings.warn(f"could not write data cache {entry.images}: {exc}", stacklevel=3)
        return data
    return open_entry(entry, fingerprint) or data
