"""The label review file (`data.review`): decisions about single images, applied when the data is listed.

Each entry names an image by its path relative to the data folder (`train/cat/x.jpg`), the
BLAKE2 hash of its bytes when it was reviewed, and a decision: "relabel" (with the class it
becomes), "exclude" (left out of every split) or "fine" (kept as it is, so the review list can say
it was looked at). The user's images are never moved or deleted: a run, `--check` and the class
counts read the listing through `apply_review`.

The file is data: whoever wrote it, it can only relabel or leave out files of the listing, and its
paths may not be absolute, climb out with `..` or lead out of the data folder through a link. An
entry whose file is gone or changed since it was reviewed (its hash differs) is not applied and is
reported by name; a file that is not a review file is an error naming it.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Literal

from ..config.loading import tomllib  # tomli before Python 3.11
from ..config.schema import DataConfig
from ..regular_file import UnsafeFile, read_bytes
from ..text import printable
from .listing import FileSplit, LayoutError, Listing
from .paths import resolve_root

Decision = Literal["relabel", "exclude", "fine"]
DECISIONS: tuple[Decision, ...] = ("relabel", "exclude", "fine")

MAX_REVIEW_BYTES = 16 * 2**20
"""The largest review file read (about 100,000 entries)."""

REVIEWABLE = ("imagefolder", "csv")
"""The datasets whose images are files with a path under the data folder."""

HEADER = (
    "# tui-trainer label review: one [[image]] per reviewed file, its path relative to the data folder.\n"
    '# decision = "relabel" (to label), "exclude" or "fine". Applied where a preset sets data.review;\n'
    "# the images themselves are never moved or deleted.\n"
)


@dataclass(frozen=True)
class ReviewEntry:
    """One decision about one image file."""

    path: str  # relative to the data folder, POSIX separators
    decision: Decision
    label: str = ""  # the class it becomes, for "relabel"
    given: str = ""  # its label when it was reviewed, for the reader
    blake2b: str = ""  # hash of the file's bytes when it was reviewed ("" = not checked)


def data_folder(cfg: DataConfig) -> Path:
    """The folder review paths are relative to: data.root, or the folder of a CSV file given as data.root."""
    root = resolve_root(cfg.root)
    return root.parent if cfg.dataset == "csv" and root.is_file() else root


def default_review_path(cfg: DataConfig) -> Path:
    """`data.review` as the preset sets it (relative to the working folder), else review.toml in the data folder."""
    return resolve_root(cfg.review) if cfg.review else data_folder(cfg) / "review.toml"


def file_hash(path: Path) -> str:
    """BLAKE2b (16 bytes, hex) of a file's contents: a moved or replaced file does not take another's decision."""
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def path_problem(path: str) -> str:
    """Why a review path may not name a file ("" = it may): it must be relative, inside, and plain."""
    if not path or "\\" in path or "\0" in path:
        return "is not a relative path with / separators"
    pure = PurePosixPath(path)
    if pure.is_absolute():
        return "is an absolute path; paths are relative to the data folder"
    if any(part in ("..", ".") for part in pure.parts) or str(pure) != path:
        return "climbs out of the data folder or is not in plain form (no .., ., //)"
    return ""


def read_review(path: Path) -> dict[str, ReviewEntry]:
    """The entries of a review file, by path. LayoutError naming the file and every bad entry."""
    name = printable(path)
    try:
        text = read_bytes(path, MAX_REVIEW_BYTES, follow_links=True).decode("utf-8")
        document = tomllib.loads(text)
    except FileNotFoundError:
        raise LayoutError([f"data.review: {name} does not exist"]) from None
    except UnsafeFile as exc:
        raise LayoutError([f"data.review: {printable(exc)}"]) from None
    except OSError as exc:
        raise LayoutError([f"data.review: cannot read {name}: {exc.strerror or exc}"]) from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise LayoutError([f"data.review: {name} is not a TOML file: {exc}"]) from None
    images = document.get("image", [])
    if not isinstance(images, list):
        raise LayoutError([f"data.review: {name}: image must be an array of tables ([[image]])"])
    entries: dict[str, ReviewEntry] = {}
    problems: list[str] = []
    for number, item in enumerate(images, 1):
        where = f"{name}: image {number}"
        entry, problem = _entry(item)
        if problem:
            problems.append(f"{where}: {problem}")
        elif entry is not None:
            entries[entry.path] = entry  # a later decision on the same file wins
    if problems:
        raise LayoutError([f"data.review: {problem}" for problem in problems])
    return entries


def _entry(item: object) -> tuple[ReviewEntry | None, str]:
    if not isinstance(item, dict):
        return None, "is not a table"
    fields = {"path", "decision", "label", "given", "blake2b"}
    unknown = sorted(set(item) - fields)
    if unknown:
        return None, f"unknown key {unknown[0]!r} (allowed: {', '.join(sorted(fields))})"
    if not all(isinstance(value, str) for value in item.values()):
        return None, "every value is a string"
    path, decision = item.get("path", ""), item.get("decision", "")
    problem = path_problem(path)
    if problem:
        return None, f"path {printable(path)!r} {problem}"
    if decision not in DECISIONS:
        return None, f"decision {printable(decision)!r} is not one of {', '.join(DECISIONS)}"
    if decision == "relabel" and not item.get("label"):
        return None, 'decision "relabel" needs label = "<class>"'
    return ReviewEntry(path, decision, item.get("label", ""), item.get("given", ""), item.get("blake2b", "")), ""


def _quoted(text: str) -> str:
    """A TOML basic string: control characters, quotes and backslashes escaped."""
    out = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def review_text(entries: Iterable[ReviewEntry]) -> str:
    """The review file's text, entries sorted by path (so a diff shows what changed)."""
    parts = [HEADER]
    for entry in sorted(entries, key=lambda e: e.path):
        parts.append("\n[[image]]\n")
        for key in ("path", "decision", "label", "given", "blake2b"):
            value = getattr(entry, key)
            if value:
                parts.append(f"{key} = {_quoted(value)}\n")
    return "".join(parts)


