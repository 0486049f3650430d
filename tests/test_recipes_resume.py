"""Resume with the recipe options (EMA, mixup/cutmix, warmup_linear under accumulation, TTA) ends
exactly like an uninterrupted run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import tiny_preset
from tui_trainer.engine.events import EpochFinished, RunControl
from tui_trainer.runs.folder import RunFolder
from tui_trainer.runs.launch import run_training

VOLATILE = {"epoch_seconds", "train_images_per_second"}


@pytest.mark.parametrize(
    "options",
    [
        ("train.ema_decay=0.8", "train.ema_every=3"),
        ("augment.mixup_alpha=0.4", "augment.cutmix_alpha=1.0", "augment.mix_prob=0.8"),
        ('scheduler.name="warmup_linear"', "train.accumulation_steps=2", "train.tta=true"),
        (
            'data.sampler="balanced"',
            'loss.class_weights="balanced"',
            'loss.name="focal"',
            'train.best_metric="macro_f1"',
            "data.train_limit=150",  # uneven classes, so the sampler and the weights matter
        ),
    ],
    ids=["ema", "mixup-cutmix", "warmup-linear-accumulation-tta", "imbalance"],
)
def test_resume_equals_an_uninterrupted_run(tmp_path: Path, options: tuple[str, ...]) -> None:
    extra = ("train.epochs=3", "scheduler.t_max=3", *options)
    full = run_training(tiny_preset(*extra), runs_dir=tmp_path / "a")
    control = RunControl()

    def stop_after_first_epoch(event) -> None:
        if isinstance(event, EpochFinished) and event.epoch == 1:
            control.stop()

    stopped = run_training(
        tiny_preset(*extra), runs_dir=tmp_path / "b", listeners=[stop_after_first_epoch], control=control
    )
    assert stopped.state == "interrupted"
    resumed = run_training(tiny_preset(*extra), runs_dir=tmp_path / "b", resume=stopped.run_dir)
    assert resumed.state == "finished"
    expected = [{k: v for k, v in r.items() if k not in VOLATILE} for r in RunFolder(full.run_dir).read_metrics()]
    got = [{k: v for k, v in r.items() if k not in VOLATILE} for r in RunFolder(resumed.run_dir).read_metrics()]
    assert len(got) == 3 and got == expected


def test_the_fast_preset_trains_end_to_end_on_tiny_data(tmp_path: Path) -> None:
    from tests.helpers import REPO
    from tui_trainer.config import load_preset

    fast = REPO / "presets" / "cifar10-fast.toml"
    preset = load_preset(fast)
    assert (preset.model.name, preset.loss.smoothing, preset.scheduler.name) == ("resnet9", 0.2, "warmup_linear")
    assert preset.optimizer.nesterov and preset.train.tta and preset.train.ema_decay > 0
    tiny = load_preset(
        fast,
        (
            'data.dataset="synthetic"',
            "data.synthetic_train_size=128",
            "data.synthetic_val_size=32",
            "data.image_size=16",
            "data.batch_size=32",
            "model.width=4",
            "train.epochs=2",
            "train.ema_every=1",
            'train.device="cpu"',
        ),
    )
    outcome = run_training(tiny, runs_dir=tmp_path)
    assert outcome.state == "finished"
    records = RunFolder(outcome.run_dir).read_metrics()
    assert [r["val_weights"] for r in records] == ["ema", "ema"]


@pytest.mark.slow
def test_ema_and_mixup_train_under_torchrun(tmp_path: Path) -> None:
    import subprocess

    import torch

    from tests.test_distributed import DDP_OVERRIDES, _env, _headless

    options = (
        *DDP_OVERRIDES,
        "train.epochs=2",
        "train.ema_decay=0.9",
        "augment.mixup_alpha=0.4",
        "augment.cutmix_alpha=1.0",
        'scheduler.name="warmup_linear"',
        "train.tta=true",
    )
    runs = tmp_path / "runs"
    result = subprocess.run(
        _headless(runs, *options), env=_env(tmp_path), cwd=tmp_path, capture_output=True, text=True, timeout=240
    )
    assert result.returncode == 0, result.stdout + result.stderr
    [run_dir] = list(runs.iterdir())
    assert [r["val_weights"] for r in RunFolder(run_dir).read_metrics()] == ["ema", "ema"]
    assert torch.load(run_dir / "last.pt", weights_only=True)["weights"] == "ema"
