"""Decoding image files into one preallocated uint8 tensor, on every core.

Tiny JPEGs cost mostly Python-level work in Pillow, which threads cannot overlap, so on Linux the
files are decoded by forked worker processes (no re-import of torch) in chunks. When the result is a
cache file, each worker writes its chunk into the file itself (`pwrite` at the chunk's rows, seen at
once through the caller's mapping of the same file), so the caller only counts: handing 20,000 images
at 258 px back through a pipe and copying them in made two workers no faster than one. Otherwise each
chunk comes back as one array, already channels-first, and is copied into the result. Either way no
Pillow image outlives its file and peak memory stays near one chunk per worker.
"""

from __future__ import annotations

import io
import itertools
import multiprocessing
import os
import signal
import sys
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from pathlib import Path

import numpy as np
import torch

from ..regular_file import open_binary
from .errors import DataError
from .imageset import DiskRows
from .member import Encoded, Member

Progress = Callable[[str, int, int], None]

Source = str | Encoded
"""What a decode worker reads: an image file's path, or a member's name and bytes (`data.member`)."""

INLINE_BELOW = 2048
"""Fewer files than this are decoded in this process: starting workers would cost more."""

CHUNK_BYTES = 64 * 2**20
"""The most decoded pixels a worker holds at once (one chunk), whatever the stored size."""


_WIDE_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")
"""Pillow's 16-bit, 32-bit integer and float modes: convert("RGB") clips them at 255 instead of scaling."""


def _to_8_bits(image):  # PIL.Image.Image -> PIL.Image.Image (mode "L")
    """A 16-bit, 32-bit or float grey image scaled to 0-255 (16-bit PNGs hold 0-65535, floats 0-1)."""
    from PIL import Image

    values = np.asarray(image, dtype=np.float64)
    if image.mode == "F":
        peak = 1.0 if values.size and np.nanmax(values) <= 1.0 else 255.0
    elif image.mode.startswith("I;16") or (values.size and values.max() > 255):
        peak = 65535.0  # a 16-bit PNG opens as "I" in some Pillow versions
    else:
        peak = 255.0
    scaled = np.nan_to_num(values * (255.0 / peak), nan=0.0)
    return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8))  # 2-D uint8: mode "L"


def square_box(width: int, height: int, resize: str) -> tuple[float, float, float, float] | None:
    """The part of a width x height image that becomes the stored square: the centre square for
    "crop", None (all of it) for "squash"."""
    if resize == "squash" or width == height:
        return None
    side = min(width, height)
    left, top = (width - side) / 2, (height - side) / 2
    return (left, top, left + side, top + side)


ORIENTATION_TAG = 0x0112
"""EXIF Orientation: 1 is upright; 2-8 say how the stored pixels are flipped or turned."""


def upright(image):  # PIL.Image.Image -> PIL.Image.Image
    """The image as it was taken: a phone keeps a portrait photo as landscape pixels plus an EXIF
    orientation tag, which viewers apply and a plain decode does not. Pillow's `exif_transpose`
    (which also copies an upright image) runs only for a tag other than 1."""
    from PIL import ImageOps

    try:
        orientation = image.getexif().get(ORIENTATION_TAG, 1)
    except Exception:  # noqa: BLE001 - a damaged EXIF block must not make a readable image unusable
        return image
    if orientation not in range(2, 9):
        return image
    return ImageOps.exif_transpose(image)


def decode_file(path: Source, size: int, resize: str = "squash") -> np.ndarray:
    """One image (a file, or a member's bytes) as an RGB uint8 array [size, size, 3], turned upright by
    its EXIF orientation, then resized (bilinear) when needed; `resize` ("crop" or "squash", data.resize)
    says what of a non-square image is kept. Training, --eval, --predict and the thumbnails all decode here."""
    if isinstance(path, tuple):
        return _decode_opened(io.BytesIO(path[1]), size, resize)
    # A regular file only: a FIFO among the images would block the open forever, a device never end.
    with open_binary(path, follow_links=True) as handle:
        return _decode_opened(handle, size, resize)


def _decode_opened(handle, size: int, resize: str) -> np.ndarray:  # handle: a binary file object
    from PIL import Image

    with Image.open(handle) as opened:
        image: Image.Image = opened
        if image.size != (size, size):
            image.draft("RGB", (size, size))  # JPEG only: decode at a reduced scale, both sides still >= size
        image = upright(image)
        if image.mode == "P" and "transparency" in image.info:
            image = image.convert("RGBA")
        if image.mode in _WIDE_MODES:
            image = _to_8_bits(image)
        rgb = image.convert("RGB")
    if rgb.size != (size, size):
        width, height = rgb.size
        box = square_box(width, height, resize)
        rgb = rgb.resize((size, size), Image.Resampling.BILINEAR, box=box)  # crop and resize in one pass
    return np.asarray(rgb, dtype=np.uint8)


def source_of(item: Path | str | Member) -> Source:
    """What a worker needs to decode `item`: a file's path, or a member's bytes, read here (a shard is
    read in order by one process; the workers only decode). OSError when a member cannot be read."""
    if isinstance(item, Member):
        return item.name, item.read()
    return os.fspath(item)


def _name(source: Source) -> str:
    return source[0] if isinstance(source, tuple) else source


