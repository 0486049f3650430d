"""Label review decisions on images that are not files: tar shard members and Hugging Face dataset rows.

Each is named the way the run records it (`train-000000.tar:cat_0.png`, `saved[validation][1]`), decided
through the review session the review list uses, and honoured by the next listing (the run, `--check`,
the class counts and `--eval` all list through it); a changed image's decision is skipped and counted.
"""

from __future__ import annotations

import io
import shutil
import tarfile
from pathlib import Path

import pytest
from PIL import Image

from tests.helpers import SMOKE
from tui_trainer.cli import main
from tui_trainer.config.loading import tomllib  # tomli before Python 3.11
from tui_trainer.config.schema import DataConfig
from tui_trainer.data.listers import list_files
from tui_trainer.data.listing import Listing
from tui_trainer.runs.review_session import ReviewSession

CLASSES = ("cat", "dog", "emu")


def png(shade: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (shade, 255 - shade, 90)).save(out, format="PNG")
    return out.getvalue()


def counts(listing: Listing | None, split: str) -> list[int]:
    assert listing is not None
    labels = listing.splits[split].labels
    return [labels.count(c) for c in range(len(CLASSES))]


# ---- tar shards ---------------------------------------------------------------------------------


def write_shard(file: Path, samples: list[tuple[str, bytes, int]]) -> None:
    with tarfile.open(file, "w") as tar:
        for key, data, label in samples:
            for name, payload in ((f"{key}.png", data), (f"{key}.cls", str(label).encode())):
                info = tarfile.TarInfo(name)
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))


def make_shards(root: Path, changed: str = "") -> Path:
    """train-000000.tar and val-000000.tar, two samples of each class (`changed`: that key's image differs)."""
    root.mkdir(parents=True, exist_ok=True)
    for split, base in (("train", 0), ("val", 100)):
        samples = [
            (key, png(base + 10 * c + i + (50 if key == changed else 0)), c)
            for c, cls in enumerate(CLASSES)
            for i in range(2)
            for key in [f"{cls}_{i}"]
        ]
        write_shard(root / f"{split}-000000.tar", samples)
    return root


def shards_cfg(root: Path, review: Path | str = "") -> DataConfig:
    return DataConfig(dataset="shards", root=str(root), image_size=8, classes=list(CLASSES), review=str(review))


def test_decisions_on_shard_members_go_beside_the_shards_and_the_next_listing_honours_them(tmp_path: Path) -> None:
    root = make_shards(tmp_path / "shards")
    session = ReviewSession.for_data(shards_cfg(root), tmp_path / "run" / "review.toml")
    assert session.file == root / "review.toml" and not session.problem
    session.decide("train-000000.tar:cat_0.png", "relabel", label="dog", given="cat")
    session.decide("train-000000.tar:emu_1.png", "exclude", given="emu")
    session.decide("val-000000.tar:dog_0.png", "exclude", given="dog")
    assert session.decision("train-000000.tar:cat_0.png").label == "dog"  # the list shows it
    written = tomllib.loads((root / "review.toml").read_text(encoding="utf-8"))["image"]
    assert {(e["shard"], e["key"], e["decision"]) for e in written} == {
        ("train-000000.tar", "cat_0", "relabel"),
        ("train-000000.tar", "emu_1", "exclude"),
        ("val-000000.tar", "dog_0", "exclude"),
    }
    assert all(len(e["blake2b"]) == 32 and "path" not in e for e in written)

    listing = list_files(shards_cfg(root, root / "review.toml"))
    assert counts(listing, "train") == [1, 3, 1]  # a cat became a dog, an emu left
    assert counts(listing, "val") == [2, 1, 2]
    assert listing is not None and listing.notes == ("review.toml: 1 relabelled, 2 excluded",)
    assert (root / "train-000000.tar").stat().st_size > 0  # the shards are never rewritten


def test_a_shard_image_changed_since_its_review_keeps_its_label_and_is_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_shards(tmp_path / "shards")
    session = ReviewSession.for_data(shards_cfg(root), tmp_path / "run" / "review.toml")
    session.decide("train-000000.tar:cat_0.png", "relabel", label="dog")
    session.decide("train-000000.tar:cat_1.png", "exclude")
    make_shards(root, changed="cat_0")  # the shard rewritten with another image under the same key

    listing = list_files(shards_cfg(root, root / "review.toml"))
    assert counts(listing, "train") == [1, 2, 2]  # cat_0 stays a cat; cat_1 is still left out
    assert listing is not None and listing.notes == (
        "review.toml: 0 relabelled, 1 excluded; 1 decision skipped: the image changed",
        "train-000000.tar:cat_0: the image changed since it was reviewed: not applied",
    )
    sets = (
        'data.dataset="shards"',
        'data.classes=["cat", "dog", "emu"]',
        f'data.root="{root.as_posix()}"',
        f'data.review="{(root / "review.toml").as_posix()}"',
    )
    assert main(["--check", str(SMOKE), *[a for s in sets for a in ("--set", s)]]) == 0
    assert "# review.toml: 0 relabelled, 1 excluded; 1 decision skipped: the image changed" in capsys.readouterr().out


