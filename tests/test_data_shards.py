"""`data.dataset = "shards"`: tar shards in WebDataset's layout, read like the same images in a folder."""

from __future__ import annotations

import io
import tarfile
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


def png(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    base = np.array([(200, 40, 40), (40, 200, 40), (40, 40, 200)][seed % 3])
    pixels = np.clip(base + rng.integers(-40, 40, (16, 16, 3)), 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def add(tar: tarfile.TarFile, name: str, data: bytes, kind: bytes = tarfile.REGTYPE) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.type = len(data), kind
    tar.addfile(info, io.BytesIO(data))


def make_set(root: Path, counts=(("train", 4), ("val", 2), ("test", 2)), per_shard: int = 6) -> dict:
    """The same images as root/folder/<split>/<class>/*.png and as root/shards/<split>-NNNNNN.tar (key.png +
    key.cls, in the folder's order, `per_shard` samples a shard); returns split -> [(shard:member, class)]."""
    members: dict[str, list[tuple[str, int]]] = {}
    for split, count in counts:
        samples = []
        for c, cls in enumerate(CLASSES):
            for i in range(count):
                data = png(3 * (100 * i + len(split)) + c)
                file = root / "folder" / split / cls / f"{i:03d}.png"
                file.parent.mkdir(parents=True, exist_ok=True)
                file.write_bytes(data)
                samples.append((f"{cls}_{i:03d}", data, c))
        members[split] = []
        (root / "shards").mkdir(exist_ok=True)
        for n, start in enumerate(range(0, len(samples), per_shard)):
            shard = f"{split}-{n:06d}.tar"
            with tarfile.open(root / "shards" / shard, "w") as tar:
                for key, data, c in samples[start : start + per_shard]:
                    add(tar, f"{key}.png", data)
                    add(tar, f"{key}.cls", str(c).encode())
                    members[split].append((f"{shard}:{key}.png", c))
    return members


def shards_cfg(root: Path | str, **kw) -> DataConfig:
    return DataConfig(**{"dataset": "shards", "root": str(root), "image_size": 16, "classes": list(CLASSES), **kw})


def test_shards_read_the_same_pixels_and_labels_as_the_folder_and_name_their_members(tmp_path: Path) -> None:
    members = make_set(tmp_path)
    folder = load_data(DataConfig(dataset="imagefolder", root=str(tmp_path / "folder"), image_size=16))
    # A folder of shards, or a brace pattern naming them (train has 2 shards of 6 samples, val 1).
    for root in (tmp_path / "shards", tmp_path / "shards" / "{train-{000000..000001},val-000000}.tar"):
        shards = load_data(shards_cfg(root))
        assert shards.classes == folder.classes == CLASSES
        for a, b in ((shards.train, folder.train), (shards.val, folder.val)):
            assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
        assert shards.val_paths == tuple(name for name, _ in members["val"])  # the confusion screen's captions
        assert check_data_layout(shards_cfg(root)) == []


def test_integer_labels_without_class_names_become_classes_0_1_2(tmp_path: Path) -> None:
    make_set(tmp_path)
    data = load_data(DataConfig(dataset="shards", root=str(tmp_path / "shards"), image_size=16))
    assert data.classes == ("0", "1", "2")
    assert torch.bincount(data.train.labels).tolist() == [4, 4, 4]


def test_json_labels_are_read_from_their_label_field(tmp_path: Path) -> None:
    root = tmp_path / "shards"
    root.mkdir()
    with tarfile.open(root / "train-000000.tar", "w") as tar:
        for i in range(6):
            add(tar, f"s{i}.png", png(i))
            add(tar, f"s{i}.json", f'{{"label": "{CLASSES[i % 2]}", "source": "x"}}'.encode())
    data = load_data(DataConfig(dataset="shards", root=str(root), image_size=16, val_fraction=0.34))
    assert data.classes == ("cat", "dog")
    assert len(data.train) + len(data.val) == 6


def test_every_bad_member_is_named_by_shard_and_member_and_nothing_is_extracted(tmp_path: Path, capsys) -> None:
    root = tmp_path / "data" / "shards"
    root.mkdir(parents=True)
    with tarfile.open(root / "train-000000.tar", "w") as tar:
        for i in range(4):
            add(tar, f"ok{i}.png", png(i))
            add(tar, f"ok{i}.cls", str(i % 2).encode())
        add(tar, "../escape.png", png(9))
        add(tar, "/etc/absolute.png", png(9))
        add(tar, "link.png", b"", tarfile.SYMTYPE)
        add(tar, "nolabel.png", png(5))
        add(tar, "orphan.cls", b"1")
        add(tar, "bad\x1b]0;x\x07.png", png(6))
        add(tar, "bad\x1b]0;x\x07.cls", b"")
    with pytest.raises(DataError) as caught:
        load_data(shards_cfg(root))
    message = str(caught.value)
    for expected in (
        "train-000000.tar:../escape.png: member name is absolute or leads out",
        "train-000000.tar:/etc/absolute.png: member name is absolute",
        "train-000000.tar:link.png: not a plain file member",
        "train-000000.tar:nolabel.png: no nolabel.cls or nolabel.json label",
        "train-000000.tar:orphan: a label without an image",
        "train-000000.tar:bad\\x1b]0;x\\x07.cls: empty label",
    ):
        assert expected in message
    assert "\x1b" not in message
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["data", "shards", "train-000000.tar"]
    preset = ["--set", 'data.dataset="shards"', "--set", f'data.root="{root}"']
    assert main(["--check", str(SMOKE), *preset]) == 2
    assert "train-000000.tar:../escape.png" in capsys.readouterr().err


def test_an_undecodable_member_is_named_by_check_and_by_the_run(tmp_path: Path, capsys) -> None:
    root = tmp_path / "shards"
    root.mkdir()
    with tarfile.open(root / "train-000000.tar", "w") as tar:
        for i in range(6):
            add(tar, f"s{i}.png", png(i) if i != 3 else b"\x89PNG not really")
            add(tar, f"s{i}.cls", str(i % 2).encode())
    with pytest.raises(DataError, match=r"train-000000\.tar:s3\.png"):
        load_data(shards_cfg(root, val_fraction=0.34, classes=["cat", "dog"]))
    preset = ["--set", 'data.dataset="shards"', "--set", f'data.root="{root}"', "--set", "data.image_size=16"]
    assert main(["--check", str(SMOKE), *preset]) == 2
    assert "train-000000.tar:s3.png" in capsys.readouterr().err
    skipped = load_data(shards_cfg(root, val_fraction=0.34, bad_images="skip", classes=["cat", "dog"]))
    assert len(skipped.train) + len(skipped.val) == 5
    assert [name for name, _ in skipped.skipped] == ["train-000000.tar:s3.png"]


@pytest.mark.parametrize("storage", ["stream", "device"])
def test_a_run_on_shards_trains_checks_and_is_scored_on_its_test_shards(tmp_path: Path, capsys, storage) -> None:
    members = make_set(tmp_path)
    root = tmp_path / "shards"
    preset = ["--set", 'data.dataset="shards"', "--set", f'data.root="{root}"', "--set", "data.batch_size=8"]
    preset += ["--set", f'data.storage="{storage}"']
    assert main(["--check", str(SMOKE), *SET_TINY, *preset]) == 0
    assert "train: 12 images in 3 classes" in capsys.readouterr().out
    runs = tmp_path / "runs"
    assert main(["--headless", str(SMOKE), "--runs-dir", str(runs), *SET_TINY, *preset]) == 0
    [run_dir] = list(runs.iterdir())
    assert RunFolder(run_dir).read_val_paths() == tuple(name for name, _ in members["val"])
    capsys.readouterr()
    assert main(["--eval", str(run_dir)]) == 0
    assert "(test rows)" in capsys.readouterr().out
    [evaluation] = (run_dir / "evals").iterdir()
    assert '"images": 6' in (evaluation / "report.json").read_text()
