"""Streaming batches from the cache file: rows read in a background thread, a few batches ahead.

Each batch's rows are read in file order (the batch's indices sorted, consecutive rows merged into
one `preadv` that scatters them straight into their places in the batch buffer), into reused
buffers that are pinned when the device is CUDA, so the copy to the device is asynchronous and
overlaps the previous batch's compute. Reading with `preadv` rather than through the mapping keeps
the file's pages in the page cache, not in this process: memory stays a few batches, whatever the
size of the set.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Generator, Sequence

import numpy as np
import torch

from .imageset import ImageSet
from .store import CacheFileGone

PREFETCH = 3
"""Batches read ahead of the one being trained on, at most."""

READ_AHEAD_BYTES = 256 << 20
"""Bytes of rows read ahead, beyond which fewer batches are (never fewer than one): at 736 px, 128
rows are 208 MB a batch, and four such buffers held 832 MB to hide reads that take a fifth of a
batch's compute."""


def read_ahead(batch_bytes: int) -> int:
    """Batches to read ahead for batches of `batch_bytes` bytes: PREFETCH within READ_AHEAD_BYTES."""
    return max(1, min(PREFETCH, READ_AHEAD_BYTES // max(1, batch_bytes)))


IOV_MAX = 512
"""Buffers per preadv call (POSIX guarantees at least 16, Linux allows 1024)."""


class RowReader:
    """Gathers rows of an ImageSet into a CPU buffer: from its cache file, or from memory."""

    def __init__(self, data: ImageSet) -> None:
        self.data = data
        self.row_bytes = data.images[0].numel() if len(data) else 0
        self._fd: int | None = None
        if data.disk is not None:
            try:
                self._fd = os.open(data.disk.path, os.O_RDONLY)
            except FileNotFoundError:
                raise CacheFileGone(f"data cache file {data.disk.path} was removed while the run read it") from None
            self._offset = data.disk.offset

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def read(self, rows: np.ndarray, out: torch.Tensor) -> None:
        """out[j] = row rows[j] for every j (`out` is uint8 [len(rows), C, H, W], contiguous, on the CPU)."""
        if self._fd is None:
            torch.index_select(
                self.data.images, 0, torch.from_numpy(np.ascontiguousarray(rows, dtype=np.int64)), out=out
            )
            return
        flat = out.numpy().reshape(len(rows), self.row_bytes)
        order = np.argsort(rows, kind="stable")
        sorted_rows = rows[order]
        starts = np.flatnonzero(np.diff(sorted_rows) != 1) + 1
        for run in np.split(np.arange(len(rows)), starts):
            for lo in range(0, len(run), IOV_MAX):
                part = run[lo : lo + IOV_MAX]
                views = [memoryview(flat[order[k]]) for k in part]
                self._read_into(views, self._offset + int(sorted_rows[part[0]]) * self.row_bytes)

    def _read_into(self, views: list[memoryview], offset: int) -> None:
        assert self._fd is not None
        while views:
            got = os.preadv(self._fd, views, offset)
            if got <= 0:
                raise CacheFileGone(
                    f"data cache file {self.data.disk.path if self.data.disk else ''} was cut short while the run "
                    "read it (it is shorter than its record)"
                )
            offset += got
            while views and got >= len(views[0]):
                got -= len(views[0])
                views.pop(0)
            if got:
                views[0] = views[0][got:]


def stream_rows(
    data: ImageSet, batches: Sequence[np.ndarray], device: torch.device, prefetch: int | None = None
) -> Generator[torch.Tensor, None, None]:
    """uint8 images [len(rows), C, H, W] on `device` for each array of row indices in `batches`.

    `prefetch`: batches read ahead (default: `read_ahead` of the largest batch's size).

    On the CPU the yielded tensor is a reused buffer, valid until the next one is requested.
    """
    if not batches:
        return
    reader = RowReader(data)
    pin = device.type == "cuda"
    largest = max(len(rows) for rows in batches)
    shape = (largest, *data.images.shape[1:])
    if prefetch is None:
        prefetch = read_ahead(largest * reader.row_bytes)
    free: queue.Queue = queue.Queue()
    for _ in range(prefetch + 1):
        free.put((torch.empty(shape, dtype=torch.uint8, pin_memory=pin), None))
    ready: queue.Queue = queue.Queue()
    stop = threading.Event()

    def produce() -> None:
        try:
            for rows in batches:
                while True:
                    try:
                        buffer, copied = free.get(timeout=0.1)
                        break
                    except queue.Empty:
                        if stop.is_set():
                            return
                if stop.is_set():
                    return
                if copied is not None:
                    copied.synchronize()  # its copy to the device has finished: safe to overwrite
                view = buffer[: len(rows)]
                reader.read(rows, view)
                ready.put((buffer, view))
            ready.put(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            ready.put(exc)

    def take() -> tuple[torch.Tensor, torch.Tensor] | None:
        item = ready.get()
        if isinstance(item, BaseException):
            raise item
        return item

    thread = threading.Thread(target=produce, name="tui-trainer-stream", daemon=True)
    thread.start()
    try:
        if not pin:
            while (item := take()) is not None:
                buffer, view = item
                yield view
                free.put((buffer, None))
            return
        copy_stream = torch.cuda.Stream(device)

        def upload(item: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.cuda.Event, torch.Tensor]:
            buffer, view = item
            with torch.cuda.stream(copy_stream):
                on_device = view.to(device, non_blocking=True)
                done = torch.cuda.Event()
                done.record(copy_stream)
            return on_device, done, buffer

        item = take()
        following = upload(item) if item is not None else None
        while following is not None:
            on_device, done, buffer = following
            item = take()
            following = upload(item) if item is not None else None  # issued before this batch's compute
            current = torch.cuda.current_stream(device)
            current.wait_event(done)
            on_device.record_stream(current)
            free.put((buffer, done))
            yield on_device
    finally:
        stop.set()
        thread.join()
        reader.close()