def decode_chunk(paths: list[Source], size: int, resize: str = "squash") -> tuple[np.ndarray | None, str, str]:
    """Decode several images: (array [n, 3, size, size], "", "") or (None, failing name, reason)."""
    out = np.empty((len(paths), 3, size, size), dtype=np.uint8)
    for i, path in enumerate(paths):
        try:
            out[i] = decode_file(path, size, resize).transpose(2, 0, 1)
        except Exception as exc:  # noqa: BLE001 - Pillow raises many types for a bad file
            return None, _name(path), f"{type(exc).__name__}: {exc}"
    return out, "", ""


def decode_chunk_into(
    paths: list[Source], size: int, disk: DiskRows, start: int, resize: str = "squash"
) -> tuple[int, str, str]:
    """Decode several files into rows start.. of the cache file: (count, "", "") or (0, failing path, reason)."""
    array, bad_path, reason = decode_chunk(paths, size, resize)
    if array is None:
        return 0, bad_path, reason
    data = array.data.cast("B")
    offset = disk.offset + start * array[0].nbytes
    fd = os.open(disk.path, os.O_WRONLY)
    try:
        while data:
            written = os.pwrite(fd, data, offset)
            data, offset = data[written:], offset + written
    finally:
        os.close(fd)
    return len(array), "", ""


def default_workers() -> int:
    """CPU cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def _leave_signals_to_the_caller() -> None:
    """In a forked worker: Ctrl+C (sent to the whole terminal group), SIGTERM and a closed SSH session
    are the caller's to handle; it stops asking for chunks and shuts the pool down. The handlers the
    worker inherited would print the caller's messages a second time, or kill it mid-chunk."""
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)


def _executor(workers: int) -> Executor:
    if sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("fork")
        return ProcessPoolExecutor(workers, mp_context=context, initializer=_leave_signals_to_the_caller)
    return ThreadPoolExecutor(workers)  # spawn would re-import torch in every worker


def decode_images(
    paths: Sequence[Path | str | Member],
    size: int,
    progress: Progress | None = None,
    stage: str = "decode",
    workers: int | None = None,
    out: torch.Tensor | None = None,
    disk: DiskRows | None = None,
    resize: str = "squash",
) -> torch.Tensor:
    """Decode `paths` (files, or members: `data.member`) in order into uint8 [N, 3, size, size]; a bad
    file raises DataError naming it.
    `resize`: what of a non-square image is kept ("crop": the centre square; "squash": all of it).

    `out` (e.g. a tensor over a memory-mapped cache file) receives each chunk as it arrives, so the
    decoded set never has to fit in memory. `disk`: where `out`'s rows lie in that file (shared with
    the mapping), for the workers to write there themselves."""
    n = len(paths)
    if out is None:
        out = torch.empty((n, 3, size, size), dtype=torch.uint8)
    elif tuple(out.shape) != (n, 3, size, size) or out.dtype != torch.uint8:
        raise ValueError(f"out must be uint8 [{n}, 3, {size}, {size}], got {out.dtype} {tuple(out.shape)}")

    def sources(start: int, stop: int) -> list[Source]:
        chunk = []
        for item in paths[start:stop]:
            try:
                chunk.append(source_of(item))
            except OSError as exc:
                raise DataError(f"cannot read image {item}: {exc.strerror or exc}") from exc
        return chunk

    workers = workers or default_workers()
    done = 0

    def place(start: int, result: tuple[np.ndarray | int | None, str, str]) -> None:
        nonlocal done
        array, bad_path, reason = result
        if bad_path or array is None:  # a result without a failing path always carries its images
            raise DataError(f"cannot read image {bad_path}: {reason}")
        if isinstance(array, np.ndarray):
            out[start : start + len(array)] = torch.from_numpy(array)
            array = len(array)
        done += array
        if progress is not None:
            progress(stage, done, n)

    if progress is not None:
        progress(stage, 0, n)
    row_bytes = 3 * size * size
    if workers <= 1 or n < INLINE_BELOW:
        step = max(1, min(256, CHUNK_BYTES // row_bytes))
        for start in range(0, n, step):
            place(start, decode_chunk(sources(start, start + step), size, resize))
        return out

    # Chunks of 64-1024 images (enough to spread over the workers), and never above CHUNK_BYTES:
    # at 736 px 1,024 images are 1.7 GB per worker, and a stop waits for the chunks in hand.
    step = min(max(64, min(1024, n // (workers * 8))), max(1, CHUNK_BYTES // row_bytes))
    starts = iter(range(0, n, step))
    with warnings.catch_warnings():
        # Python 3.12+ warns about fork() in a threaded process; the workers only run Pillow.
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*fork.*")
        pool = _executor(workers)

        def submit(start: int) -> Future:
            chunk = sources(start, start + step)
            if disk is not None and hasattr(os, "pwrite"):
                return pool.submit(decode_chunk_into, chunk, size, disk, start, resize)
            return pool.submit(decode_chunk, chunk, size, resize)

        try:
            # A bounded window of chunks in flight: a finished chunk is dropped as soon as it is
            # copied, so results never pile up beside the output tensor.
            pending: dict[Future, int] = {}
            for start in itertools.islice(starts, 2 * workers):
                pending[submit(start)] = start
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    place(pending.pop(future), future.result())
                    for start in itertools.islice(starts, 1):
                        pending[submit(start)] = start
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    return out
