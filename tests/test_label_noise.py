"""The test issue 28 asks for: flip 5% of the labels of a small set, train briefly, and the review list
puts most of the flipped images at its top. A real run on an image folder, read back from its files."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.helpers import SMOKE, colour_overrides
from tui_trainer.config import load_preset
from tui_trainer.data.review_file import ReviewEntry, write_review
from tui_trainer.engine.events import SetupProgress
from tui_trainer.runs.folder import RunFolder
from tui_trainer.runs.label_review import find_label_issues, found_in_top
from tui_trainer.runs.launch import run_training
from tui_trainer.runs.predictions_file import read_saved_predictions

FLIPPED = 8  # 5% of the 160 validation images


def test_flipped_labels_come_first_in_the_review_list(tmp_path: Path, noisy_colours) -> None:
    root = tmp_path / "colours"
    flipped = noisy_colours(root, noisy="val", flipped=FLIPPED)
    review = root / "review.toml"
    write_review(review, [ReviewEntry("train/red/red-0.png", "exclude")])
    overrides = colour_overrides(root, f'data.review="{review.as_posix()}"')
    stages: list[str] = []

    def listen(event: object) -> None:
        if isinstance(event, SetupProgress):
            stages.append(event.stage)

    outcome = run_training(load_preset(SMOKE, overrides), runs_dir=tmp_path / "runs", listeners=[listen])
    assert outcome.exit_code == 0
    assert "review.toml: 0 relabelled, 1 excluded" in stages  # the run says what the review changed

    folder = RunFolder(outcome.run_dir)
    saved = read_saved_predictions(folder.predictions_file("last"))
    paths = folder.read_val_paths()
    assert saved.predictions.probabilities is not None and paths is not None
    flipped_index = np.flatnonzero([Path(p).relative_to(root).as_posix() in flipped for p in paths])
    assert len(flipped_index) == FLIPPED
    issues = find_label_issues(saved.predictions.labels, saved.predictions.probabilities)
    assert found_in_top(issues, flipped_index, 2 * FLIPPED) >= 6
