"""The fast CIFAR-10 recipe against the seed recipe for the same wall-clock budget, and the LR
finder's suggestion checked by short runs.

Part 1: presets/cifar10-fast.toml and presets/seed.toml train on the same CIFAR-10 images (the JPEG
copy, class-balanced subsets) for the same budget of seconds each. Each preset's epoch count is
planned from a throughput probe so that its schedule ends inside the budget (a schedule cut off
half-way would be unfair to either). The two are interleaved an epoch at a time, alternating which
goes first (ABBA), so drift in machine speed hits both alike. Printed: validation accuracy against
cumulative training seconds for each, and the accuracy each reached.

Part 2: the LR finder on the seed preset, then the seed preset for 2 epochs at the suggestion, at
10× it and at 0.1× it (the suggestion should not lose to either).

    python benchmarks/recipes.py --root ../shared/data/cifar10-jpeg                 # 15 min each
    python benchmarks/recipes.py --root ../shared/data/cifar10-jpeg --budget 200 --set model.width=16 \\
        --train 4000 --val 1000 --check-train 2000 --check-val 500                 # a short look

Last line: JSON {"fast": {...}, "seed": {...}, "fast_wins", "lr_finder": {...}}.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import time
from pathlib import Path

import torch

from tui_trainer.config import Preset, load_preset
from tui_trainer.data import load_data
from tui_trainer.engine.device import numerics_for, resolve_device
from tui_trainer.engine.events import EpochFinished, RunControl
from tui_trainer.engine.loops import train_epoch, validate
from tui_trainer.engine.lr_finder import find_lr
from tui_trainer.engine.trainer import Trainer

REPO = Path(__file__).resolve().parents[1]


OVERRIDES: list[str] = []
"""--set values applied to every preset of the benchmark (both presets alike)."""


def preset_for(name: str, root: str, train: int, val: int, *extra: str) -> Preset:
    return load_preset(
        REPO / "presets" / f"{name}.toml",
        (
            'data.dataset="imagefolder"',
            f'data.root="{root}"',
            f"data.train_limit={train}",
            f"data.val_limit={val}",
            *OVERRIDES,
            *extra,
        ),
    )


def splits_on(preset: Preset, device: torch.device):
    splits = load_data(preset.data, seed=preset.train.seed)
    return type(splits)(train=splits.train.to(device), val=splits.val.to(device), classes=splits.classes)


def probe_epoch_seconds(preset: Preset, splits, numerics, batches: int = 3) -> float:
    """Seconds one epoch (training + validation) should take, from a few timed batches."""
    trainer = Trainer(preset, splits, numerics)
    sample = list(itertools.islice(trainer.batches_of(1), batches + 1))
    if len(sample) < 2:
        sample = sample * 2
    train_epoch(trainer.forward_model, sample[:1], 1, trainer.criterion, trainer.optimizer, numerics)  # warm-up
    started = time.perf_counter()
    train_epoch(trainer.forward_model, sample[1:], len(sample) - 1, trainer.criterion, trainer.optimizer, numerics)
    per_train_image = (time.perf_counter() - started) / sum(len(y) for _, y in sample[1:])
    images = splits.val.images[: preset.data.batch_size].float() / 255
    started = time.perf_counter()
    validate(
        trainer.model,
        [(images, splits.val.labels[: len(images)])],
        trainer.per_sample_criterion,
        numerics,
        len(splits.classes),
        tta=preset.train.tta,
    )
    per_val_image = (time.perf_counter() - started) / len(images)
    return per_train_image * len(splits.train) + per_val_image * len(splits.val)


class OneEpochAtATime:
    """Drives a Trainer one epoch per call, so two runs can be interleaved in one thread."""

    def __init__(self, label: str, trainer: Trainer) -> None:
        self.label = label
        self.trainer = trainer
        self.seconds = 0.0
        self.curve: list[tuple[float, float]] = []  # (cumulative seconds, val_acc)
        trainer.listeners.append(self._on_event)

    def _on_event(self, event: object) -> None:
        if isinstance(event, EpochFinished):
            self.seconds += event.metrics["epoch_seconds"]
            self.curve.append((self.seconds, event.metrics["val_acc"]))
            self.trainer.control.stop()  # fit() returns after this epoch

    @property
    def done(self) -> bool:
        return self.trainer.epochs_done >= self.trainer.preset.train.epochs

    def step(self) -> None:
        self.trainer.control = RunControl()
        self.trainer.fit()
        epoch, (seconds, acc) = self.trainer.epochs_done, self.curve[-1]
        print(
            f"  {self.label:<5} epoch {epoch}/{self.trainer.preset.train.epochs}: "
            f"val acc {acc * 100:6.2f}% at {seconds:7.1f}s",
            flush=True,
        )


def compare(args: argparse.Namespace, device: torch.device) -> dict:
    runs = {}
    for label, name in (("fast", "cifar10-fast"), ("seed", "seed")):
        preset = preset_for(name, args.root, args.train, args.val, f'train.device="{device.type}"')
        numerics = numerics_for(device, preset.train.precision, preset.train.channels_last)
        splits = splits_on(preset, device)
        estimate = probe_epoch_seconds(preset, splits, numerics)
        epochs = max(1, math.floor(args.budget / estimate))
        extra = [f"train.epochs={epochs}"]
        if preset.scheduler.name == "cosine":
            extra.append(f"scheduler.t_max={max(preset.scheduler.t_max, epochs)}")  # as the preset, never shorter
        preset = preset_for(name, args.root, args.train, args.val, f'train.device="{device.type}"', *extra)
        print(f"{label}: ~{estimate:.0f}s per epoch -> {epochs} epochs in a {args.budget:.0f}s budget", flush=True)
        runs[label] = OneEpochAtATime(label, Trainer(preset, splits, numerics))
    order = ["fast", "seed"]
    while not all(run.done for run in runs.values()):
        for label in order:
            if not runs[label].done:
                runs[label].step()
        order.reverse()  # ABBA
    result = {}
    for label, run in runs.items():
        result[label] = {
            "epochs": run.trainer.epochs_done,
            "seconds": round(run.seconds, 1),
            "val_acc": run.curve[-1][1],
            "best_val_acc": max(acc for _, acc in run.curve),
            "curve": [[round(s, 1), round(a, 4)] for s, a in run.curve],
        }
    return result


def check_finder(args: argparse.Namespace, device: torch.device) -> dict:
    base = preset_for("seed", args.root, args.check_train, args.check_val, f'train.device="{device.type}"')
    numerics = numerics_for(device, base.train.precision, base.train.channels_last)
    splits = splits_on(base, device)
    started = time.perf_counter()
    found = find_lr(base, splits, numerics, steps=args.finder_steps)
    print(
        f"lr finder on seed: suggestion {found.suggestion:.3g} after {len(found.lrs)} steps "
        f"in {time.perf_counter() - started:.0f}s (preset lr {base.optimizer.lr:g})",
        flush=True,
    )
    accuracies = {}
    for factor in (1.0, 10.0, 0.1):
        lr = found.suggestion * factor
        preset = preset_for(
            "seed",
            args.root,
            args.check_train,
            args.check_val,
            f'train.device="{device.type}"',
            "train.epochs=2",
            f"optimizer.lr={lr}",
        )
        trainer = Trainer(preset, splits, numerics)
        outcome = trainer.fit()
        acc = trainer.history[-1]["val_acc"] if trainer.history else float("nan")
        accuracies[f"{factor:g}x"] = acc
        print(
            f"  seed 2 epochs at lr {lr:.3g} ({factor:g}x): val acc {acc * 100:.2f}% ({outcome.seconds:.0f}s)",
            flush=True,
        )
    return {
        "suggestion": found.suggestion,
        "rule": found.rule,
        "steps": len(found.lrs),
        "val_acc_2_epochs": accuracies,
        "suggestion_not_worse": accuracies["1x"] >= max(accuracies["10x"], accuracies["0.1x"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default="../shared/data/cifar10-jpeg", help="CIFAR-10 as an image folder")
    parser.add_argument("--train", type=int, default=10_000, help="training images for part 1")
    parser.add_argument("--val", type=int, default=2_000, help="validation images for part 1")
    parser.add_argument("--budget", type=float, default=900.0, help="training seconds per preset")
    parser.add_argument("--check-train", type=int, default=10_000, help="training images for part 2")
    parser.add_argument("--check-val", type=int, default=2_000, help="validation images for part 2")
    parser.add_argument("--finder-steps", type=int, default=100)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--skip", choices=["compare", "finder"], help="leave out one part")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override applied to both presets, e.g. model.width=16 for a CPU-sized look",
    )
    args = parser.parse_args()
    OVERRIDES.extend(args.overrides)
    device = resolve_device(args.device)
    print(f"device {device}, {torch.get_num_threads()} threads; data {args.root}", flush=True)
    summary: dict = {
        "overrides": args.overrides,
        "device": str(device),
        "train_images": args.train,
        "val_images": args.val,
        "budget_s": args.budget,
    }
    if args.skip != "compare":
        summary.update(compare(args, device))
        # Load from other processes can stretch one run past the budget: compare also at the time
        # the shorter run ended, with what each had validated by then.
        common = min(summary["fast"]["seconds"], summary["seed"]["seconds"])
        for label in ("fast", "seed"):
            reached = [acc for seconds, acc in summary[label]["curve"] if seconds <= common]
            summary[label]["val_acc_at_common_time"] = reached[-1] if reached else None
        summary["common_time_s"] = common
        summary["fast_wins"] = summary["fast"]["val_acc"] > summary["seed"]["val_acc"]
        print(
            f"fast {summary['fast']['val_acc'] * 100:.2f}% vs seed {summary['seed']['val_acc'] * 100:.2f}% "
            f"in ~{args.budget:.0f}s each",
            flush=True,
        )
    if args.skip != "finder":
        summary["lr_finder"] = check_finder(args, device)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
