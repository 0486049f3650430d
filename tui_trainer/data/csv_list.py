"""`dataset = "csv"`: images listed with their labels in CSV files, as Kaggle competitions ship them.

`data.root` is a folder holding train.csv (and val.csv, test.csv, as an image folder holds train/,
val/, test/), or one .csv file whose split column says train, val or test for each row. A path is
relative to its CSV file's folder and may not lead out of it (an absolute path, `..`, a link that
points elsewhere) unless `data.csv_allow_outside` is set: a list someone else wrote reads nothing
outside its place. Every problem found is reported in one message, each with its file and line.
"""

from __future__ import annotations

import csv
import os
import re
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..config.choices import ROOT_NEEDED
from ..config.schema import DataConfig
from ..text import printable
from .listing import FileSplit, LayoutError, Listing, problems_message
from .paths import missing_root_message, resolve_root

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Row:
    """One usable line of a CSV list."""

    path: Path
    label: str
    split: str
    where: str  # "train.csv line 4"


class _Reader:
    """Reads the rows of the CSV files of one dataset, collecting every problem on the way."""

    def __init__(self, cfg: DataConfig, folder: Path) -> None:
        self.columns = {
            cfg.csv_path_column: "data.csv_path_column",
            cfg.csv_label_column: "data.csv_label_column",
        }
        self.split_column = cfg.csv_split_column
        self.allow_outside = cfg.csv_allow_outside
        self.folder = folder
        self.real_folder = os.path.realpath(folder)
        self.real_dirs: dict[str, str] = {}
        self.seen: dict[str, str] = {}  # image path -> where it was first listed
        self.problems: list[str] = []

    def rows(self, file: Path, split: str | None) -> list[Row]:
        """The rows of `file`; `split` None: each row's split column says it."""
        columns = dict(self.columns)
        if split is None:
            columns[self.split_column] = "data.csv_split_column"
        path_column, label_column = list(self.columns)
        rows = []
        for line, values in self._records(file, columns):
            where = f"{file.name} line {line}"
            row_split = split or values[self.split_column]
            if row_split not in SPLITS:
                shown = f'"{printable(row_split)}"' if row_split else "empty"
                self.problems.append(f"{where}: split is {shown}, not train, val or test")
                continue
            label = values[label_column]
            if not label:
                self.problems.append(f"{where}: empty label")
                continue
            path = self._image(values[path_column], where)
            if path is not None:
                rows.append(Row(path, label, row_split, where))
        return rows

    def _records(self, file: Path, columns: dict[str, str]) -> Iterator[tuple[int, dict[str, str]]]:
        """(line number, column -> stripped value) for each non-blank line after the header."""
        try:
            with open(file, newline="", encoding="utf-8-sig") as handle:  # -sig: Excel's byte-order mark
                reader = csv.reader(handle)
                try:
                    header = [name.strip() for name in next(reader)]
                except StopIteration:
                    self.problems.append(f"{file.name}: empty (expected a header line naming the columns)")
                    return
                missing = [name for name in columns if name not in header]
                if missing:
                    found = ", ".join(printable(name) for name in header)
                    for name in missing:
                        self.problems.append(
                            f'{file.name} line 1: no column "{printable(name)}" (its columns: {found}); '
                            f"{columns[name]} names it"
                        )
                    return
                index = {name: header.index(name) for name in columns}
                for fields in reader:
                    if any(field.strip() for field in fields):
                        values = {name: fields[i].strip() if i < len(fields) else "" for name, i in index.items()}
                        yield reader.line_num, values
        except UnicodeDecodeError:
            self.problems.append(f"{file.name}: not UTF-8 text")
        except csv.Error as exc:
            self.problems.append(f"{file.name}: not a readable CSV file ({exc})")
        except OSError as exc:
            self.problems.append(f"{file.name}: cannot be read ({exc.strerror or exc})")

    def _image(self, text: str, where: str) -> Path | None:
        """The image file a row names, or None (and a problem) when it cannot be used."""
        if not text:
            self.problems.append(f"{where}: empty path")
            return None
        shown = printable(text)
        path = os.path.normpath(os.path.join(self.folder, text))
        try:
            info = os.lstat(path)
        except OSError:
            self.problems.append(f"{where}: {shown} does not exist")
            return None
        link = stat.S_ISLNK(info.st_mode)
        if not self.allow_outside and not self._inside(path, link):
            self.problems.append(
                f"{where}: {shown} is outside {printable(self.folder)} (set data.csv_allow_outside = true to read it)"
            )
            return None
        is_file = os.path.isfile(path) if link else stat.S_ISREG(info.st_mode)
        if not is_file:
            self.problems.append(f"{where}: {shown} is not a file")
            return None
        first = self.seen.setdefault(path, where)
        if first != where:
            self.problems.append(f"{where}: {shown} is listed again (first at {first})")
            return None
        return Path(path)

    def _inside(self, path: str, link: bool) -> bool:
        """Whether `path`, links followed, lies in the CSV's folder (each folder is resolved once)."""
        if link:
            real = os.path.realpath(path)
        else:
            parent, name = os.path.split(path)
            if parent not in self.real_dirs:
                self.real_dirs[parent] = os.path.realpath(parent)
            real = os.path.join(self.real_dirs[parent], name)
        return real.startswith(self.real_folder.rstrip(os.sep) + os.sep)


