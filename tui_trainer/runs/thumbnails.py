"""The one reader of the validation thumbnails (`val_images.npy` of a run or an evaluation folder).

The file is uint8 N×H×W×C (C is 1 or 3; N×H×W for grey), one image per validation sample in
validation order. A run folder and an evaluation folder keep it under the same name, so one
thumbnail reader serves both.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format

from ..atomic import atomic_write_with
from ..regular_file import MAX_ARRAY_BYTES, open_binary

FILE_NAME = "val_images.npy"


def thumbnails_file(folder: Path) -> Path:
    """Where a run or evaluation folder keeps its thumbnails."""
    return Path(folder) / FILE_NAME


def open_thumbnails(path: Path, mmap: bool = True) -> np.ndarray:
    """The thumbnail array, memory-mapped read-only unless `mmap` is False (OSError/ValueError when unreadable,
    not a regular file, or larger than MAX_ARRAY_BYTES)."""
    with open_binary(path, MAX_ARRAY_BYTES) as handle:
        if not mmap:
            return np.load(handle, allow_pickle=False)
        version = npy_format.read_magic(handle)
        if version not in ((1, 0), (2, 0)):
            raise ValueError(f"{path}: .npy version {version} is not one tui-trainer writes")
        read_header = npy_format.read_array_header_1_0 if version == (1, 0) else npy_format.read_array_header_2_0
        shape, fortran, dtype = read_header(handle)
        if dtype.hasobject:
            raise ValueError(f"{path}: holds Python objects, not pixels")
        # Mapped from the descriptor that was checked, not by name again (it may have been swapped since).
        return np.memmap(
            handle, dtype=dtype, mode="r", offset=handle.tell(), shape=shape, order="F" if fortran else "C"
        )


def write_thumbnails(path: Path, shape: tuple[int, ...], chunks: Iterable[np.ndarray]) -> None:
    """Write the file (atomically) from uint8 chunks of `shape`'s rows, in order: memory holds one
    chunk, not the set, however many thumbnails a large validation or test set has."""
    header = {"descr": npy_format.dtype_to_descr(np.dtype(np.uint8)), "fortran_order": False, "shape": tuple(shape)}

    def write(handle) -> None:  # IO[bytes]
        npy_format.write_array_header_1_0(handle, header)
        rows = 0
        for chunk in chunks:
            if chunk.dtype != np.uint8 or chunk.shape[1:] != tuple(shape[1:]):
                raise ValueError(f"thumbnail chunk {chunk.dtype} {chunk.shape} does not fit {tuple(shape)}")
            handle.write(np.ascontiguousarray(chunk).data)
            rows += chunk.shape[0]
        if rows != shape[0]:
            raise ValueError(f"{rows} thumbnails written, the header says {shape[0]}")

    atomic_write_with(path, write)


def thumbnail_count(path: Path) -> int:
    """How many images the file holds; 0 when there is none or it cannot be read."""
    try:
        return int(open_thumbnails(path).shape[0])
    except (OSError, ValueError, IndexError):
        return 0


@dataclass
class ValidationImages:
    """A folder's thumbnails, memory-mapped once and reloaded when the file changes.

    `get` returns an N×H×W×C uint8 array (C is 1 or 3) whose N matches the predictions, or None
    with `problem` saying why there are no thumbnails.
    """

    problem: str = ""
    _key: tuple | None = field(default=None, repr=False)
    _array: np.ndarray | None = field(default=None, repr=False)

    def get(self, run_dir: Path | None, expected: int) -> np.ndarray | None:
        if run_dir is None:
            self.problem = "no run folder, so no thumbnails"
            return None
        path = thumbnails_file(Path(run_dir))
        try:
            stat = path.stat()
        except OSError:
            self.problem = f"no thumbnails: {path.name} is not in the run folder"
            return None
        key = (str(path), stat.st_mtime_ns, stat.st_size)
        if key != self._key:
            self._key, self._array = key, None
            try:
                array = open_thumbnails(path)
            except (OSError, ValueError) as error:
                self.problem = f"no thumbnails: {path.name} cannot be read ({error})"
                return None
            if array.ndim == 3:  # N×H×W grey images
                array = array[..., None]
            if array.ndim != 4 or array.shape[-1] not in (1, 3, 4) or array.dtype != np.uint8:
                self.problem = f"no thumbnails: {path.name} is {array.dtype} {array.shape}, not uint8 N×H×W×C"
                return None
            self._array = array
        if self._array is None:
            return None
        if self._array.shape[0] != expected:
            self.problem = f"no thumbnails: {path.name} holds {self._array.shape[0]} images, the predictions {expected}"
            return None
        self.problem = ""
        return self._array
