"""Paths are shown as a user reads them: without `.` or `..`, relative to the current folder when
they lie below it; files that outlive the folder (a CSV, bad_images.txt) hold them absolute."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest

from tui_trainer.data.bad_images import bad_images_message, bad_images_report
from tui_trainer.runs.misclassified import misclassified_csv
from tui_trainer.text import short_path, source_path


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The current folder for the test: `tmp_path`, with the data beside an `x/` sub-folder."""
    (tmp_path / "x").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_path_is_shown_without_dotdot_and_relative_below_the_current_folder(here: Path) -> None:
    assert short_path(f"{here}/x/../data/eight/IMG_1197.jpg") == "data/eight/IMG_1197.jpg"
    assert short_path("x/../data/./a.png") == "data/a.png"
    assert short_path(f"{here}/../elsewhere/a.png") == str(here.parent / "elsewhere" / "a.png")  # not `../`
    assert short_path(here) == "."
    assert short_path(f"{here}/x/../data/a.png", relative=False) == str(here / "data" / "a.png")
    assert source_path("shard-000.tar:eight/a.jpg") == "shard-000.tar:eight/a.jpg"  # a member is no path here


def test_misclassified_csv_holds_each_file_absolute_without_dotdot(here: Path) -> None:
    paths = [f"{here}/x/../data/{name}.png" for name in ("a", "b", "c")]
    text, rows = misclassified_csv(
        np.array([0, 1, 1]), np.array([1, 1, 0]), np.full(3, 0.9), np.array([1.0, 0.1, 2.0]), ("cat", "dog"), paths
    )
    assert rows == 2
    assert [row["path"] for row in csv.DictReader(io.StringIO(text))] == [
        str(here / "data" / "c.png"),
        str(here / "data" / "a.png"),
    ]


def test_bad_images_are_listed_without_dotdot(here: Path) -> None:
    bad = [(f"{here}/x/../data/eight/broken.jpg", "truncated JPEG")]
    assert bad_images_report(bad) == f"{here}/data/eight/broken.jpg\ttruncated JPEG\n"
    assert "  data/eight/broken.jpg: truncated JPEG" in bad_images_message(bad).splitlines()
