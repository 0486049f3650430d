"""`data.dataset = "hf"`: a Hugging Face dataset on disk (save_to_disk or parquet), read like a folder."""

from __future__ import annotations

import io
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

datasets = pytest.importorskip("datasets")

CLASSES = ("cat", "dog", "emu")


def png(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    base = np.array([(200, 40, 40), (40, 200, 40), (40, 40, 200)][seed % 3])
    pixels = np.clip(base + rng.integers(-40, 40, (16, 16, 3)), 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def make_set(root: Path, counts=(("train", 4), ("validation", 2), ("test", 2))):
    """The same images as root/folder/<split>/<class>/*.png and as a DatasetDict (ClassLabel names in a
    different order than sorted, so the ClassLabel's order is seen to win)."""
    names = ["emu", "cat", "dog"]
    features = datasets.Features({"img": datasets.Image(), "animal": datasets.ClassLabel(names=names)})
    splits = {}
    for split, count in counts:
        folder_split = "val" if split == "validation" else split
        images, labels = [], []
        for c, cls in enumerate(CLASSES):
            for i in range(count):
                data = png(3 * (100 * i + len(folder_split)) + c)
                file = root / "folder" / folder_split / cls / f"{i:03d}.png"
                file.parent.mkdir(parents=True, exist_ok=True)
                file.write_bytes(data)
                images.append({"bytes": data, "path": None})
                labels.append(names.index(cls))
        splits[split] = datasets.Dataset.from_dict({"img": images, "animal": labels}, features=features)
    return datasets.DatasetDict(splits)


def hf_cfg(root: Path | str, **kw) -> DataConfig:
    settings = {"dataset": "hf", "root": str(root), "image_size": 16, "hf_image_column": "img"}
    return DataConfig(**{**settings, "hf_label_column": "animal", **kw})


def test_a_saved_dataset_and_its_parquet_files_read_the_same_pixels_as_the_folder(tmp_path: Path) -> None:
    ds = make_set(tmp_path)
    ds.save_to_disk(str(tmp_path / "saved"))
    (tmp_path / "pq" / "data").mkdir(parents=True)
    for split, part in ds.items():
        part.to_parquet(str(tmp_path / "pq" / "data" / f"{split}-00000-of-00001.parquet"))
    folder = load_data(DataConfig(dataset="imagefolder", root=str(tmp_path / "folder"), image_size=16))
    order = torch.tensor([1, 2, 0])  # folder index (sorted names) -> ClassLabel index (emu, cat, dog)
    for root in (tmp_path / "saved", tmp_path / "pq"):
        data = load_data(hf_cfg(root))
        assert data.classes == ("emu", "cat", "dog")
        for a, b in ((data.train, folder.train), (data.val, folder.val)):
            assert torch.equal(a.images, b.images) and torch.equal(a.labels, order[b.labels])
        assert data.val_paths[0] == f"{root.name}[validation][0]"  # the confusion screen's caption
        assert check_data_layout(hf_cfg(root)) == []


def test_missing_columns_bad_rows_and_hub_names_are_named(tmp_path: Path) -> None:
    ds = make_set(tmp_path, counts=(("train", 2),))
    ds.save_to_disk(str(tmp_path / "saved"))
    problems = check_data_layout(hf_cfg(tmp_path / "saved", hf_image_column="picture"))
    assert 'train: no column "picture" (its columns: img, animal); data.hf_image_column names it' in problems[0]
    assert "is not a folder on this disk" in check_data_layout(hf_cfg("someone/beans"))[0]
    assert "save_to_disk" in check_data_layout(hf_cfg("someone/beans"))[0]
    broken = ds["train"].to_dict()
    broken["img"][3] = {"bytes": b"\x89PNG not really", "path": None}
    features = ds["train"].features
    datasets.Dataset.from_dict(broken, features=features).to_parquet(str(tmp_path / "pq" / "train.parquet"))
    with pytest.raises(DataError, match=r"pq\[train\]\[3\]"):
        load_data(hf_cfg(tmp_path / "pq", val_fraction=0.34))


def test_a_missing_datasets_library_says_what_to_install(tmp_path: Path, monkeypatch) -> None:
    import sys

    make_set(tmp_path, counts=(("train", 2),)).save_to_disk(str(tmp_path / "saved"))
    monkeypatch.setitem(sys.modules, "datasets", None)  # import datasets raises ImportError
    assert 'pip install "tui-trainer[hf]"' in check_data_layout(hf_cfg(tmp_path / "saved"))[0]


@pytest.mark.parametrize("storage", ["stream", "device"])
def test_a_run_on_a_saved_dataset_trains_and_is_scored_on_its_test_split(tmp_path: Path, capsys, storage) -> None:
    make_set(tmp_path).save_to_disk(str(tmp_path / "saved"))
    preset = ["--set", 'data.dataset="hf"', "--set", f'data.root="{tmp_path / "saved"}"', "--set", "data.batch_size=8"]
    preset += ["--set", f'data.storage="{storage}"', "--set", 'data.hf_image_column="img"']
    preset += ["--set", 'data.hf_label_column="animal"']
    assert main(["--check", str(SMOKE), *SET_TINY, *preset]) == 0
    assert "train: 12 images in 3 classes" in capsys.readouterr().out
    runs = tmp_path / "runs"
    assert main(["--headless", str(SMOKE), "--runs-dir", str(runs), *SET_TINY, *preset]) == 0
    [run_dir] = list(runs.iterdir())
    assert RunFolder(run_dir).read_val_paths() == tuple(f"saved[validation][{i}]" for i in range(6))
    capsys.readouterr()
    assert main(["--eval", str(run_dir)]) == 0
    [evaluation] = (run_dir / "evals").iterdir()
    assert '"images": 6' in (evaluation / "report.json").read_text()
