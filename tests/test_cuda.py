"""The CUDA paths: augmentation, bf16 + channels_last, checkpoints across devices, compile, no host copies.

Every test here is marked `cuda` and skipped where torch sees no CUDA device, so the usual CPU
run stays green; `pytest -m cuda tests/test_cuda.py` (step 1 of benchmarks/gpu_check.py) runs them
on a GPU machine.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from tests.helpers import SMOKE, tiny_preset
from tui_trainer.config import load_preset
from tui_trainer.config.schema import AugmentConfig
from tui_trainer.data import BatchAugment, DataSplits, TrainBatches, load_data
from tui_trainer.engine.checkpoint import load_checkpoint
from tui_trainer.engine.device import numerics_for
from tui_trainer.engine.trainer import Trainer

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

CUDA = torch.device("cuda")
CPU = torch.device("cpu")
ON_CUDA = ("train.device=cuda",)

EVERY_AUGMENTATION = AugmentConfig(
    crop=True, crop_scale=(0.6, 1.0), rotation=15.0, hflip=0.5, translate=3, cutout=8, mean=(0.4, 0.5, 0.6)
)
SEED_AUGMENTATION = AugmentConfig(crop=True, crop_scale=(0.8, 1.0), rotation=15.0, hflip=0.5)


def _splits(preset, device: torch.device) -> DataSplits:
    splits = load_data(preset.data, seed=preset.train.seed)
    return DataSplits(train=splits.train.to(device), val=splits.val.to(device), classes=splits.classes)


def _fit(preset, device: torch.device, precision: str = "fp32", channels_last: bool = False, **kwargs) -> Trainer:
    trainer = Trainer(preset, _splits(preset, device), numerics_for(device, precision, channels_last), **kwargs)
    trainer.fit()
    return trainer


# --------------------------------------------------------------------------------------------- augmentation


@pytest.mark.parametrize("cfg", [SEED_AUGMENTATION, EVERY_AUGMENTATION], ids=["seed", "every-option"])
def test_augmentation_on_cuda_equals_cpu_for_the_same_random_draws(cfg: AugmentConfig) -> None:
    # A CPU generator on both sides: BatchAugment draws its parameters on the generator's device,
    # so CPU and CUDA resample with identical crops, angles, flips, shifts and cutouts.
    images = torch.randint(0, 256, (256, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    augment = BatchAugment(cfg, image_size=32)
    on_cpu = augment(images, torch.Generator().manual_seed(7))
    on_cuda = augment(images.to(CUDA), torch.Generator().manual_seed(7))
    assert on_cuda.device.type == "cuda" and on_cuda.dtype == torch.float32
    diff = (on_cuda.cpu() - on_cpu).abs()
    # Bilinear weights differ in the last bits between the two backends; a pixel whose sample point
    # lands exactly on the rotated frame's edge may flip between fill and image, so allow a few.
    assert diff.median().item() < 1e-4
    assert (diff > 1e-3).float().mean().item() < 1e-3


def test_crop_boxes_on_cuda_equal_cpu() -> None:
    augment = BatchAugment(EVERY_AUGMENTATION, image_size=32)
    on_cpu = augment.crop_boxes(512, 32, 32, torch.Generator().manual_seed(3), CPU)
    on_cuda = augment.crop_boxes(512, 32, 32, torch.Generator().manual_seed(3), CUDA)
    assert torch.equal(on_cuda.cpu(), on_cpu)


# --------------------------------------------------------------------------------------------- numerics


def test_bf16_autocast_and_channels_last_train_as_well_as_fp32() -> None:
    # The smoke preset itself (2000 shapes, width 16): fp32 reaches about 90% in 4 epochs on CPU.
    preset = load_preset(SMOKE, [*ON_CUDA, "train.epochs=4", "scheduler.t_max=4"])
    fp32 = _fit(preset, CUDA)
    fast = _fit(preset, CUDA, "bf16", True)
    assert fast.numerics.autocast_dtype is torch.bfloat16 and fast.numerics.channels_last
    conv = next(p for p in fast.model.parameters() if p.dim() == 4)
    assert conv.is_contiguous(memory_format=torch.channels_last)
    for trainer in (fp32, fast):
        assert all(torch.isfinite(torch.tensor([r["train_loss"], r["val_loss"]])).all() for r in trainer.history)
    assert fp32.history[-1]["val_acc"] > 0.6, "fp32 did not learn: the comparison below would mean nothing"
    assert abs(fast.history[-1]["val_acc"] - fp32.history[-1]["val_acc"]) < 0.1


# --------------------------------------------------------------------------------------------- checkpoints


def _weights(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in trainer.model.state_dict().items()}


def test_a_checkpoint_saved_on_cuda_resumes_on_cpu_and_back(tmp_path: Path) -> None:
    first = _fit(tiny_preset(*ON_CUDA, "train.epochs=1"), CUDA, last_checkpoint=tmp_path / "a" / "last.pt")
    saved = first.model.state_dict()
    assert all(v.device.type == "cuda" for v in saved.values())

    preset = tiny_preset("train.device=cpu", "train.epochs=2")
    on_cpu = Trainer(
        preset, _splits(preset, CPU), numerics_for(CPU, "fp32", False), last_checkpoint=tmp_path / "b" / "last.pt"
    )
    on_cpu.load(tmp_path / "a" / "last.pt")
    for name, value in on_cpu.model.state_dict().items():
        assert value.device.type == "cpu"
        torch.testing.assert_close(value, saved[name].cpu(), rtol=0, atol=0)
    state = next(iter(on_cpu.optimizer.state.values()))
    assert all(v.device.type == "cpu" for v in state.values() if torch.is_tensor(v) and v.dim() > 0)
    on_cpu.fit()
    assert on_cpu.epochs_done == 2

    preset = tiny_preset(*ON_CUDA, "train.epochs=3")
    back = Trainer(preset, _splits(preset, CUDA), numerics_for(CUDA, "fp32", False))
    back.load(tmp_path / "b" / "last.pt")
    for name, value in back.model.state_dict().items():
        assert value.device.type == "cuda"
        torch.testing.assert_close(value.cpu(), _weights(on_cpu)[name], rtol=0, atol=0)
    back.fit()
    assert [r["epoch"] for r in back.history] == [1, 2, 3]
    assert load_checkpoint(tmp_path / "b" / "last.pt")["epoch"] == 2


# --------------------------------------------------------------------------------------------- compile


@pytest.mark.slow
def test_train_compile_trains_and_checkpoints_the_plain_module(tmp_path: Path) -> None:
    trainer = _fit(
        tiny_preset(*ON_CUDA, "train.compile=true"), CUDA, "bf16", True, last_checkpoint=tmp_path / "last.pt"
    )
    assert trainer.forward_model is not trainer.model  # the compiled wrapper was used for training
    assert [r["epoch"] for r in trainer.history] == [1, 2]
    assert all(torch.isfinite(torch.tensor(r["train_loss"])) for r in trainer.history)
    keys = load_checkpoint(tmp_path / "last.pt")["model"].keys()
    assert not any("_orig_mod" in key for key in keys)


# --------------------------------------------------------------------------------------------- host copies


def _host_copies(run) -> int:
    """Host<->device copies the CUDA profiler saw while `run()` ran, plus one planted on purpose."""
    from torch.profiler import ProfilerActivity, profile

    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        run()
        torch.ones(1, device=CUDA).item()  # one known copy, so a profiler that sees nothing fails the test
        torch.cuda.synchronize()
    device_side = sum(1 for e in prof.events() if re.match(r"Memcpy (HtoD|DtoH)", e.name))
    runtime_calls = sum(1 for e in prof.events() if e.name.startswith("cudaMemcpy"))
    return device_side or runtime_calls


def test_device_resident_training_makes_no_host_copies_per_batch() -> None:
    def epoch_with(train_images: int) -> int:
        preset = tiny_preset(*ON_CUDA, f"data.synthetic_train_size={train_images}", "train.epochs=1")
        trainer = Trainer(preset, _splits(preset, CUDA), numerics_for(CUDA, "bf16", True))
        return _host_copies(trainer.fit)

    epoch_with(192)  # warm-up: cuDNN and cuBLAS pick their algorithms once
    short, long = epoch_with(192), epoch_with(192 * 4)  # 6 and 24 batches of 32
    assert short >= 1
    assert long == short, f"{short} host copies in 6 batches, {long} in 24: some happen per batch"


def test_the_augmented_batches_never_leave_the_device() -> None:
    def epoch_with(train_images: int) -> int:
        preset = tiny_preset(*ON_CUDA, f"data.synthetic_train_size={train_images}")
        splits = _splits(preset, CUDA)
        batches = TrainBatches(splits.train, 32, BatchAugment(SEED_AUGMENTATION, 16), drop_last=False, seed=0)

        def drain() -> None:
            for images, labels in batches.epoch(1):
                assert images.device.type == "cuda" and labels.device.type == "cuda"

        drain()  # warm-up
        return _host_copies(drain)

    short, long = epoch_with(192), epoch_with(192 * 4)
    assert short >= 1
    assert long == short, f"{short} host copies in 6 batches, {long} in 24: some happen per batch"


# --------------------------------------------------------------------------------------------- streaming


def _image_folder(root: Path, per_class: int = 24, side: int = 40) -> Path:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, count in (("train", per_class), ("val", per_class // 3)):
        for cls in ("a", "b", "c"):
            (root / split / cls).mkdir(parents=True, exist_ok=True)
            for i in range(count):
                pixels = rng.integers(0, 256, size=(side, side, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / cls / f"{i:03d}.png")
    return root


def _streamed_splits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from tui_trainer.config.schema import DataConfig

    monkeypatch.setenv("TUI_TRAINER_CACHE", str(tmp_path / "cache"))
    cfg = DataConfig(dataset="imagefolder", root=str(_image_folder(tmp_path / "ds")), image_size=32, store_size=36)
    splits = load_data(cfg)
    assert splits.train.disk is not None  # mapped from the cache file, as `stream` storage trains from it
    return splits


def test_streamed_batches_on_cuda_equal_device_resident_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tui_trainer.data import val_batches

    splits = _streamed_splits(tmp_path, monkeypatch)
    augment = BatchAugment(EVERY_AUGMENTATION, 32)

    def epoch(stream: bool, number: int) -> list:
        data = splits.train if stream else splits.train.to(CUDA)
        batches = TrainBatches(data, 16, augment, False, 3, stream=stream, device=CUDA)
        return [(x.cpu(), y.cpu()) for x, y in batches.epoch(number)]

    for number in (1, 2):
        streamed, resident = epoch(True, number), epoch(False, number)
        assert streamed[0][0].shape == (16, 3, 32, 32)
        assert all(torch.equal(a, b) and torch.equal(i, j) for (a, i), (b, j) in zip(streamed, resident, strict=True))
    mean, std = (0.5,) * 3, (0.25,) * 3
    val_streamed = list(val_batches(splits.val, 8, mean, std, image_size=32, stream=True, device=CUDA))
    val_resident = list(val_batches(splits.val.to(CUDA), 8, mean, std, image_size=32))
    assert all(a.device.type == "cuda" for a, _ in val_streamed)
    assert all(torch.equal(a, b) for (a, _), (b, _) in zip(val_streamed, val_resident, strict=True))


def test_a_streamed_epoch_copies_each_batch_to_the_device_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # One host-to-device copy per batch, from pinned memory, and nothing copied back per batch: the
    # epoch with 4x the batches makes exactly 3x more copies in all (the rest is per epoch).
    splits = _streamed_splits(tmp_path, monkeypatch)
    augment = BatchAugment(SEED_AUGMENTATION, 32)

    def copies(batch_size: int) -> int:
        batches = TrainBatches(splits.train, batch_size, augment, False, 0, stream=True, device=CUDA)

        def drain() -> None:
            for images, _labels in batches.epoch(1):
                assert images.device.type == "cuda"

        drain()  # warm-up
        return _host_copies(drain)

    few, many = copies(24), copies(6)  # 3 and 12 batches of the 72 training images
    assert many - few == 12 - 3, f"{few} copies for 3 batches, {many} for 12: not one per batch"
