"""`dataset = "shards"`: images in tar shards laid out as WebDataset writes them.

`data.root` is a folder holding `train-000000.tar`, `train-000001.tar`, ... (and `val-*.tar`,
`test-*.tar`), or a brace pattern of shard files (`/data/train-{000000..000127}.tar`, with `{a,b}`
lists too), each shard's split read from the start of its name. Members are grouped by key (the
member name up to the first dot of its last part): `key.jpg|jpeg|png|webp` is the image,
`key.cls` its class (an integer) or `key.json` an object whose "label" field is.

The shards are read with the standard library's `tarfile`, in order, headers only when listing;
an image is read later as the member's byte range of its shard, and never extracted: a member
name someone else wrote names nothing on this disk. Absolute names and `..` are refused anyway
(they are a sign of a tar meant to be extracted somewhere else), as are links and other non-file
members. Every problem is reported at once, each named by its shard and member.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import stat
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..config.choices import ROOT_NEEDED
from ..config.schema import DataConfig
from ..regular_file import open_binary
from ..text import printable
from .csv_list import class_problems
from .listing import FileSplit, LayoutError, Listing, problems_message
from .member import Member
from .paths import missing_root_message

SPLIT_NAMES = {"train": "train", "val": "val", "validation": "val", "test": "test"}
"""Start of a shard's name -> the split it holds."""

IMAGE_TYPES = (".jpg", ".jpeg", ".png", ".webp")
LABEL_FIELD = "label"
"""The field of a `key.json` member that holds the class (an integer, or a class name)."""


@dataclass(frozen=True, eq=False)
class TarMember(Member):
    """One image member: `size` bytes at `offset` of the shard file."""

    shard: str
    offset: int
    size: int
    name: str
    key: str
    sample: str = ""  # WebDataset's key of the sample in its shard ("cat_12" for cat_12.jpg)

    def identity(self) -> dict[str, str | int]:
        return {"shard": Path(self.shard).name, "key": self.sample}

    def read(self) -> bytes:
        with open_binary(self.shard, follow_links=True) as handle:
            handle.seek(self.offset)
            data = handle.read(self.size)
        if len(data) != self.size:
            raise OSError(f"the shard ends {self.size - len(data)} bytes early")
        return data


def expand_braces(pattern: str) -> list[str]:
    """`a-{000..002}.tar` -> a-000.tar, a-001.tar, a-002.tar (the width kept); `{train,val}` -> each;
    nested braces as a shell expands them. A brace without its pair is taken literally."""
    open_at = pattern.find("{")
    depth, close_at, commas = 0, -1, []
    for i in range(open_at, len(pattern) if open_at >= 0 else 0):
        depth += {"{": 1, "}": -1}.get(pattern[i], 0)
        if pattern[i] == "," and depth == 1:
            commas.append(i)
        if depth == 0:
            close_at = i
            break
    if close_at < 0:
        return [pattern]
    head, inner, tail = pattern[:open_at], pattern[open_at + 1 : close_at], pattern[close_at + 1 :]
    numbers = re.fullmatch(r"(\d+)\.\.(\d+)", inner)
    if numbers:
        first, last = numbers.groups()
        width = len(first) if first.startswith("0") or len(first) == len(last) else 0
        parts = [str(i).zfill(width) for i in range(int(first), int(last) + 1)]
    else:
        bounds = [open_at, *commas, close_at]
        parts = [pattern[a + 1 : b] for a, b in itertools.pairwise(bounds)]
    return [expanded for part in parts for expanded in expand_braces(head + part + tail)]


def split_of(shard: Path) -> str | None:
    """The split a shard's name starts with ("train-000001.tar" -> "train"), or None."""
    start = re.split(r"[-_.]", shard.name, maxsplit=1)[0].lower()
    return SPLIT_NAMES.get(start)


def _shards(root_text: str) -> tuple[Path, dict[str, list[Path]], list[str]]:
    """(folder shown in messages, split -> shard files in order, problems)."""
    root = Path(root_text).expanduser().absolute()
    if "{" in root.name:
        folder = root.parent
        files = [Path(name) for name in expand_braces(str(root))]
        problems = [f"{printable(file)} does not exist" for file in files if not file.is_file()]
        files = [file for file in files if file.is_file()]
    elif root.is_dir():
        folder = root
        files = sorted(p for p in root.iterdir() if p.suffix == ".tar" and not p.name.startswith("."))
        problems = []
    else:
        return root, {}, [missing_root_message(root)]
    splits: dict[str, list[Path]] = {}
    for file in files:
        split = split_of(file)
        if split is None:
            problems.append(f"{printable(file.name)}: name does not start with train, val, validation or test")
        else:
            splits.setdefault(split, []).append(file)
    for shard_files in splits.values():
        shard_files.sort()
    return folder, splits, problems


def _safe(name: str) -> bool:
    path = PurePosixPath(name)
    return not path.is_absolute() and ".." not in path.parts and not name.startswith("/")


def _key(name: str) -> tuple[str, str]:
    """WebDataset's grouping: "a/b/x.seg.jpg" -> ("a/b/x", ".seg.jpg")."""
    folder, _, base = name.rpartition("/")
    stem, dot, rest = base.partition(".")
    return (f"{folder}/{stem}" if folder else stem), (dot + rest).lower()