def sorted_classes(labels: set[str]) -> tuple[str, ...]:
    """Labels sorted; by value when every one is a whole number, so label "2" is class 2, not "10"."""
    if all(re.fullmatch(r"-?\d+", label) for label in labels):
        return tuple(sorted(labels, key=int))
    return tuple(sorted(labels))


class Labelled(Protocol):
    """A row of any listed dataset (a CSV line, a shard's sample, a dataset row) as the class checks see it."""

    @property
    def label(self) -> str: ...
    @property
    def split(self) -> str: ...
    @property
    def where(self) -> str: ...


def class_problems(rows: Sequence[Labelled], explicit: tuple[str, ...]) -> tuple[tuple[str, ...], list[str]]:
    """(class names in label order, problems with the labels)."""
    problems: list[str] = []
    trained = {row.label for row in rows if row.split == "train"}
    if explicit:
        repeated = sorted({name for name in explicit if explicit.count(name) > 1})
        problems += [f'data.classes: "{printable(name)}" is listed twice' for name in repeated]
        known = set(explicit)
        problems += [
            f'{row.where}: label "{printable(row.label)}" is not in data.classes'
            for row in rows
            if row.label not in known
        ]
        problems += [
            f'data.classes: "{printable(name)}" has no training rows' for name in explicit if name not in trained
        ]
        classes = tuple(dict.fromkeys(explicit))
    else:
        problems += [
            f'{row.where}: class "{printable(row.label)}" has no training rows'
            for row in rows
            if row.split != "train" and row.label not in trained
        ]
        classes = sorted_classes(trained)
    if len(classes) == 1:
        problems.append(f'one class ("{printable(classes[0])}") in the training rows: a classifier needs two or more')
    return classes, problems


def list_csv(cfg: DataConfig) -> Listing:
    """The CSV lists of `cfg.root` as file lists; LayoutError with one message naming every problem."""
    explicit = tuple(cfg.classes)
    if not cfg.root:
        raise LayoutError([f'dataset = "csv" needs data.root: {ROOT_NEEDED["csv"]}'])
    root = resolve_root(cfg.root)
    if root.is_dir():
        files = {split: root / f"{split}.csv" for split in SPLITS if (root / f"{split}.csv").is_file()}
        if "train" not in files:
            raise LayoutError([f"{printable(root)} has no train.csv (expected {ROOT_NEEDED['csv']})"])
        reader = _Reader(cfg, root)
        rows = [row for split, file in files.items() for row in reader.rows(file, split)]
        sources = {split: str(file) for split, file in files.items()}
    elif root.is_file():
        reader = _Reader(cfg, root.parent)
        rows = reader.rows(root, None)
        sources = {split: f"{root} {split}" for split in SPLITS}
    else:
        raise LayoutError([missing_root_message(root)])
    problems = reader.problems
    if not problems and not any(row.split == "train" for row in rows):
        problems.append("no training rows")
    classes, label_problems = class_problems(rows, explicit)
    problems += label_problems
    if problems:
        raise LayoutError([problems_message(root, problems, "the CSV list")])
    index = {name: i for i, name in enumerate(classes)}
    splits = {}
    for split in SPLITS:
        chosen = [row for row in rows if row.split == split]
        if chosen:
            paths, labels = tuple(row.path for row in chosen), tuple(index[row.label] for row in chosen)
            splits[split] = FileSplit(split, sources[split], reader.folder, paths, labels)
    return Listing("csv", classes, splits)
