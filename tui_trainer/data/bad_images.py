"""Image files that cannot be decoded: finding every one of them, and what `data.bad_images` does.

Decoding stops at the first bad file, which would have a user fix one file per run. Here all files
are checked and every bad one is listed with its reason. `bad_images = "error"` (the default)
raises one DataError with that list; `"skip"` leaves the files out and hands the list on, for
the run folder's `bad_images.txt`.

Two depths: `quick=True` (for `--check` and before a skip-mode load) opens each file and lets
Pillow verify its structure, which finds empty, truncated PNGs and non-images without decoding
pixels; a truncated JPEG passes it and is only found by a full decode (`quick=False`).
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

from ..regular_file import UnsafeFile, open_binary
from ..text import printable, source_path
from .errors import DataError
from .member import Member

BadImage = tuple[str, str]
"""(path, reason)"""


def check_image(path: str | Member, size: int = 0, quick: bool = True) -> str:
    """Why `path` (a file, or a member: `data.member`) cannot be used as an image ("" when it can)."""
    if isinstance(path, Member):
        return _check_member(path, size, quick)
    try:
        with open_binary(path, follow_links=True) as handle:  # a FIFO or a device is refused, never opened
            if os.fstat(handle.fileno()).st_size == 0:
                return "empty file (0 bytes)"
    except UnsafeFile as exc:
        return exc.problem
    except OSError as exc:
        return f"cannot read ({exc.strerror or exc})"
    try:
        if quick:
            from PIL import Image

            with open_binary(path, follow_links=True) as handle, Image.open(handle) as image:
                image.verify()
        else:
            from .decode import decode_file

            decode_file(path, size or 8)
    except Exception as exc:  # noqa: BLE001 - Pillow raises many types for a bad file
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return ""


def _check_member(member: Member, size: int, quick: bool) -> str:
    try:
        data = member.read()
    except OSError as exc:
        return f"cannot read ({exc.strerror or exc})"
    if not data:
        return "empty (0 bytes)"
    try:
        if quick:
            from PIL import Image

            with Image.open(io.BytesIO(data)) as image:
                image.verify()
        else:
            from .decode import decode_file

            decode_file((member.name, data), size or 8)
    except Exception as exc:  # noqa: BLE001 - Pillow raises many types for a bad image
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return ""


def find_bad_images(paths: Sequence[Path | str | Member], size: int = 0, quick: bool = True) -> list[BadImage]:
    """Every file or member of `paths` that cannot be decoded, in order, with its reason."""
    bad = []
    for path in paths:
        name = str(path) if isinstance(path, Member) else os.fspath(path)
        reason = check_image(path if isinstance(path, Member) else name, size, quick)
        if reason:
            bad.append((name, reason))
    return bad


def bad_images_message(bad: Sequence[BadImage]) -> str:
    """One message listing every bad file, for a DataError or `--check`."""
    lines = [f"{len(bad)} image file{'s' if len(bad) != 1 else ''} cannot be decoded:"]
    lines += [f"  {printable(source_path(path))}: {printable(reason)}" for path, reason in bad]
    lines.append('fix or remove them, or set data.bad_images = "skip" to train without them')
    return "\n".join(lines)


def raise_for_bad_images(bad: Sequence[BadImage]) -> None:
    if bad:
        raise DataError(bad_images_message(bad))


def bad_images_report(bad: Sequence[BadImage]) -> str:
    """The text of a run folder's bad_images.txt: one `path<TAB>reason` line per skipped file (control
    characters written as `\\xNN`: one line per file, and nothing that acts on a terminal showing it).
    Paths are absolute without `..`, so the list reads the same from any folder."""
    return "".join(f"{printable(source_path(path, relative=False))}\t{printable(reason)}\n" for path, reason in bad)
