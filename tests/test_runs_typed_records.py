"""The typed run-folder records, and one per-class figure wherever a class's accuracy is shown."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import tiny_preset
from tui_trainer.engine.class_figures import class_report
from tui_trainer.engine.events import EpochFinished
from tui_trainer.runs.folder import RunFolder
from tui_trainer.runs.launch import run_training
from tui_trainer.runs.records import EpochRecord, RunStatus
from tui_trainer.runs.view import RunView


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    outcome = run_training(tiny_preset(), runs_dir=tmp_path_factory.mktemp("runs"))
    assert outcome.state == "finished"
    return outcome.run_dir


def test_a_class_accuracy_is_the_same_number_in_the_records_the_chart_and_the_matrix(run_dir: Path) -> None:
    folder = RunFolder(run_dir)
    last = folder.read_epochs()[-1]
    saved = folder.read_predictions("last")
    recall = class_report(saved["confusion"]).recall.tolist()
    assert saved["epoch"] == last.epoch and len(last.per_class_acc) == len(saved["classes"])
    assert list(last.per_class_acc) == pytest.approx(recall)
    assert RunView.from_run_dir(run_dir).per_class_accuracy[-1] == pytest.approx(recall)
    assert RunView.from_predictions(run_dir).per_class_accuracy[-1] == pytest.approx(recall)


def test_an_epoch_without_per_class_figures_gets_them_from_its_matrix() -> None:
    confusion = np.array([[3, 1], [0, 4]])
    history = RunView()
    history.add_epoch(
        EpochFinished(
            epoch=1, epochs=2, metrics={"val_acc": 0.875}, confusion=confusion, predictions=None, is_best=True
        )  # type: ignore[arg-type]
    )
    assert history.per_class_accuracy == [pytest.approx([0.75, 1.0])]


def test_the_typed_status_holds_what_the_run_wrote(run_dir: Path) -> None:
    folder = RunFolder(run_dir)
    record, status = folder.read_status(), folder.read_run_status()
    assert status.state == "finished" and status.pid == os.getpid() and status.epochs_done == 2
    assert status.best_epoch == record["best_epoch"] and status.best_val_acc == record["best_val_acc"]
    assert status.classes == tuple(record["classes"]) and status.started_at == record["started_at"]
    assert "storage" in status.extra  # a key the typed record does not name is kept, not dropped


def test_typed_records_read_a_hand_written_record_without_guessing() -> None:
    status = RunStatus.from_record({"state": "running", "pid": True, "epochs_planned": None})
    assert status.pid is None and status.epochs_planned == 0 and status.error == "" and status.classes is None
    epoch = EpochRecord.from_record({"val_acc": 1, "per_class_acc": [1, 0.5], "note": "x"}, position=2)
    assert epoch.epoch == 3 and epoch.val_acc == 1.0 and epoch.train_loss is None
    assert epoch.per_class_acc == (1.0, 0.5) and epoch.extra == {"note": "x"}
