"""A dataset whose images are files on disk, as lists of (file, label) per split.

Image folders and CSV lists are both listed this way, without opening an image (so `--check`
stays fast and needs no torch), and from then on are one kind of thing: the same held-out
share, limits, bad-file handling, cache and storage (`data.listed`). A new kind of file list is
one lister in `data.listers.LISTERS`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..text import count_of, printable
from .errors import DataError
from .member import Member


@dataclass(frozen=True)
class FileSplit:
    """One split's files, in order, and the class index of each."""

    name: str  # "train", "val" or "test"
    source: str  # names the split in the cache slot: the split's folder, or its CSV file (and split)
    base: Path  # paths are fingerprinted relative to this folder
    paths: tuple[Path | Member, ...]  # members: images inside shards or a Hugging Face dataset
    labels: tuple[int, ...]


@dataclass(frozen=True)
class Listing:
    """Every split found ("train" always; "val", "test" when present) and the class names."""

    kind: str  # the data.dataset name, first part of each split's cache slot
    classes: tuple[str, ...]
    splits: dict[str, FileSplit]
    notes: tuple[str, ...] = ()
    """What `data.review` changed ("review.toml: 12 relabelled, 3 excluded") and the entries it could not apply."""

    def files(self) -> list[Path | Member]:
        return [path for split in self.splits.values() for path in split.paths]


class LayoutError(DataError):
    """What is wrong with a listed dataset, every problem found (`--check` prints each on its line)."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        more = len(self.problems) - 1
        super().__init__(self.problems[0] + (f" (and {count_of(more, 'more problem')})" if more else ""))


SHOWN = 50
"""How many problems a listing's message names before "... and N more"."""


def problems_message(root: Path, problems: Sequence[str], where: str) -> str:
    """`ROOT: 3 problems in the CSV list:` and one indented line per problem (the first SHOWN), escaped."""
    count = len(problems)
    lines = [f"{printable(root)}: {count_of(count, 'problem')} in {where}:"]
    lines += [f"  {printable(problem)}" for problem in problems[:SHOWN]]
    if count > SHOWN:
        lines.append(f"  ... and {count - SHOWN} more")
    return "\n".join(lines)
