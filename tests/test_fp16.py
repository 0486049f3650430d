"""fp16 with a gradient scaler: which precision a device gets, skipped steps counted and reported,
the scaler's state in the checkpoint. The scaler path runs on the CPU (torch's GradScaler and
float16 autocast work there); the CUDA test at the end runs the real path where a GPU is present."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.helpers import tiny_preset
from tui_trainer.data import load_data
from tui_trainer.engine import device as device_module
from tui_trainer.engine.checkpoint import load_checkpoint
from tui_trainer.engine.device import Numerics, numerics_for
from tui_trainer.engine.events import BatchProgress, EpochFinished, RunControl
from tui_trainer.engine.health import Health, format_health
from tui_trainer.engine.trainer import Trainer
from tui_trainer.runs.folder import RunFolder
from tui_trainer.runs.recorder import RunRecorder

CPU_FP16 = Numerics(torch.device("cpu"), torch.float16, channels_last=False)
HIGH_SCALE = 2.0**24
"""A starting loss scale that overflows the first steps (the default, 65536, rarely does on tiny data)."""


@pytest.mark.parametrize("precision", ["fp16", "auto", "bf16"])
def test_cpu_trains_in_fp32_whatever_the_preset_asks(precision: str) -> None:
    numerics = numerics_for(torch.device("cpu"), precision, channels_last=True)
    assert numerics.precision == "fp32" and not numerics.scales_loss


@pytest.mark.parametrize(("native_bf16", "expected"), [(True, "bf16"), (False, "fp16")])
def test_auto_is_bf16_where_the_gpu_has_it_else_fp16(
    native_bf16: bool, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(device_module, "native_bf16", lambda device: native_bf16)
    numerics = numerics_for(torch.device("cuda"), "auto", channels_last=True)
    assert numerics.precision == expected and numerics.scales_loss == (expected == "fp16")
    assert numerics_for(torch.device("cuda"), "fp16", channels_last=False).scales_loss


def _trainer(preset, **kwargs) -> Trainer:
    trainer = Trainer(preset, load_data(preset.data, seed=preset.train.seed), CPU_FP16, **kwargs)
    assert trainer.grad_scaling is not None
    trainer.grad_scaling.scaler = torch.amp.GradScaler("cpu", init_scale=HIGH_SCALE)
    return trainer


def test_overflowing_steps_are_skipped_counted_and_reported(tmp_path: Path) -> None:
    events: list = []
    folder = RunFolder(tmp_path / "run")
    folder.path.mkdir()
    trainer = _trainer(tiny_preset(), listeners=[events.append, RunRecorder(folder, progress_interval=0.0)])
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.fit()
    skipped = [e.metrics["skipped_steps"] for e in events if isinstance(e, EpochFinished)]
    assert skipped[0] > 0 and sum(skipped) < 2 * len(trainer.train_batches)  # some steps skipped, not all
    assert any(not torch.equal(before[k], v) for k, v in trainer.model.state_dict().items())
    assert trainer.grad_scaling.scale() == HIGH_SCALE / 2 ** sum(skipped)  # halved at each skipped step
    last = [e for e in events if isinstance(e, BatchProgress) and e.epoch == 1][-1]
    assert last.health is not None and last.health.skipped_steps == skipped[0]
    lines = format_health(last.health)  # an input-bound warning may follow on a loaded machine
    line = next(text for text in lines if "loss scale" in text)
    assert f"{skipped[0]} steps skipped this epoch (gradient overflow)" in line
    record = folder.read_progress()  # epoch 2's last report, read back and checked
    assert record is not None and record["skipped_steps"] == skipped[1]
    assert Health.from_record(record).loss_scale == trainer.grad_scaling.scale()


def test_fp16_resume_restores_the_scaler_and_ends_like_an_uninterrupted_run(tmp_path: Path) -> None:
    preset = tiny_preset("train.epochs=3", "scheduler.t_max=3")
    full = _trainer(preset, last_checkpoint=tmp_path / "full.pt")
    full.fit()

    control = RunControl()
    stop = lambda event: control.stop() if isinstance(event, EpochFinished) else None  # noqa: E731
    first = _trainer(preset, last_checkpoint=tmp_path / "part.pt", listeners=[stop], control=control)
    first.fit()
    assert first.epochs_done == 1
    saved = load_checkpoint(tmp_path / "part.pt")["grad_scaler"]
    assert saved["scale"] == first.grad_scaling.scale() < HIGH_SCALE

    resumed = _trainer(preset, load_pretrained=False)  # starts at HIGH_SCALE until the checkpoint says otherwise
    resumed.load(tmp_path / "part.pt")
    resumed.fit()
    volatile = {"epoch_seconds", "train_images_per_second"}
    strip = lambda history: [{k: v for k, v in r.items() if k not in volatile} for r in history]  # noqa: E731
    assert strip(resumed.history) == strip(full.history)
    assert resumed.grad_scaling.scale() == full.grad_scaling.scale()


def test_fp32_and_bf16_runs_have_no_scaler_and_no_skipped_steps() -> None:
    preset = tiny_preset("train.epochs=1")
    trainer = Trainer(preset, load_data(preset.data), numerics_for(torch.device("cpu"), "fp16", False))
    assert trainer.grad_scaling is None
    trainer.fit()
    assert "skipped_steps" not in trainer.history[0] and trainer.state()["grad_scaler"] == {}


# --------------------------------------------------------------------------------------------- CUDA


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_fp16_on_cuda_trains_like_fp32_and_resumes_with_its_scaler(tmp_path: Path) -> None:
    from tests.helpers import SMOKE
    from tui_trainer.config import load_preset
    from tui_trainer.runs.launch import run_training

    cuda = ("train.device=cuda", "train.epochs=3", "scheduler.t_max=3")
    fp32 = run_training(load_preset(SMOKE, (*cuda, 'train.precision="fp32"')), runs_dir=tmp_path / "fp32")
    fp16 = run_training(load_preset(SMOKE, (*cuda, 'train.precision="fp16"')), runs_dir=tmp_path / "fp16")
    assert fp32.exit_code == fp16.exit_code == 0
    status = RunFolder(fp16.run_dir).read_run_status()
    assert status.precision == "fp16"
    acc16 = RunFolder(fp16.run_dir).read_metrics()[-1]["val_acc"]
    acc32 = RunFolder(fp32.run_dir).read_metrics()[-1]["val_acc"]
    assert acc16 > acc32 - 0.05
    checkpoint = load_checkpoint(RunFolder(fp16.run_dir).last_checkpoint)
    assert checkpoint["grad_scaler"]["scale"] > 0
    auto = numerics_for(torch.device("cuda"), "auto", channels_last=True)
    native = torch.cuda.get_device_capability()[0] >= 8
    assert auto.precision == ("bf16" if native else "fp16")
