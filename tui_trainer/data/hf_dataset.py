"""`dataset = "hf"`: a Hugging Face dataset on this disk, saved with `save_to_disk` or as parquet files.

`data.root` is the folder `Dataset.save_to_disk` / `DatasetDict.save_to_disk` wrote, or a folder of
parquet files (`train.parquet`, `train-00000-of-00002.parquet`, the hub's `data/` layout) whose
names start with their split. Splits `train`, `validation` (or `val`) and `test` are read;
`data.hf_image_column` holds each image (the `Image` feature's encoded bytes, plain bytes, or a path
inside the dataset's folder), `data.hf_label_column` its class: a `ClassLabel`'s names become the
class names, other labels are sorted as a CSV list's are.

Read through the `datasets` library (the `hf` extra), offline: nothing is ever downloaded, and a
hub name without a local copy says how to make one. A saved dataset's images stay in its
memory-mapped Arrow files and a parquet set's image column is read once, when decoding starts; the
bytes of each row go to the same parallel decoders and cache as files do, and a row is shown as
`name[split][row]` (a row without an image is named as an image that cannot be decoded). Every
problem is reported at once, each with its split and row.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config.choices import ROOT_NEEDED
from ..config.schema import DataConfig
from ..regular_file import read_bytes
from ..text import printable
from .csv_list import class_problems
from .listing import FileSplit, LayoutError, Listing, problems_message
from .member import Member
from .shards import split_of

MISSING_LIBRARY = 'dataset = "hf" reads datasets with the datasets library: pip install "tui-trainer[hf]"'
SPLITS = {"train": "train", "validation": "val", "val": "val", "test": "test"}
MAX_IMAGE_BYTES = 1 << 30


def _datasets() -> Any:
    """The `datasets` module, offline (it never reaches the hub for a dataset read from disk)."""
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    try:
        import datasets
    except ImportError:
        raise LayoutError([MISSING_LIBRARY]) from None
    return datasets


class _Images:
    """One split's image column, loaded on first use (a parquet set reads it when decoding starts)."""

    def __init__(self, load, folder: Path) -> None:  # load: () -> pyarrow.ChunkedArray
        self._load, self.folder = load, folder
        self._column: Any = None  # a pyarrow.ChunkedArray once loaded

    def bytes_at(self, row: int) -> bytes:
        if self._column is None:
            self._column = self._load()
        value = self._column[row].as_py()
        if isinstance(value, dict):
            value = value.get("bytes") or value.get("path")
        if isinstance(value, bytes):
            return value
        if not isinstance(value, str) or not value:
            raise OSError("no image in the row")
        return read_bytes(_inside(self.folder, value), MAX_IMAGE_BYTES, follow_links=True)


def _inside(folder: Path, path: str) -> str:
    """A row's image path, relative to the dataset's folder, which it may not lead out of."""
    full = os.path.realpath(os.path.join(folder, path))
    if not full.startswith(os.path.realpath(folder).rstrip(os.sep) + os.sep):
        raise OSError(f"{printable(path)} is outside the dataset's folder {printable(folder)}")
    return full


@dataclass(frozen=True, eq=False)
class HfRow(Member):
    """One row's image: bytes from the split's image column."""

    images: _Images
    row: int
    name: str
    key: str
    dataset: str = ""  # the dataset's folder name
    config: str = ""  # its configuration, where the saved dataset names one
    split: str = ""  # the split as the dataset names it ("validation")

    def identity(self) -> dict[str, str | int]:
        return {"dataset": self.dataset, "config": self.config, "split": self.split, "row": self.row}

    def read(self) -> bytes:
        return self.images.bytes_at(self.row)


@dataclass(frozen=True)
class Row:
    """One usable row, shaped like a CSV row so the class checks are shared."""

    path: HfRow
    label: str
    split: str
    where: str


@dataclass
class _Split:
    name: str  # the dataset's own split name ("validation")
    columns: list[str]
    features: Any  # datasets.Features, or None
    load: Any  # (column name) -> pyarrow.ChunkedArray
    stamp: str  # changes when the split's files do
    config: str = ""  # the configuration the saved dataset was made from ("" when it names none)


def _stamp(files: list[Path]) -> str:
    parts = []
    for file in sorted(files):
        info = os.stat(file)
        parts.append(f"{file.name}:{info.st_size}:{info.st_mtime_ns}")
    return ",".join(parts)


def _saved(datasets: Any, root: Path) -> list[_Split]:
    """The splits of a `save_to_disk` folder (one Dataset is the train split)."""
    loaded = datasets.load_from_disk(str(root))
    found = loaded.items() if isinstance(loaded, datasets.DatasetDict) else [("train", loaded)]
    out = []
    for name, ds in found:
        folder = root / name if (root / name).is_dir() else root
        table = ds.data.table if ds._indices is None else ds.flatten_indices().data.table
        out.append(
            _Split(
                name,
                list(table.column_names),
                ds.features,
                lambda column, table=table: table.column(column),
                _stamp(list(folder.glob("*.arrow"))),
                ds.info.config_name or "",
            )
        )
    return out