@dataclass
class _Sample:
    image: tarfile.TarInfo | None = None
    label: str | None = None
    where: str = ""


@dataclass(frozen=True)
class Row:
    """One usable sample, shaped like a CSV row so the class checks are shared."""

    path: TarMember
    label: str
    split: str
    where: str


def _label(tar: tarfile.TarFile, member: tarfile.TarInfo, where: str, problems: list[str]) -> str | None:
    """The class a `.cls` or `.json` member holds, as text; None (and a problem) when it has none."""
    if member.size > 1 << 20:
        problems.append(f"{where}: a label of {member.size} bytes")
        return None
    handle = tar.extractfile(member)  # the member's bytes in memory: nothing is written
    raw = handle.read() if handle is not None else b""
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        problems.append(f"{where}: not UTF-8 text")
        return None
    if member.name.lower().endswith(".json"):
        try:
            value = json.loads(text)
        except ValueError:
            problems.append(f"{where}: not JSON")
            return None
        if not isinstance(value, dict) or LABEL_FIELD not in value:
            problems.append(f'{where}: no "{LABEL_FIELD}" field')
            return None
        value = value[LABEL_FIELD]
        if isinstance(value, bool) or not isinstance(value, int | str):
            problems.append(f'{where}: "{LABEL_FIELD}" is {printable(json.dumps(value))}, not an integer or a name')
            return None
        text = str(value).strip()
    if not text:
        problems.append(f"{where}: empty label")
        return None
    return text


def _samples(shard: Path, split: str, problems: list[str]) -> Iterator[Row]:
    """The samples of one shard, in member order; every bad member becomes a problem."""
    try:
        info = os.stat(shard)
        if not stat.S_ISREG(info.st_mode):
            problems.append(f"{printable(shard.name)}: not a regular file")
            return
        stamp = f"{shard.name}|{info.st_size}|{info.st_mtime_ns}"
        samples: dict[str, _Sample] = {}
        with open_binary(shard, follow_links=True) as raw, tarfile.open(fileobj=raw, mode="r:") as tar:
            for member in tar:
                where = f"{shard.name}:{member.name}"
                if member.isdir():
                    continue
                if not _safe(member.name):
                    problems.append(f"{where}: member name is absolute or leads out with '..'")
                    continue
                if not member.isreg() or member.issparse():
                    problems.append(f"{where}: not a plain file member (a link, a device or sparse)")
                    continue
                key, kind = _key(member.name)
                sample = samples.setdefault(key, _Sample(where=f"{shard.name}:{key}"))
                if kind in IMAGE_TYPES:
                    if sample.image is not None:
                        problems.append(f"{where}: a second image for key {printable(key)}")
                    sample.image = member
                elif kind in (".cls", ".json"):
                    sample.label = _label(tar, member, where, problems)
    except (OSError, tarfile.TarError) as exc:
        problems.append(f"{printable(shard.name)}: not a readable uncompressed tar file ({exc})")
        return
    for key, sample in samples.items():
        if sample.image is None:
            if sample.label is not None:
                problems.append(f"{sample.where}: a label without an image (.jpg, .png or .webp)")
            continue
        where = f"{shard.name}:{sample.image.name}"
        if sample.label is None:
            problems.append(f"{where}: no {key}.cls or {key}.json label")
            continue
        image = sample.image
        stored = TarMember(
            str(shard), image.offset_data, image.size, where, f"{stamp}|{image.name}|{image.offset_data}", key
        )
        yield Row(stored, sample.label, split, where)


def _named(rows: list[Row], explicit: tuple[str, ...], problems: list[str]) -> list[Row]:
    """With data.classes, an integer label is an index into it ("3" -> data.classes[3])."""
    if not explicit:
        return rows
    named = []
    for row in rows:
        if re.fullmatch(r"-?\d+", row.label):
            index = int(row.label)
            if not 0 <= index < len(explicit):
                problems.append(f"{row.where}: class {index} is not in data.classes (0 to {len(explicit) - 1})")
                continue
            row = Row(row.path, explicit[index], row.split, row.where)
        named.append(row)
    return named


def list_shards(cfg: DataConfig) -> Listing:
    """The tar shards of `cfg.root` as member lists; LayoutError with one message naming every problem."""
    if not cfg.root:
        raise LayoutError([f'dataset = "shards" needs data.root: {ROOT_NEEDED["shards"]}'])
    root, shards, problems = _shards(cfg.root)
    if not problems and "train" not in shards:
        problems.append(f"no train shards (expected {ROOT_NEEDED['shards']})")
    rows = [row for split, files in shards.items() for shard in files for row in _samples(shard, split, problems)]
    explicit = tuple(cfg.classes)
    rows = _named(rows, explicit, problems)
    if not problems and not any(row.split == "train" for row in rows):
        problems.append("no training samples")
    classes, label_problems = class_problems(rows, explicit)
    problems += label_problems
    if problems:
        raise LayoutError([problems_message(root, problems, "the tar shards")])
    index = {name: i for i, name in enumerate(classes)}
    splits = {}
    for split, files in shards.items():
        chosen = [row for row in rows if row.split == split]
        if chosen:
            source = " ".join(str(file) for file in files)
            paths, labels = tuple(row.path for row in chosen), tuple(index[row.label] for row in chosen)
            splits[split] = FileSplit(split, source, root, paths, labels)
    return Listing("shards", classes, splits)
