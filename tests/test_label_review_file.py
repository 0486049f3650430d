"""The label review file (`data.review`): round trip, hostile paths, and how a run and `--check` honour it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from PIL import Image

from tests.helpers import SMOKE
from tui_trainer.cli import main
from tui_trainer.config.schema import DataConfig
from tui_trainer.data import check_data_layout, load_data
from tui_trainer.data.listers import list_files
from tui_trainer.data.listing import LayoutError
from tui_trainer.data.review_file import ReviewEntry, file_hash, read_review, review_text, write_review

# --------------------------------------------------------------------------------------------- review file


CLASSES = ("cat", "dog", "fox")


def _colour(cls: int, i: int) -> tuple[int, int, int]:
    return (40 + 80 * cls, 10 * i, 200 - 60 * cls)


def make_folder(root: Path, per_class: int = 4, val_per_class: int = 2) -> Path:
    for c, cls in enumerate(CLASSES):
        for split, count in (("train", per_class), ("val", val_per_class)):
            folder = root / split / cls
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                Image.new("RGB", (8, 8), _colour(c, i)).save(folder / f"{i}.png")
    return root


def cfg_for(root: Path, review: Path | str, **kw) -> DataConfig:
    return DataConfig(dataset="imagefolder", root=str(root), image_size=8, review=str(review), **kw)


def test_review_file_round_trips_every_field_and_odd_names(tmp_path: Path) -> None:
    entries = [
        ReviewEntry("train/cat/0.png", "relabel", "dog", "cat", "ab" * 16),
        ReviewEntry('val/dog/a "quoted" name\t.png', "exclude", given="dog"),
        ReviewEntry("train/fox/ünïcode.png", "fine"),
    ]
    path = tmp_path / "review.toml"
    write_review(path, entries)
    assert read_review(path) == {e.path: e for e in entries}
    assert review_text(entries).startswith("# tui-trainer label review")


def test_a_run_trains_on_the_reviewed_labels_and_says_what_changed(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "data")
    review = root / "review.toml"
    write_review(
        review,
        [
            ReviewEntry("train/cat/0.png", "relabel", "dog", blake2b=file_hash(root / "train/cat/0.png")),
            ReviewEntry("train/cat/1.png", "exclude"),
            ReviewEntry("val/fox/1.png", "exclude"),
            ReviewEntry("train/fox/0.png", "fine"),
        ],
    )
    splits = load_data(cfg_for(root, review))
    assert torch.bincount(splits.train.labels).tolist() == [2, 5, 4]  # cat lost one to dog and one left out
    assert torch.bincount(splits.val.labels).tolist() == [2, 2, 1]
    assert not any(path.endswith("val/fox/1.png") for path in splits.val_paths)
    assert splits.notes == ("review.toml: 1 relabelled, 2 excluded, 1 checked and kept",)
    assert (root / "train/cat/1.png").exists()  # never moved or deleted


def test_entries_for_missing_or_changed_files_are_named_not_applied(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "data")
    review = tmp_path / "elsewhere.toml"
    write_review(
        review,
        [
            ReviewEntry("train/cat/gone.png", "exclude"),
            ReviewEntry("train/dog/0.png", "relabel", "fox", blake2b="0" * 32),  # the file changed since
            ReviewEntry("train/dog/1.png", "exclude"),
        ],
    )
    listing = list_files(cfg_for(root, review))
    assert listing is not None
    assert listing.notes == (
        "elsewhere.toml: 0 relabelled, 1 excluded; 1 decision skipped: the image changed; 1 entry not applied",
        "train/dog/0.png: the file changed since it was reviewed: not applied",
        "train/cat/gone.png: not in the data: not applied",
    )
    assert listing.splits["train"].labels.count(1) == 3  # dog/0.png stays a dog


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("path = '/etc/passwd'", "path '/etc/passwd' is an absolute path"),
        ("path = '../outside/x.png'", "path '../outside/x.png' climbs out of the data folder"),
        ("path = 'train/../../x.png'", "climbs out of the data folder"),
        ("path = 'train\\\\cat\\\\0.png'", "is not a relative path with / separators"),
        ("path = ''", "is not a relative path"),
        # a tar shard's sample, a Hugging Face dataset's row: names to match, never paths to open
        ("shard = '../train-000000.tar'\nkey = 'cat_0'", "shard '../train-000000.tar' climbs out"),
        ("shard = '/data/train-000000.tar'\nkey = 'cat_0'", "is an absolute path"),
        ("shard = 'sub/train-000000.tar'\nkey = 'cat_0'", "is not a shard's file name"),
        ("shard = 'train-000000.tar'", 'needs key = "<sample key>"'),
        ("shard = 'train-000000.tar'\nkey = 'cat_0'\npath = 'x.png'", "names its image by one of"),
        ("dataset = 'saved'\nsplit = 'train'", "a dataset row needs dataset, split and row"),
        ("dataset = 'saved'\nsplit = 'train'\nrow = '0; rm -rf /'", "row is a row number"),
    ],
)
def test_a_review_file_cannot_name_images_outside_the_data(tmp_path: Path, entry: str, problem: str) -> None:
    root = make_folder(tmp_path / "data")
    review = tmp_path / "review.toml"
    review.write_text(f"[[image]]\n{entry}\ndecision = 'exclude'\n", encoding="utf-8")
    with pytest.raises(LayoutError, match=r"review\.toml: image 1: ") as caught:
        list_files(cfg_for(root, review))
    assert problem in str(caught.value)


def test_a_link_out_of_the_data_folder_is_not_relabelled(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "data")
    outside = tmp_path / "outside.png"
    Image.new("RGB", (8, 8), (1, 2, 3)).save(outside)
    os.symlink(outside, root / "train" / "cat" / "link.png")
    review = tmp_path / "review.toml"
    write_review(review, [ReviewEntry("train/cat/link.png", "relabel", "dog")])
    listing = list_files(cfg_for(root, review))
    assert listing is not None and "train/cat/link.png: leads out of the data folder through a link" in listing.notes[1]
    assert listing.splits["train"].labels.count(0) == 5


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[image]\n", "is not a TOML file"),
        ("image = 3\n", "image must be an array of tables"),
        ("[[image]]\npath = 'train/cat/0.png'\ndecision = 'delete'\n", "decision 'delete' is not one of"),
        ("[[image]]\npath = 'train/cat/0.png'\ndecision = 'relabel'\n", 'needs label = "<class>"'),
        ("[[image]]\npath = 'train/cat/0.png'\ndecision = 'exclude'\ncommand = 'rm'\n", "unknown key 'command'"),
        ("[[image]]\npath = 'train/cat/0.png'\ndecision = 'relabel'\nlabel = 'wolf'\n", "classes the data does not"),
    ],
)
def test_a_malformed_review_file_is_one_named_problem(tmp_path: Path, text: str, message: str) -> None:
    root = make_folder(tmp_path / "data")
    review = tmp_path / "review.toml"
    review.write_text(text, encoding="utf-8")
    problems = check_data_layout(cfg_for(root, review))
    assert len(problems) == 1 and "data.review:" in problems[0] and message in problems[0]
    assert "does not exist" in check_data_layout(cfg_for(root, tmp_path / "none.toml"))[0]
    synthetic = DataConfig(dataset="csv", root=str(root), review=str(review))
    assert synthetic.review  # csv is reviewable; synthetic data is not (no files)


def test_check_counts_the_reviewed_labels_and_says_what_changed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_folder(tmp_path / "data")
    review = root / "review.toml"
    write_review(
        review,
        [
            ReviewEntry("train/cat/0.png", "relabel", "dog"),
            ReviewEntry("train/cat/1.png", "exclude"),
            ReviewEntry("train/cat/nope.png", "exclude"),
        ],
    )
    sets = ('data.dataset="imagefolder"', f'data.root="{root.as_posix()}"', f'data.review="{review.as_posix()}"')
    assert main(["--check", str(SMOKE), *[a for s in sets for a in ("--set", s)]]) == 0
    out, err = capsys.readouterr()
    assert "# review.toml: 1 relabelled, 1 excluded; 1 entry not applied" in out
    assert "#   train: 11 images in 3 classes: cat 2, dog 5, fox 4" in out
    assert "data.review: train/cat/nope.png: not in the data: not applied" in err
