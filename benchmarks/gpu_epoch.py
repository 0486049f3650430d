"""Seconds per epoch of the seed preset on a CUDA device: fp32 against bf16 + channels_last.

CIFAR-sized random data (50,000 train and 10,000 validation images, 32x32) stands in for
CIFAR-10: the time of an epoch does not depend on what the pixels show. Each setting trains one
warm-up epoch and then `--epochs` timed ones through the engine's own Trainer, augmentation on
the device included.

    python benchmarks/gpu_epoch.py [--epochs 2] [--train-images 50000]

Last line: JSON {"fp32_s_per_epoch", "bf16_cl_s_per_epoch", "speedup", "device"}.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from tui_trainer.config import load_preset
from tui_trainer.data import DataSplits, ImageSet
from tui_trainer.engine.device import numerics_for
from tui_trainer.engine.trainer import Trainer

REPO = Path(__file__).resolve().parents[1]
CLASSES = tuple(f"class{i}" for i in range(10))


def random_split(count: int, device: torch.device, seed: int) -> ImageSet:
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (count, 3, 32, 32), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, 10, (count,), generator=g)
    return ImageSet(images=images, labels=labels, classes=CLASSES).to(device)


def seconds_per_epoch(precision: str, channels_last: bool, splits: DataSplits, epochs: int) -> float:
    preset = load_preset(
        REPO / "presets" / "seed.toml",
        [f"train.precision={precision}", f"train.channels_last={str(channels_last).lower()}", "train.device=cuda"],
    )
    preset.train.epochs = epochs + 1
    numerics = numerics_for(torch.device("cuda"), precision, channels_last)
    times: list[float] = []
    marks: list[float] = []

    def listener(event) -> None:
        if type(event).__name__ == "EpochFinished":
            torch.cuda.synchronize()
            marks.append(time.perf_counter())

    trainer = Trainer(preset, splits, numerics, listeners=[listener])
    start = time.perf_counter()
    trainer.fit()
    previous = start
    for mark in marks:
        times.append(mark - previous)
        previous = mark
    return sum(times[1:]) / max(len(times) - 1, 1)  # the first epoch is warm-up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per setting, after one warm-up")
    parser.add_argument("--train-images", type=int, default=50_000)
    parser.add_argument("--val-images", type=int, default=10_000)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("gpu_epoch.py needs a CUDA device; none is available here")
    device = torch.device("cuda")
    splits = DataSplits(
        train=random_split(args.train_images, device, 0), val=random_split(args.val_images, device, 1), classes=CLASSES
    )
    fp32 = seconds_per_epoch("fp32", False, splits, args.epochs)
    fast = seconds_per_epoch("bf16", True, splits, args.epochs)
    name = torch.cuda.get_device_name(device)
    print(f"{name}: seed preset, {args.train_images} train + {args.val_images} val images per epoch")
    print(f"fp32:                 {fp32:7.2f} s/epoch  ({args.train_images / fp32:,.0f} img/s incl. validation)")
    print(f"bf16 + channels_last: {fast:7.2f} s/epoch  ({args.train_images / fast:,.0f} img/s incl. validation)")
    print(
        json.dumps(
            {
                "fp32_s_per_epoch": round(fp32, 3),
                "bf16_cl_s_per_epoch": round(fast, 3),
                "speedup": round(fp32 / fast, 3),
                "device": name,
            }
        )
    )


if __name__ == "__main__":
    main()