def _parquet(datasets: Any, root: Path) -> tuple[list[_Split], list[str]]:
    """The splits of a folder of parquet files, each file's split from the start of its name."""
    import pyarrow.parquet as pq

    files: dict[str, list[Path]] = {}
    problems = []
    for file in sorted([*root.glob("*.parquet"), *root.glob("data/*.parquet")]):
        name = re.split(r"[-_.]", file.name, maxsplit=1)[0].lower()
        if split_of(file) is None:
            problems.append(f"{printable(file.name)}: name does not start with train, validation, val or test")
        else:
            files.setdefault(name, []).append(file)
    out = []
    for name, chosen in files.items():
        schema = pq.read_schema(chosen[0])
        try:
            features = datasets.Features.from_arrow_schema(schema)
        except Exception:  # noqa: BLE001 - a schema without (or with foreign) Hugging Face metadata
            features = None

        def load(column: str, chosen: list[Path] = chosen) -> Any:
            import pyarrow as pa

            return pa.chunked_array(
                [chunk for file in chosen for chunk in pq.read_table(file, columns=[column]).column(0).chunks]
            )

        out.append(_Split(name, list(schema.names), features, load, _stamp(chosen)))
    return out, problems


def _hub_message(root: str) -> str:
    return (
        f'data.root "{printable(root)}" is not a folder on this disk, and datasets are never downloaded: save a '
        f"copy once with python -c \"import datasets; datasets.load_dataset('{printable(root)}')"
        f".save_to_disk('{printable(root.replace('/', '-'))}')\" and set data.root to that folder"
    )


def _rows(split: _Split, cfg: DataConfig, dataset: str, root: Path, problems: list[str]) -> list[Row]:
    image, label = cfg.hf_image_column, cfg.hf_label_column
    missing = [(column, key) for column, key in ((image, "hf_image_column"), (label, "hf_label_column"))]
    missing = [(column, key) for column, key in missing if column not in split.columns]
    for column, key in missing:
        shown = ", ".join(printable(name) for name in split.columns)
        problems.append(f'{split.name}: no column "{printable(column)}" (its columns: {shown}); data.{key} names it')
    if missing:
        return []
    feature = split.features.get(label) if split.features is not None else None
    names = list(getattr(feature, "names", None) or [])
    values = split.load(label).to_pylist()
    if split.name == "test" and all(v is None or v == -1 for v in values):
        return []  # a test split without labels (Hugging Face writes -1) cannot score a model: left out
    images = _Images(lambda: split.load(image), root)  # a row without an image is a bad image, named when decoded
    rows = []
    for row, value in enumerate(values):
        where = f"{split.name} row {row}"
        if value is None or (value == -1 and names):
            problems.append(f"{where}: no label")
            continue
        if names and isinstance(value, int):
            if not 0 <= value < len(names):
                problems.append(f"{where}: label {value} is not a class of the ClassLabel (0 to {len(names) - 1})")
                continue
            value = names[value]
        name = f"{dataset}[{split.name}][{row}]"
        member = HfRow(images, row, name, f"{split.name}|{row}|{split.stamp}", dataset, split.config, split.name)
        rows.append(Row(member, str(value), SPLITS[split.name], where))
    return rows


def list_hf(cfg: DataConfig) -> Listing:
    """The Hugging Face dataset at `cfg.root` as row lists; LayoutError with one message naming every problem."""
    if not cfg.root:
        raise LayoutError([f'dataset = "hf" needs data.root: {ROOT_NEEDED["hf"]}'])
    root = Path(cfg.root).expanduser().absolute()
    if not root.is_dir():
        if not root.exists() and re.fullmatch(r"[\w.-]+(/[\w.-]+)?", cfg.root):
            raise LayoutError([_hub_message(cfg.root)])
        raise LayoutError([f"data root {printable(root)} is not a folder (expected {ROOT_NEEDED['hf']})"])
    datasets = _datasets()
    problems: list[str] = []
    try:
        if (root / "dataset_dict.json").is_file() or (root / "state.json").is_file():
            found = _saved(datasets, root)
        else:
            found, problems = _parquet(datasets, root)
    except Exception as exc:  # noqa: BLE001 - datasets and pyarrow raise many types for a damaged folder
        raise LayoutError([f"{printable(root)}: cannot read the dataset ({type(exc).__name__}: {exc})"]) from None
    found = [split for split in found if split.name in SPLITS]
    if not problems and not any(SPLITS[split.name] == "train" for split in found):
        problems.append(f"no train split (expected {ROOT_NEEDED['hf']})")
    per_split = {split.name: _rows(split, cfg, root.name, root, problems) for split in found}
    rows = [row for split_rows in per_split.values() for row in split_rows]
    explicit = tuple(cfg.classes)
    if not explicit:  # a ClassLabel's names, in its order, are the classes
        for split in found:
            feature = split.features.get(cfg.hf_label_column) if split.features is not None else None
            explicit = tuple(getattr(feature, "names", None) or ())
            if explicit:
                break
    classes, label_problems = class_problems(rows, explicit)
    problems += label_problems
    if problems:
        raise LayoutError([problems_message(root, problems, "the Hugging Face dataset")])
    index = {name: i for i, name in enumerate(classes)}
    splits = {}
    for split in found:
        chosen, name = per_split[split.name], SPLITS[split.name]
        if chosen and name not in splits:
            paths, labels = tuple(row.path for row in chosen), tuple(index[row.label] for row in chosen)
            splits[name] = FileSplit(name, f"{root} {split.name}", root, paths, labels)
    return Listing("hf", classes, splits)
