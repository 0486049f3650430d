"""A fork's history before its own first epoch (`lineage.read_lead_in`), read from its ancestors' folders:
what the fork's own screens draw before its epochs, whatever state those folders are in."""

from __future__ import annotations

import json
from pathlib import Path

from tui_trainer.runs.lineage import read_lead_in
from tui_trainer.runs.view import RunView


def run_folder(path: Path, epochs: range, parent: tuple[str, int] | None = None) -> Path:
    """A finished run folder with one record per epoch in `epochs` (val_acc: the epoch / 100)."""
    path.mkdir(parents=True)
    (path / "metrics.jsonl").write_text("".join(json.dumps({"epoch": e, "val_acc": e / 100}) + "\n" for e in epochs))
    status = {"format": 1, "state": "finished", "epochs_done": epochs[-1], "epochs_planned": epochs[-1]}
    if parent is not None:
        status["parent"] = {"run": parent[0], "epoch": parent[1]}
    (path / "status.json").write_text(json.dumps(status))
    return path


def epochs(records: list[dict]) -> list[int]:
    return [r["epoch"] for r in records]


def test_a_fork_of_a_fork_leads_in_with_every_ancestors_epochs_up_to_its_fork(tmp_path: Path) -> None:
    run_folder(tmp_path / "first", range(1, 6))  # epochs 1-5
    run_folder(tmp_path / "second", range(3, 8), parent=("first", 2))  # forked at 2: epochs 3-7
    third = run_folder(tmp_path / "third", range(6, 9), parent=("second", 5))  # forked at 5: epochs 6-8

    lead_in = read_lead_in(third)
    assert epochs(lead_in.epochs) == [1, 2, 3, 4, 5]
    assert [r["val_acc"] for r in lead_in.epochs] == [0.01, 0.02, 0.03, 0.04, 0.05]
    assert lead_in.parent is not None and (lead_in.parent.run.name, lead_in.parent.epoch) == ("second", 5)
    assert epochs(RunView.from_run_dir(third).lead_in.epochs) == [1, 2, 3, 4, 5]  # a fork resumed or reopened


def test_parents_that_name_each_other_end_the_lead_in(tmp_path: Path) -> None:
    run_folder(tmp_path / "a", range(3, 5), parent=("b", 2))
    b = run_folder(tmp_path / "b", range(3, 5), parent=("a", 4))

    assert epochs(read_lead_in(b).epochs) == [3, 4]  # a's own epochs, then the loop back to b is not followed


def test_a_damaged_parent_gives_the_fork_alone_and_says_why(tmp_path: Path) -> None:
    parent = run_folder(tmp_path / "parent", range(1, 4))
    child = run_folder(tmp_path / "child", range(3, 5), parent=("parent", 2))
    (parent / "metrics.jsonl").write_text('{"epoch": "two"}\n')

    lead_in = read_lead_in(child)
    assert lead_in.epochs == [] and lead_in.problem == "cannot be read"
    assert read_lead_in(parent).parent is None  # not a fork: nothing before its first epoch