def write_review(path: Path, entries: Iterable[ReviewEntry]) -> None:
    """Write the review file atomically (a kill leaves the old file or the new one, whole)."""
    from ..atomic import atomic_write_text

    atomic_write_text(path, review_text(entries))


def folder_writable(folder: Path) -> bool:
    """Whether a review file can be created in `folder` (it exists and the user may write there)."""
    return folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)


# ---- applying a review to a listing ----------------------------------------------------------


@dataclass(frozen=True)
class ReviewOutcome:
    """What a review file changed in a listing, and the entries it could not apply."""

    file: Path
    relabelled: int
    excluded: int
    fine: int
    problems: tuple[str, ...]

    def summary(self) -> str:
        """`review.toml: 12 relabelled, 3 excluded` (and the entries it could not apply)."""
        text = f"{printable(self.file.name)}: {self.relabelled} relabelled, {self.excluded} excluded"
        if self.fine:
            text += f", {self.fine} checked and kept"
        if self.problems:
            text += f"; {len(self.problems)} entr{'ies' if len(self.problems) != 1 else 'y'} not applied"
        return text


def _inside(path: Path, folder: Path) -> bool:
    try:
        return path.resolve().is_relative_to(folder.resolve())
    except OSError:
        return False


def apply_review(listing: Listing, cfg: DataConfig) -> tuple[Listing, ReviewOutcome]:
    """The listing with `cfg.review`'s decisions applied: relabelled files take their new class, excluded
    files leave their split. LayoutError when the file cannot be read, is malformed, relabels to a
    class the data does not have, or the dataset's images are not files under a data folder."""
    file = default_review_path(cfg)
    if cfg.dataset not in REVIEWABLE:
        raise LayoutError([f'data.review works with the datasets {", ".join(REVIEWABLE)}, not "{cfg.dataset}"'])
    entries = read_review(file)
    classes = {name: index for index, name in enumerate(listing.classes)}
    unknown = sorted({e.label for e in entries.values() if e.decision == "relabel" and e.label not in classes})
    if unknown:
        shown = ", ".join(printable(c) for c in unknown[:5])
        raise LayoutError([f"data.review: {printable(file)} relabels to classes the data does not have: {shown}"])
    folder = data_folder(cfg)
    found: set[str] = set()
    problems: list[str] = []
    done: Counter[str] = Counter()
    splits: dict[str, FileSplit] = {}
    for name, split in listing.splits.items():
        paths, labels = [], []
        for path, label in zip(split.paths, split.labels, strict=True):
            key = _key(path, folder)
            entry = entries.get(key) if key is not None else None
            if entry is not None:
                found.add(key)  # type: ignore[arg-type]
                problem = _stale(entry, folder)
                if problem:
                    problems.append(f"{printable(entry.path)}: {problem}: not applied")
                    entry = None
            if entry is not None and entry.decision == "exclude":
                done["exclude"] += 1
                continue
            if entry is not None and entry.decision == "relabel" and classes[entry.label] != label:
                label = classes[entry.label]
                done["relabel"] += 1
            elif entry is not None:
                done["fine"] += 1
            paths.append(path)
            labels.append(label)
        splits[name] = replace(split, paths=tuple(paths), labels=tuple(labels))
    problems += [f"{printable(path)}: not in the data: not applied" for path in sorted(set(entries) - found)]
    outcome = ReviewOutcome(file, done["relabel"], done["exclude"], done["fine"], tuple(problems))
    return replace(listing, splits=splits), outcome


def _key(path: object, folder: Path) -> str | None:
    if not isinstance(path, Path):
        return None  # an image inside a shard or a dataset has no file to name
    try:
        return path.relative_to(folder).as_posix()
    except ValueError:
        return None  # a CSV row allowed outside the folder (data.csv_allow_outside)


def _stale(entry: ReviewEntry, folder: Path) -> str:
    """Why an entry whose path is in the listing may not be applied ("" = it may)."""
    path = folder / entry.path
    if not _inside(path, folder):
        return "leads out of the data folder through a link"
    if entry.blake2b:
        try:
            if file_hash(path) != entry.blake2b:
                return "the file changed since it was reviewed"
        except OSError as exc:
            return f"cannot be read ({exc.strerror or exc})"
    return ""


def merged(entries: Mapping[str, ReviewEntry], change: ReviewEntry | str) -> dict[str, ReviewEntry]:
    """`entries` with one decision added or replaced (a ReviewEntry), or taken back (its path)."""
    out = dict(entries)
    if isinstance(change, str):
        out.pop(change, None)
    else:
        out[change.path] = change
    return out
