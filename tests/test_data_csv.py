"""`data.dataset = "csv"`: image lists with labels, read like the same images in a folder."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.helpers import SET_TINY, SMOKE
from tui_trainer.cli import main
from tui_trainer.config.schema import DataConfig
from tui_trainer.data import DataError, check_data_layout, load_data
from tui_trainer.runs.folder import RunFolder

CLASSES = ("cat", "dog", "emu")


def _image(path: Path, seed: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    base = np.array([(200, 40, 40), (40, 200, 40), (40, 40, 200)][seed % 3])
    pixels = np.clip(base + rng.integers(-40, 40, (16, 16, 3)), 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def make_images(root: Path, train: int = 6, val: int = 2, test: int = 2) -> dict[str, list[tuple[str, str]]]:
    """root/<split>/<class>/*.png and the (relative path, label) rows of each split, in folder order."""
    rows: dict[str, list[tuple[str, str]]] = {}
    for split, count in (("train", train), ("val", val), ("test", test)):
        rows[split] = []
        for c, cls in enumerate(CLASSES):
            for i in range(count):
                path = _image(root / split / cls / f"{i:03d}.png", 3 * (100 * i + len(split)) + c)
                rows[split].append((path.relative_to(root).as_posix(), cls))
    return rows


def write_csv(path: Path, rows: list[tuple[str, ...]], header: str = "path,label") -> Path:
    path.write_text(header + "\n" + "".join(",".join(row) + "\n" for row in rows), encoding="utf-8")
    return path


def csv_cfg(root: Path, **kw) -> DataConfig:
    return DataConfig(dataset="csv", root=str(root), image_size=16, **kw)


def test_a_csv_list_reads_the_same_pixels_labels_and_files_as_the_folder(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    rows = make_images(root)
    for split in ("train", "val"):
        write_csv(root / f"{split}.csv", rows[split])
    listed = load_data(csv_cfg(root))
    folder = load_data(DataConfig(dataset="imagefolder", root=str(root), image_size=16))
    assert listed.classes == folder.classes == CLASSES
    for a, b in ((listed.train, folder.train), (listed.val, folder.val)):
        assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert listed.val_paths == folder.val_paths  # the confusion screen's drill-down shows the files
    assert check_data_layout(csv_cfg(root)) == []


def test_one_csv_with_a_split_column_and_columns_named_in_the_preset(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    rows = make_images(root, train=4, val=1, test=0)
    numbered = {"cat": "2", "dog": "10", "emu": "7"}  # whole numbers: class i is label i, not "10" < "2"
    lines = [(path, numbered[cls], split) for split in ("val", "train") for path, cls in rows[split]]
    listing = write_csv(root / "all.csv", lines, header="file,kind,fold")
    cfg = csv_cfg(listing, csv_path_column="file", csv_label_column="kind", csv_split_column="fold")
    data = load_data(cfg)
    assert data.classes == ("2", "7", "10")
    assert len(data.train) == 12 and len(data.val) == 3
    assert torch.bincount(data.train.labels).tolist() == [4, 4, 4]
    assert data.val.labels.tolist() == [0, 2, 1]  # cat ("2"), dog ("10"), emu ("7")
    explicit = load_data(cfg.model_copy(update={"classes": ["10", "7", "2"]}))  # an explicit order wins
    assert explicit.classes == ("10", "7", "2") and explicit.val.labels.tolist() == [2, 0, 1]


def test_every_problem_is_named_in_one_message_with_its_csv_line(tmp_path: Path, capsys) -> None:
    root = tmp_path / "ds"
    rows = make_images(root, train=2, val=1, test=0)
    _image(tmp_path / "secret.png", 1)  # exists, but outside the CSV's folder
    os.symlink(tmp_path / "secret.png", root / "link.png")  # inside by name, outside once followed
    train = [
        *rows["train"],  # lines 2-7
        ("train/cat/missing.png", "cat"),  # line 8
        ("train/dog/000.png", ""),  # line 9
        ("train/cat/000.png", "cat"),  # line 10: again, as line 2
        ("../secret.png", "cat"),  # line 11
        (str(tmp_path / "secret.png"), "dog"),  # line 12
        ("link.png", "emu"),  # line 13
    ]
    write_csv(root / "train.csv", train)
    _image(root / "val" / "fox.png", 2)
    write_csv(root / "val.csv", [*rows["val"], ("val/fox.png", "fox")])  # line 5: a class train lacks
    expected = [
        "train.csv line 8: train/cat/missing.png does not exist",
        "train.csv line 9: empty label",
        "train.csv line 10: train/cat/000.png is listed again (first at train.csv line 2)",
        "train.csv line 11: ../secret.png is outside",
        f"train.csv line 12: {tmp_path / 'secret.png'} is outside",
        "train.csv line 13: link.png is outside",
        'val.csv line 5: class "fox" has no training rows',
    ]
    with pytest.raises(DataError) as caught:
        load_data(csv_cfg(root))
    message = str(caught.value)
    assert "7 problems" in message and all(line in message for line in expected), message
    assert "data.csv_allow_outside = true" in message
    [problem] = check_data_layout(csv_cfg(root))
    assert problem == message

    preset = ["--set", 'data.dataset="csv"', "--set", f'data.root="{root}"']
    assert main(["--check", str(SMOKE), *preset]) == 2
    err = capsys.readouterr().err
    assert all(line in err for line in expected), err
    runs = tmp_path / "runs"
    assert main(["--headless", str(SMOKE), "--runs-dir", str(runs), *SET_TINY, *preset]) == 2
    err = capsys.readouterr().err
    assert all(line in err for line in expected), err


def test_paths_outside_the_csv_folder_are_read_only_when_the_preset_allows_it(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    elsewhere = make_images(tmp_path / "elsewhere", train=3, val=0, test=0)
    train = [(f"../elsewhere/{path}", cls) for path, cls in elsewhere["train"]]
    root.mkdir()
    write_csv(root / "train.csv", train)
    with pytest.raises(DataError, match=r"(?s)9 problems.*\.\./elsewhere/train/cat/000\.png is outside"):
        load_data(csv_cfg(root))
    data = load_data(csv_cfg(root, csv_allow_outside=True, val_fraction=0.34))
    assert len(data.train) + len(data.val) == 9


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "train.csv: empty"),
        (
            "file,label\na.png,cat\n",
            'train.csv line 1: no column "path" (its columns: file, label); data.csv_path_column',
        ),
        ("path,label\ntrain/cat/000.png,cat\n", 'one class ("cat")'),
    ],
    ids=["empty", "no-path-column", "one-class"],
)
def test_a_csv_file_that_cannot_be_used_says_why(tmp_path: Path, text: str, message: str) -> None:
    root = tmp_path / "ds"
    make_images(root, train=1, val=0, test=0)
    (root / "train.csv").write_text(text)
    [problem] = check_data_layout(csv_cfg(root))
    assert message in problem


def test_a_relabelled_row_rebuilds_the_cache(tmp_path: Path) -> None:
    """The files did not change, their labels did: the cached labels must not be used."""
    root = tmp_path / "ds"
    rows = make_images(root, train=2, val=1, test=0)
    write_csv(root / "val.csv", rows["val"])
    write_csv(root / "train.csv", rows["train"])
    assert load_data(csv_cfg(root)).train.labels.tolist() == [0, 0, 1, 1, 2, 2]
    swapped = [(path, {"cat": "dog", "dog": "cat"}.get(cls, cls)) for path, cls in rows["train"]]
    write_csv(root / "train.csv", swapped)
    assert load_data(csv_cfg(root)).train.labels.tolist() == [1, 1, 0, 0, 2, 2]


def test_a_run_on_a_csv_list_is_scored_on_its_test_rows(tmp_path: Path, capsys) -> None:
    root = tmp_path / "ds"
    rows = make_images(root, train=4, val=2, test=3)
    for split in ("train", "val", "test"):
        write_csv(root / f"{split}.csv", rows[split])
    runs = tmp_path / "runs"
    preset = ["--set", 'data.dataset="csv"', "--set", f'data.root="{root}"', "--set", "data.batch_size=8"]
    assert main(["--headless", str(SMOKE), "--runs-dir", str(runs), *SET_TINY, *preset]) == 0
    [run_dir] = list(runs.iterdir())
    assert RunFolder(run_dir).read_val_paths() == tuple(str(root / path) for path, _ in rows["val"])
    capsys.readouterr()
    assert main(["--eval", str(run_dir)]) == 0
    assert "test.csv (test rows)" in capsys.readouterr().out
    [evaluation] = (run_dir / "evals").iterdir()
    assert '"images": 9' in (evaluation / "report.json").read_text()
