"""Training throughput of the engine against a minimal hand-written PyTorch loop.

Both train the same model (built from the same preset) on the same real batches (synthetic shapes
through the preset's augmentation, made before timing); the engine's loop
adds accumulation bookkeeping, running metrics on the device and progress reports. The two are
measured in alternating rounds so drift in machine speed hits both alike.

    python benchmarks/train_step.py                        # seed model, batch 64, on CPU
    python benchmarks/train_step.py --preset presets/smoke.toml --batches 200

Last line: JSON {"engine_img_s", "reference_img_s", "ratio", ...}. Target on CPU: ratio >= 0.97.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from tui_trainer.config import load_preset
from tui_trainer.engine.builders import build_loss, build_model, build_optimizer
from tui_trainer.engine.device import numerics_for, resolve_device
from tui_trainer.engine.loops import train_epoch

REPO = Path(__file__).resolve().parents[1]


def make_batches(preset, count: int, batch_size: int, device: torch.device):
    """`count` real training batches: synthetic shapes through the preset's BatchAugment, made
    before timing so both loops train on exactly the same tensors."""
    from tui_trainer.data import BatchAugment, TrainBatches
    from tui_trainer.data.synthetic import make_synthetic

    data = make_synthetic(count * batch_size, preset.data.image_size, 0).to(device)
    augment = BatchAugment(preset.augment, preset.data.image_size)
    batches = TrainBatches(data, batch_size, augment, drop_last=True, seed=0)
    return list(batches.epoch(1))[:count]


def reference_loop(model, batches, criterion, optimizer, numerics) -> None:
    """What a user would write by hand: forward, loss, backward, step."""
    model.train()
    for images, labels in batches:
        if numerics.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with numerics.autocast():
            loss = criterion(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def engine_loop(model, batches, criterion, optimizer, numerics) -> None:
    train_epoch(
        model,
        batches,
        len(batches),
        criterion,
        optimizer,
        numerics,
        accumulation_steps=1,
        on_progress=lambda *args: None,  # progress reports on, as in a real run
    )


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default=str(REPO / "presets" / "seed.toml"))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--batches", type=int, default=12, help="batches per round")
    parser.add_argument("--rounds", type=int, default=6, help="rounds of each loop, in ABBA order")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    preset = load_preset(args.preset, [f"train.device={args.device}"])
    device = resolve_device(preset.train.device)
    numerics = numerics_for(device, preset.train.precision, preset.train.channels_last)
    batches = make_batches(preset, args.batches, args.batch_size, device)

    def fresh():
        torch.manual_seed(0)
        model = build_model(preset.model, num_classes=10).to(device)
        if numerics.channels_last:
            model = model.to(memory_format=torch.channels_last)
        return model, build_loss(preset.loss, 10), build_optimizer(preset.optimizer, model.parameters())

    loops = {"engine": engine_loop, "reference": reference_loop}
    states = {name: fresh() for name in loops}
    for name, loop in loops.items():  # warm-up round, not timed
        model, criterion, optimizer = states[name]
        loop(model, batches[:2], criterion, optimizer, numerics)
    rates: dict[str, list[float]] = {name: [] for name in loops}
    for round_index in range(args.rounds):
        # ABBA order: whichever loop runs second in a round gets a warmer cache, so take turns.
        order = list(loops.items()) if round_index % 2 == 0 else list(reversed(loops.items()))
        for name, loop in order:
            model, criterion, optimizer = states[name]
            sync(device)
            start = time.perf_counter()
            loop(model, batches, criterion, optimizer, numerics)
            sync(device)
            rates[name].append(len(batches) * args.batch_size / (time.perf_counter() - start))
    engine = statistics.median(rates["engine"])
    reference = statistics.median(rates["reference"])
    threads = torch.get_num_threads()
    print(f"model {preset.model.name}, batch {args.batch_size}, {device} {numerics.precision}, threads {threads}")
    for name in loops:
        rounds = [round(r, 1) for r in rates[name]]
        print(f"{name:>9}: median {statistics.median(rates[name]):8.1f} img/s  rounds {rounds}")
    # Each round's two loops ran back to back, so their ratio is the least disturbed by drift.
    ratios = [e / r for e, r in zip(rates["engine"], rates["reference"], strict=True)]
    print(f"engine / reference per round: {[round(x, 3) for x in ratios]}, median {statistics.median(ratios):.3f}")
    print(
        json.dumps(
            {
                "engine_img_s": round(engine, 2),
                "reference_img_s": round(reference, 2),
                "ratio": round(engine / reference, 4),
                "median_round_ratio": round(statistics.median(ratios), 4),
                "model": preset.model.name,
                "batch_size": args.batch_size,
                "device": str(device),
            }
        )
    )


if __name__ == "__main__":
    main()
