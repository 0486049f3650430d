"""The label review file (`data.review`): decisions about single images, applied when the data is listed.

Each entry names an image and says what to do with it: "relabel" (with the class it becomes),
"exclude" (left out of every split) or "fine" (kept as it is, so the review list can say it was
looked at). An image file is named by its path relative to the data folder (`train/cat/x.jpg`); an
image in a tar shard by the shard's file name and the sample's key in it (`shard`, `key`); a row of
a Hugging Face dataset by the dataset's folder name, its configuration, split and row (`dataset`,
`config`, `split`, `row`). Each carries the BLAKE2 hash of the image's bytes when it was reviewed,
so a changed image or a changed dataset does not take another image's decision. The user's images
are never moved or deleted: a run, `--check` and the class counts read the listing through
`apply_review`.

The file is data: whoever wrote it, it can only relabel or leave out images of the listing. Its
paths may not be absolute, climb out with `..` or lead out of the data folder through a link; a
shard or dataset it names is only ever matched against the samples the data's own listing found,
never opened. An entry whose image is gone or changed since it was reviewed (its hash differs) is
not applied and is counted and named; a file that is not a review file is an error naming it.
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
from ..text import count_of, printable
from .listing import FileSplit, LayoutError, Listing
from .member import Member
from .paths import resolve_root

Decision = Literal["relabel", "exclude", "fine"]
DECISIONS: tuple[Decision, ...] = ("relabel", "exclude", "fine")

MAX_REVIEW_BYTES = 16 * 2**20
"""The largest review file read (about 100,000 entries)."""

REVIEWABLE = ("imagefolder", "csv", "shards", "hf")
"""The datasets whose images a decision can name: files, shard members, dataset rows."""

BESIDE_THE_DATA = ("imagefolder", "csv", "shards")
"""The datasets whose review file goes in the data folder by default (a Hugging Face dataset's goes in the run's)."""

HEADER = (
    "# tui-trainer label review: one [[image]] per reviewed image: its path relative to the data folder,\n"
    "# its shard and key, or its dataset, config, split and row; blake2b = the image's hash when reviewed.\n"
    '# decision = "relabel" (to label), "exclude" or "fine". Applied where a preset sets data.review;\n'
    "# the images themselves are never moved or deleted.\n"
)


MEMBER_FIELDS = ("shard", "key", "dataset", "config", "split", "row")
"""The fields that name an image that is not a file: a shard member, a dataset row (`Member.identity`)."""


@dataclass(frozen=True)
class ReviewEntry:
    """One decision about one image: a file (`path`), a shard member (`shard`, `key`) or a dataset row."""

    path: str  # a file, relative to the data folder, POSIX separators ("" for a member)
    decision: Decision
    label: str = ""  # the class it becomes, for "relabel"
    given: str = ""  # its label when it was reviewed, for the reader
    blake2b: str = ""  # hash of the image's bytes when it was reviewed ("" = not checked)
    shard: str = ""  # a tar shard's file name, relative to the data folder
    key: str = ""  # the sample's key in that shard (its member names up to the first dot)
    dataset: str = ""  # a Hugging Face dataset's folder name
    config: str = ""  # its configuration ("" where the saved dataset names none)
    split: str = ""  # its split, as the dataset names it ("validation")
    row: int = -1  # the row in that split

    @property
    def sample(self) -> str:
        """The image the entry names, in words."""
        return self.path or sample_name(self.identity())

    @property
    def ident(self) -> str:
        """The key of the entry in a review's entries: its path, or its member's (`member_ident`)."""
        return self.path or "\0" + sample_name(self.identity())

    def identity(self) -> dict[str, str | int]:
        """The member fields that name the image ({} for a file)."""
        if self.shard:
            return {"shard": self.shard, "key": self.key}
        if self.dataset:
            return {"dataset": self.dataset, "config": self.config, "split": self.split, "row": self.row}
        return {}


def sample_name(identity: Mapping[str, str | int]) -> str:
    """A shard member or dataset row in words: `train-000000.tar:cat_12`, `beans/default[validation][7]`."""
    if "shard" in identity:
        return f"{identity['shard']}:{identity['key']}"
    config = f"/{identity['config']}" if identity.get("config") else ""
    return f"{identity.get('dataset', '')}{config}[{identity.get('split', '')}][{identity.get('row', '')}]"


def member_ident(member: Member) -> str | None:
    """The key of the entry that names a shard member or dataset row (a NUL first: never a file's path);
    None for a member a decision cannot name."""
    identity = member.identity()
    return "\0" + sample_name(identity) if identity else None


def member_entry(member: Member, decision: Decision, label: str = "", given: str = "") -> ReviewEntry:
    """A decision about a shard member or dataset row, with the hash of its bytes; OSError when it cannot be
    read, ValueError for a member a decision cannot name."""
    identity = member.identity()
    if not identity:
        raise ValueError(f"{printable(member.name)}: a decision cannot name this image")
    return ReviewEntry("", decision, label, given, bytes_hash(member.read()), **identity)  # type: ignore[arg-type]


def data_folder(cfg: DataConfig) -> Path:
    """The folder review paths are relative to: data.root, the folder of a CSV file given as data.root, or the
    folder of the shards a brace pattern names."""
    root = resolve_root(cfg.root)
    if cfg.dataset == "shards" and "{" in root.name:
        return root.parent
    return root.parent if cfg.dataset == "csv" and root.is_file() else root


def default_review_path(cfg: DataConfig) -> Path:
    """`data.review` as the preset sets it (relative to the working folder), else review.toml in the data folder."""
    return resolve_root(cfg.review) if cfg.review else data_folder(cfg) / "review.toml"


def bytes_hash(data: bytes) -> str:
    """BLAKE2b (16 bytes, hex) of an image's bytes, as `file_hash` gives it for a file."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


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
            entries[entry.ident] = entry  # a later decision on the same image wins
    if problems:
        raise LayoutError([f"data.review: {problem}" for problem in problems])
    return entries


def _entry(item: object) -> tuple[ReviewEntry | None, str]:
    if not isinstance(item, dict):
        return None, "is not a table"
    fields = {"path", "decision", "label", "given", "blake2b", *MEMBER_FIELDS}
    unknown = sorted(set(item) - fields)
    if unknown:
        return None, f"unknown key {unknown[0]!r} (allowed: {', '.join(sorted(fields))})"
    given_row = "row" in item
    row = item.pop("row", -1)
    if isinstance(row, bool) or not isinstance(row, int) or (given_row and row < 0):
        return None, "row is a row number (0 or more)"
    if not all(isinstance(value, str) for value in item.values()):
        return None, "every value but row is a string"
    problem = _names_problem(item, row)
    if problem:
        return None, problem
    decision = item.get("decision", "")
    if decision not in DECISIONS:
        return None, f"decision {printable(decision)!r} is not one of {', '.join(DECISIONS)}"
    if decision == "relabel" and not item.get("label"):
        return None, 'decision "relabel" needs label = "<class>"'
    names = {key: item[key] for key in MEMBER_FIELDS if key in item}
    entry = ReviewEntry(
        item.get("path", ""), decision, item.get("label", ""), item.get("given", ""), item.get("blake2b", "")
    )
    return replace(entry, **names, row=row), ""


def _names_problem(item: dict, row: int) -> str:
    """Why an entry does not name one image ("" = it does): a path, a shard and key, or a dataset, split and row."""
    path, shard, dataset = item.get("path"), item.get("shard"), item.get("dataset")
    if sum(name is not None for name in (path, shard, dataset)) != 1:
        return "names its image by one of path, shard (and key), or dataset (and split, row)"
    if path is not None:
        problem = path_problem(path)
        return f"path {printable(path)!r} {problem}" if problem else ""
    if shard is not None:
        problem = path_problem(shard) or ("" if "/" not in shard else "is not a shard's file name")
        if problem:
            return f"shard {printable(shard)!r} {problem}"
        return "" if item.get("key") and "\0" not in item["key"] else 'a shard\'s image needs key = "<sample key>"'
    if not dataset or not item.get("split") or row < 0:
        return "a dataset row needs dataset, split and row = <number>"
    return ""


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
    for entry in sorted(entries, key=lambda e: e.sample):
        parts.append("\n[[image]]\n")
        for key in ("path", "shard", "key", "dataset", "config", "split", "row", "decision", "label", "given"):
            value = getattr(entry, key)
            if key == "row" and entry.dataset:
                parts.append(f"row = {value}\n")
            elif value and key != "row":
                parts.append(f"{key} = {_quoted(value)}\n")
        if entry.blake2b:
            parts.append(f"blake2b = {_quoted(entry.blake2b)}\n")
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
    problems: tuple[str, ...]  # each entry not applied, named
    changed: int = 0  # of those, the entries whose image changed since it was reviewed

    def summary(self) -> str:
        """`review.toml: 12 relabelled, 3 excluded` (and the decisions skipped, the entries it could not apply)."""
        text = f"{printable(self.file.name)}: {self.relabelled} relabelled, {self.excluded} excluded"
        if self.fine:
            text += f", {self.fine} checked and kept"
        if self.changed:
            text += f"; {count_of(self.changed, 'decision')} skipped: the image changed"
        others = len(self.problems) - self.changed
        if others:
            text += f"; {others} entr{'ies' if others != 1 else 'y'} not applied"
        return text


def _inside(path: Path, folder: Path) -> bool:
    try:
        return path.resolve().is_relative_to(folder.resolve())
    except OSError:
        return False


def apply_review(listing: Listing, cfg: DataConfig) -> tuple[Listing, ReviewOutcome]:
    """The listing with `cfg.review`'s decisions applied: relabelled images take their new class, excluded
    ones leave their split. LayoutError when the file cannot be read, is malformed, relabels to a
    class the data does not have, or the dataset's images cannot be named by a decision."""
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
    changed = 0
    done: Counter[str] = Counter()
    splits: dict[str, FileSplit] = {}
    for name, split in listing.splits.items():
        paths, labels = [], []
        for path, label in zip(split.paths, split.labels, strict=True):
            key = _key(path, folder)
            entry = entries.get(key) if key is not None else None
            if entry is not None:
                found.add(key)  # type: ignore[arg-type]
                problem = _stale(entry, folder) if isinstance(path, Path) else _member_stale(entry, path)
                if problem:
                    problems.append(f"{printable(entry.sample)}: {problem}: not applied")
                    changed += problem in CHANGED
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
    missing = sorted(entries[key].sample for key in set(entries) - found)
    problems += [f"{printable(sample)}: not in the data: not applied" for sample in missing]
    outcome = ReviewOutcome(file, done["relabel"], done["exclude"], done["fine"], tuple(problems), changed)
    return replace(listing, splits=splits), outcome


CHANGED = ("the file changed since it was reviewed", "the image changed since it was reviewed")


def _key(path: Path | Member, folder: Path) -> str | None:
    """The key of the entry that would name this image, None where none can."""
    if isinstance(path, Member):
        return member_ident(path)  # the listing's own sample: a review file's shard or dataset is never opened
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
                return CHANGED[0]
        except OSError as exc:
            return f"cannot be read ({exc.strerror or exc})"
    return ""


def _member_stale(entry: ReviewEntry, member: Member) -> str:
    """Why an entry naming a shard member or dataset row may not be applied ("" = it may)."""
    if entry.blake2b:
        try:
            if bytes_hash(member.read()) != entry.blake2b:
                return CHANGED[1]
        except OSError as exc:
            return f"cannot be read ({printable(exc)})"
    return ""


def merged(entries: Mapping[str, ReviewEntry], change: ReviewEntry | str) -> dict[str, ReviewEntry]:
    """`entries` with one decision added or replaced (a ReviewEntry), or taken back (its path)."""
    out = dict(entries)
    if isinstance(change, str):
        out.pop(change, None)
    else:
        out[change.ident] = change
    return out
