"""Imbalanced classes: class weights, the balanced sampler, focal loss, the metric that picks best.pt,
and `--check`'s class counts."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from tests.helpers import SMOKE, TINY, tiny_preset
from tui_trainer.cli import main
from tui_trainer.config import load_preset
from tui_trainer.config.schema import LossConfig
from tui_trainer.data.batches import TrainBatches
from tui_trainer.data.imageset import ImageSet
from tui_trainer.engine import trainer as trainer_module
from tui_trainer.engine.builders import ClassWeightsError, build_loss, class_weights
from tui_trainer.engine.checkpoint import load_checkpoint
from tui_trainer.engine.events import EpochFinished
from tui_trainer.engine.loops import ValidationResult
from tui_trainer.runs.folder import RunFolder
from tui_trainer.runs.follow import read_events
from tui_trainer.runs.launch import run_training

# --------------------------------------------------------------------------------------------- class weights


def test_balanced_class_weights_are_inverse_frequency_and_average_one_over_the_images() -> None:
    counts = [90, 9, 1, 0]  # the last class has no training images
    weights = class_weights(LossConfig(class_weights="balanced"), counts, ("a", "b", "c", "d"))
    assert weights is not None
    torch.testing.assert_close(weights, torch.tensor([100 / (3 * 90), 100 / (3 * 9), 100 / 3, 0.0]))
    assert float((weights * torch.tensor(counts, dtype=torch.float32)).sum()) == pytest.approx(sum(counts))
    assert class_weights(LossConfig(), counts, ("a", "b", "c", "d")) is None


def test_a_list_of_class_weights_of_the_wrong_length_names_the_classes() -> None:
    cfg = LossConfig(class_weights=[1.0, 2.0])
    with pytest.raises(ClassWeightsError, match=r"has 2 weights but the data has 3 classes.*: cat, dog, fox"):
        class_weights(cfg, [5, 5, 5], ("cat", "dog", "fox"))
    torch.testing.assert_close(class_weights(cfg, [5, 5], ("cat", "dog")), torch.tensor([1.0, 2.0]))


@pytest.mark.parametrize("name", ["cross_entropy", "label_smoothing_ce", "focal"])
def test_class_weights_multiply_each_images_loss_by_its_class_weight(name: str) -> None:
    torch.manual_seed(0)
    logits, target = torch.randn(6, 3), torch.tensor([0, 1, 2, 2, 1, 0])
    weights = torch.tensor([0.5, 2.0, 3.0])
    cfg = LossConfig(name=name)
    plain = build_loss(cfg, 3, reduction="none")(logits, target)
    weighted = build_loss(cfg, 3, weights=weights)(logits, target)
    torch.testing.assert_close(weighted, (plain * weights[target]).mean())
    soft = F.one_hot(target, 3).float() * 0.75 + 0.25 * F.one_hot((target + 1) % 3, 3).float()
    soft_plain = build_loss(cfg, 3, reduction="none")(logits, soft)
    torch.testing.assert_close(
        build_loss(cfg, 3, weights=weights)(logits, soft), (soft_plain * (soft @ weights)).mean()
    )


def test_a_weighted_training_loss_leaves_validation_unweighted(tmp_path: Path) -> None:
    weighted = run_training(
        tiny_preset("train.epochs=1", "loss.class_weights=[1, 9, 1, 1, 1, 1, 1, 1, 1, 1]"), runs_dir=tmp_path
    )
    plain = run_training(tiny_preset("train.epochs=1"), runs_dir=tmp_path)
    (w,), (p,) = RunFolder(weighted.run_dir).read_metrics(), RunFolder(plain.run_dir).read_metrics()
    assert w["train_loss"] != pytest.approx(p["train_loss"])  # the weights reached the training loss
    assert w["epoch"] == p["epoch"] == 1


def test_a_class_weight_list_that_does_not_fit_the_data_fails_the_run_with_the_classes(tmp_path: Path) -> None:
    outcome = run_training(tiny_preset("loss.class_weights=[1, 2]"), runs_dir=tmp_path)
    assert outcome.exit_code == 1
    status = RunFolder(outcome.run_dir).read_run_status()
    assert "loss.class_weights has 2 weights but the data has 10 classes" in status.error
    assert "circle" in status.error and "Traceback" not in status.error and status.hint


# --------------------------------------------------------------------------------------------- focal loss


def test_focal_loss_discounts_confident_images_and_is_cross_entropy_at_gamma_zero() -> None:
    logits = torch.tensor([[4.0, 0.0, 0.0], [0.2, 0.0, 0.1]])
    target = torch.tensor([0, 0])
    p = logits.softmax(dim=1)[:, 0]
    expected = -((1 - p) ** 2) * p.log()
    torch.testing.assert_close(
        build_loss(LossConfig(name="focal", gamma=2.0), 3, reduction="none")(logits, target), expected
    )
    torch.testing.assert_close(
        build_loss(LossConfig(name="focal", gamma=0.0), 3)(logits, target), F.cross_entropy(logits, target)
    )
    ce = F.cross_entropy(logits, target, reduction="none")
    focal = build_loss(LossConfig(name="focal"), 3, reduction="none")(logits, target)
    assert focal[0] / ce[0] < focal[1] / ce[1]  # the confident image is discounted far more


# --------------------------------------------------------------------------------------------- balanced sampler


def _skewed(counts: list[int]) -> ImageSet:
    labels = torch.cat([torch.full((n,), c, dtype=torch.int64) for c, n in enumerate(counts)])
    return ImageSet(torch.zeros(len(labels), 3, 4, 4, dtype=torch.uint8), labels, tuple(map(str, range(len(counts)))))


def test_the_balanced_sampler_draws_each_class_equally_often_fixed_by_seed_and_epoch() -> None:
    data = _skewed([200, 20, 10])  # 20:1
    batches = TrainBatches(data, 23, None, False, seed=5, sampler="balanced")
    order = batches.indices(1)
    assert len(order) == len(data)
    per_class = torch.bincount(data.labels[order], minlength=3)
    assert per_class.max() - per_class.min() <= 1  # 230 draws over 3 classes: 77, 77, 76
    rare = order[data.labels[order] == 2]
    assert torch.bincount(rare - 220).min() >= 7  # each of the 10 rare images repeats 7 or 8 times
    common = order[data.labels[order] == 0]
    assert len(set(common.tolist())) == len(common)  # the common class is subsampled, none twice
    again = TrainBatches(data, 23, None, False, seed=5, sampler="balanced")
    assert torch.equal(again.indices(1), order)  # a resumed run replays the epoch
    assert not torch.equal(batches.indices(2), order)
    labels = torch.cat([labels for _, labels in batches.epoch(1)])
    assert torch.equal(labels, data.labels[order])


# --------------------------------------------------------------------------------------------- best.pt


def _scripted_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    """Epoch 1 says "class 0" to everything (high accuracy, low macro F1, loss 0.5); epoch 2 gets the
    rare classes right and half of class 0 (lower accuracy, higher macro F1, loss 1.0)."""
    labels = torch.tensor([0] * 54 + list(range(1, 10)) + [1])  # 64 validation images, like TINY's
    second = labels.clone()
    second[:27] = 5
    script = iter([(torch.zeros_like(labels), 0.5), (second, 1.0)])

    def validate(model, batches, criterion, numerics, num_classes, tta=False) -> ValidationResult:
        predictions, loss = next(script)
        confusion = torch.bincount(labels * num_classes + predictions, minlength=num_classes**2)
        return ValidationResult(
            loss=loss,
            accuracy=float((predictions == labels).float().mean()),
            confusion=confusion.reshape(num_classes, num_classes),
            labels=labels,
            predictions=predictions,
            confidences=torch.ones(len(labels)),
            losses=torch.full((len(labels),), loss),
        )

    monkeypatch.setattr(trainer_module, "validate", validate)


@pytest.mark.parametrize(("metric", "best"), [("val_acc", 1), ("macro_f1", 2), ("balanced_acc", 2), ("val_loss", 1)])
def test_best_pt_is_the_epoch_the_chosen_metric_ranks_first(
    metric: str, best: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _scripted_validation(monkeypatch)
    outcome = run_training(tiny_preset(f'train.best_metric="{metric}"'), runs_dir=tmp_path)
    assert outcome.exit_code == 0
    folder = RunFolder(outcome.run_dir)
    assert folder.read_run_status().best_epoch == best
    assert load_checkpoint(folder.best_checkpoint)["epoch"] == best
    first, second = folder.read_metrics()
    assert first["macro_f1"] < second["macro_f1"] and first["balanced_acc"] < second["balanced_acc"]
    assert first["val_acc"] > second["val_acc"] and first["best_metric"] == metric
    followed = [e.epoch for e in read_events(outcome.run_dir) if isinstance(e, EpochFinished) and e.is_best]
    assert followed[-1] == best  # a follower (the console on a run folder) stars the same epoch


def test_the_headless_epoch_line_shows_the_metric_that_picks_best(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sets = [a for o in (*TINY, "train.epochs=1", 'train.best_metric="macro_f1"') for a in ("--set", o)]
    assert main(["--headless", str(SMOKE), *sets, "--runs-dir", str(tmp_path)]) == 0
    (line,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch 1/1")]
    assert "macro_f1 " in line


# --------------------------------------------------------------------------------------------- --check


def _folder(root: Path, counts: dict[str, int], split: str = "train") -> Path:
    for cls, n in counts.items():
        folder = root / split / cls
        folder.mkdir(parents=True)
        for i in range(n):
            Image.new("RGB", (8, 8), (i, 10, 20)).save(folder / f"{i}.png")
    return root


def _check(root: Path, *sets: str) -> int:
    overrides = ('data.dataset="imagefolder"', f'data.root="{root.as_posix()}"', "data.val_fraction=0.2", *sets)
    return main(["--check", str(SMOKE), *[a for o in overrides for a in ("--set", o)]])


def test_check_prints_the_class_counts_of_each_split_and_warns_over_ten_to_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _folder(tmp_path / "skewed", {"cat": 60, "dog": 5})
    assert _check(root) == 0
    out, err = capsys.readouterr()
    assert "#   train: 52 images in 2 classes: cat 48, dog 4" in out  # a fifth held out for val
    assert "#   val: 13 images in 2 classes: cat 12, dog 1" in out
    load = load_preset(SMOKE, ('data.dataset="imagefolder"', f'data.root="{root.as_posix()}"', "data.val_fraction=0.2"))
    from tui_trainer.data import load_data

    splits = load_data(load.data)
    assert torch.bincount(splits.train.labels).tolist() == [48, 4]  # the counts are those the run trains on
    assert torch.bincount(splits.val.labels).tolist() == [12, 1]
    assert "warning:" in err and "train is imbalanced: cat has 48 images, dog 4 (12:1, over 10:1)" in err
    assert 'loss.class_weights = "balanced"' in err


@pytest.mark.parametrize(("dogs", "warned"), [(3, False), (2, True)])
def test_check_warns_only_above_ten_to_one(
    dogs: int, warned: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _folder(tmp_path / "set", {"cat": 30, "dog": dogs})
    _folder(root / "val", {"cat": 1, "dog": 1}, split="")  # a val/ folder: nothing is held out of train/
    assert _check(root) == 0
    out, err = capsys.readouterr()
    assert f"#   train: {30 + dogs} images in 2 classes: cat 30, dog {dogs}" in out
    assert ("imbalanced" in err) == warned  # 30:3 is exactly 10:1; 30:2 is 15:1


def test_check_refuses_class_weights_that_do_not_fit_the_folders_classes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _folder(tmp_path / "three", {"cat": 3, "dog": 3, "fox": 3})
    assert _check(root, "loss.class_weights=[1.0, 2.0]") == 2
    err = capsys.readouterr().err
    assert "loss.class_weights: 2 weights but train/ has 3 classes (cat, dog, fox)" in err
    assert _check(root, "loss.class_weights=[1.0, 2.0, 3.0]") == 0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('"balancd"', "not a known value"),
        ("[1, true]", "expected a number"),
        ("[-1.0, 1.0]", "every class weight must be >= 0"),
        ("[0, 0]", "needs at least one weight > 0"),
    ],
)
def test_bad_class_weights_are_named_with_what_is_allowed(
    value: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--check", str(SMOKE), "--set", f"loss.class_weights={value}"]) == 2
    err = capsys.readouterr().err
    assert "loss.class_weights" in err and expected in err
    if "known" in expected:
        assert '"none", "balanced" or an array' in err  # what is allowed
