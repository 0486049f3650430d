"""Each sample's class probabilities travel from the validation loop into the run's and an
evaluation's predictions files (files written before they did still open), and what they say about
the confidence reaches each epoch's record, report.json and `tui-trainer eval`'s summary."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from tests.helpers import tiny_preset
from tui_trainer.cli import main
from tui_trainer.engine.calibration import BINS, reliability, separation
from tui_trainer.engine.device import numerics_for
from tui_trainer.engine.loops import validate
from tui_trainer.runs.eval_folder import list_evals
from tui_trainer.runs.evaluate import evaluate_run
from tui_trainer.runs.folder import RunFolder
from tui_trainer.runs.launch import run_training
from tui_trainer.runs.predictions_file import read_saved_predictions

CPU = numerics_for(torch.device("cpu"), "fp32", channels_last=False)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    outcome = run_training(tiny_preset("train.epochs=1", "scheduler.t_max=1"), runs_dir=tmp_path_factory.mktemp("runs"))
    assert outcome.exit_code == 0, outcome.error
    return outcome.run_dir


def _batches(tta_seed: int = 1) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(tta_seed)
    return [(torch.randn(6, 3, 4, 4, generator=g), torch.randint(0, 5, (6,), generator=g)) for _ in range(2)]


@pytest.mark.parametrize("tta", [False, True])
def test_validate_keeps_the_softmax_of_every_sample_in_class_order(tta: bool) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 5))
    batches = _batches()
    result = validate(model, batches, nn.CrossEntropyLoss(reduction="none"), CPU, 5, tta=tta)
    with torch.no_grad():
        logits = torch.cat([model(x) for x, _ in batches])
        if tta:
            logits = (logits + torch.cat([model(torch.flip(x, dims=[3])) for x, _ in batches])) / 2
    assert result.probabilities is not None and result.probabilities.dtype == torch.float16
    torch.testing.assert_close(result.probabilities.float(), logits.softmax(dim=1), atol=1e-3, rtol=1e-3)
    assert torch.equal(result.probabilities.float().argmax(dim=1), result.predictions)


def test_a_run_records_each_samples_probabilities_beside_its_prediction(run_dir: Path) -> None:
    for which in ("last", "best"):
        saved = read_saved_predictions(RunFolder(run_dir).predictions_file(which)).predictions
        probabilities = saved.probabilities
        assert probabilities is not None and probabilities.dtype == np.float16
        assert probabilities.shape == (len(saved.labels), len(saved.classes))
        np.testing.assert_allclose(probabilities.astype(np.float32).sum(axis=1), 1.0, atol=1e-2)
        assert np.array_equal(probabilities.argmax(axis=1), saved.predictions)
        np.testing.assert_allclose(probabilities.max(axis=1), saved.confidences, atol=1e-3)


def test_an_evaluation_records_the_probabilities_too(run_dir: Path) -> None:
    evaluation = evaluate_run(run_dir)
    saved = read_saved_predictions(evaluation.folder.predictions_file).predictions
    best = read_saved_predictions(RunFolder(run_dir).predictions_file("best")).predictions
    assert saved.probabilities is not None
    np.testing.assert_allclose(saved.probabilities, best.probabilities, atol=1e-3)  # the same images, same model


def _write(path: Path, **extra: np.ndarray) -> Path:
    labels = np.array([0, 1, 1], dtype=np.int64)
    np.savez(
        path,
        labels=labels,
        predictions=labels,
        confidences=np.full(3, 0.9, np.float32),
        losses=np.full(3, 0.1, np.float32),
        classes=np.array(["a", "b"]),
        epoch=np.array(1),
        **extra,
    )
    return path


def test_a_predictions_file_from_before_probabilities_still_opens(tmp_path: Path) -> None:
    saved = read_saved_predictions(_write(tmp_path / "predictions-last.npz"))
    assert saved.predictions.probabilities is None
    assert saved.predictions.labels.tolist() == [0, 1, 1]


def test_probabilities_of_the_wrong_shape_are_refused_naming_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "predictions-last.npz", probabilities=np.full((3, 3), 0.3, np.float16))
    with pytest.raises(ValueError, match=r"predictions-last\.npz: probabilities .* expected \(3, 2\)"):
        read_saved_predictions(path)


def test_each_epoch_record_holds_the_calibration_error_and_macro_auc(run_dir: Path) -> None:
    record = RunFolder(run_dir).read_metrics()[-1]
    saved = read_saved_predictions(RunFolder(run_dir).predictions_file("last")).predictions
    correct = saved.labels == saved.predictions
    assert record["val_ece"] == pytest.approx(reliability(saved.confidences, correct).ece)
    ranked = separation(saved.probabilities, saved.labels)
    assert record["val_roc_auc"] == pytest.approx(ranked.macro_auc)
    assert record["val_average_precision"] == pytest.approx(ranked.macro_ap)


def test_eval_report_says_how_honest_the_confidence_is(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(run_dir)]) == 0
    printed = capsys.readouterr().out
    folder = list_evals(run_dir)[-1]
    report = folder.read_report()
    saved = read_saved_predictions(folder.predictions_file).predictions
    calibration = report["calibration"]
    assert set(calibration) == {"ece", "mce", "bins"} and len(calibration["bins"]) == BINS
    assert set(calibration["bins"][0]) == {"lower", "upper", "count", "accuracy", "confidence"}
    assert sum(b["count"] for b in calibration["bins"]) == report["images"]
    ranked = separation(saved.probabilities, saved.labels)
    assert report["roc_auc"] == {"macro": pytest.approx(ranked.macro_auc), "per_class": pytest.approx(ranked.auc)}
    assert report["average_precision"]["per_class"] == pytest.approx(ranked.ap)
    assert len(report["roc_auc"]["per_class"]) == len(report["classes"])
    assert f"ECE {calibration['ece'] * 100:.1f}%" in printed
    assert f"macro AUC {report['roc_auc']['macro']:.3f}" in printed