def test_an_entry_for_a_shard_the_data_does_not_have_is_named_not_opened(tmp_path: Path) -> None:
    root = make_shards(tmp_path / "shards")
    elsewhere = make_shards(tmp_path / "elsewhere")
    (elsewhere / "other-000000.tar").write_bytes((elsewhere / "train-000000.tar").read_bytes())
    review = tmp_path / "review.toml"
    review.write_text('[[image]]\nshard = "other-000000.tar"\nkey = "cat_0"\ndecision = "exclude"\n', encoding="utf-8")
    listing = list_files(shards_cfg(root, review))
    assert counts(listing, "train") == [2, 2, 2]
    assert listing is not None and listing.notes[1] == "other-000000.tar:cat_0: not in the data: not applied"


# ---- a Hugging Face dataset ---------------------------------------------------------------------


def save_dataset(folder: Path, changed_row: int = -1) -> Path:
    """A DatasetDict saved to disk: train (2 of each class) and validation (1 of each)."""
    datasets = pytest.importorskip("datasets")
    features = datasets.Features({"img": datasets.Image(), "label": datasets.ClassLabel(names=list(CLASSES))})
    splits = {}
    for split, per_class, base in (("train", 2, 0), ("validation", 1, 100)):
        labels = [c for c in range(len(CLASSES)) for _ in range(per_class)]
        images = [
            {"bytes": png(base + 10 * row + (50 if row == changed_row else 0)), "path": None}
            for row in range(len(labels))
        ]
        splits[split] = datasets.Dataset.from_dict({"img": images, "label": labels}, features=features)
    datasets.DatasetDict(splits).save_to_disk(str(folder))
    return folder


def hf_cfg(root: Path, review: Path | str = "") -> DataConfig:
    return DataConfig(dataset="hf", root=str(root), image_size=8, hf_image_column="img", review=str(review))


def test_decisions_on_dataset_rows_go_to_the_run_folder_and_the_next_listing_honours_them(tmp_path: Path) -> None:
    root = save_dataset(tmp_path / "saved")
    fallback = tmp_path / "run" / "review.toml"
    fallback.parent.mkdir()
    session = ReviewSession.for_data(hf_cfg(root), fallback)
    assert session.file == fallback  # no folder of the user's: the run's, and the screen says how to apply it
    assert f'set data.review = "{fallback}"' in session.note
    session.decide("saved[train][0]", "relabel", label="emu", given="cat")
    session.decide("saved[train][3]", "exclude", given="dog")
    session.decide("saved[validation][2]", "fine", given="emu")
    written = tomllib.loads(fallback.read_text(encoding="utf-8"))["image"]
    assert [(e["dataset"], e["split"], e["row"], e["decision"]) for e in written] == [
        ("saved", "train", 0, "relabel"),
        ("saved", "train", 3, "exclude"),
        ("saved", "validation", 2, "fine"),
    ]
    assert not (root / "review.toml").exists()

    listing = list_files(hf_cfg(root, fallback))
    assert counts(listing, "train") == [1, 1, 3]
    assert counts(listing, "val") == [1, 1, 1]
    assert listing is not None and listing.notes == ("review.toml: 1 relabelled, 1 excluded, 1 checked and kept",)
    assert ReviewSession.for_data(hf_cfg(root, fallback), tmp_path / "x.toml").decision("saved[train][3]") is not None


def test_a_dataset_row_whose_image_changed_keeps_its_label_and_is_counted(tmp_path: Path) -> None:
    root = save_dataset(tmp_path / "saved")
    review = tmp_path / "review.toml"
    session = ReviewSession.for_data(hf_cfg(root, review), tmp_path / "run" / "review.toml")
    assert session.file == review  # data.review names where decisions go
    session.decide("saved[train][0]", "relabel", label="emu")
    session.decide("saved[train][1]", "exclude")
    shutil.rmtree(root)
    save_dataset(root, changed_row=0)  # the dataset made again: row 0 is another image now

    listing = list_files(hf_cfg(root, review))
    assert counts(listing, "train") == [1, 2, 2]  # row 0 stays a cat; row 1 is still left out
    assert listing is not None and listing.notes == (
        "review.toml: 0 relabelled, 1 excluded; 1 decision skipped: the image changed",
        "saved[train][0]: the image changed since it was reviewed: not applied",
    )
