"""Labels that are wrong: of the validation images whose label was flipped, how many top the review list?

    python benchmarks/label_noise.py [--source ../shared/data/cifar10-jpeg] [--train 200] [--val 50]
                                     [--flip 0.05] [--epochs 6] [--keep DIR] [--quick]
                                     [--training-set [--folds 3]]

Copies, into a temporary folder (or `--keep DIR`, to open the run in the console afterwards),
`--train` images of each class of the CIFAR-10 JPEG copy as train/ and `--val` of each as val/,
and moves a `--flip` share of the validation images into another class's folder (a wrong label,
the image unchanged). Trains the smoke preset's small CNN on it through the ordinary run
(`run_training`: the run folder, predictions-last.npz with each sample's class probabilities),
ranks the validation predictions as the console's review list does (`runs.label_review`), and
prints, for the top N of the list, how many flipped images it holds against what a random order
would hold. `--quick` (or no CIFAR-10 copy: it says so) uses coloured squares instead, in seconds.
A table, then a last line of JSON.

Measured (2 shared CPU cores; the defaults: 200 train and 50 val images per class, 25 of the 500
validation labels flipped, 6 epochs at 32 px, width 16: 179 s, 38% val accuracy, 311 candidates):

     top N  flipped found  share of flipped  random order
        25             15               60%           1.2
        50             15               60%           2.5
       100             19               76%           5.0

`--quick` (coloured squares, 12 of 240 flipped, 95% accurate): 12 of 12 in the top 12, in 38 s.

`--training-set` flips a share of the TRAINING labels instead and ranks the training set as
`tui-trainer review RUN --train` does: K models (`--folds`, 3) from the same preset, each trained
`--epochs` on K-1 folds, predict the fold they never saw (`runs.out_of_fold`). Measured (2 shared CPU
cores; 200 training images per class, 100 of the 2000 training labels flipped, `--epochs 5`: 79 s of
cross-validation, 37% out-of-fold accuracy, 1251 candidates):

     top N  flipped found  share of flipped  random order
       100             38               38%           5.0
       200             55               55%          10.0
       400             68               68%          20.0

`--quick --training-set --epochs 3` (12 of 240 training labels flipped, 95%): 12 of 12 in the top 12.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tui_trainer.config import Preset, load_preset, resolved_toml  # noqa: E402
from tui_trainer.engine.events import Predictions  # noqa: E402
from tui_trainer.runs.folder import RunFolder  # noqa: E402
from tui_trainer.runs.label_review import BASIS, find_label_issues, found_in_top  # noqa: E402
from tui_trainer.runs.launch import run_training  # noqa: E402
from tui_trainer.runs.out_of_fold import FoldEpoch, FoldStarted, review_training_set  # noqa: E402
from tui_trainer.runs.out_of_fold_file import read_out_of_fold  # noqa: E402
from tui_trainer.runs.predictions_file import read_saved_predictions  # noqa: E402

SMOKE = REPO / "presets" / "smoke.toml"


def noisy_copy(
    source: Path, into: Path, train: int, val: int, flip: float, seed: int = 0, noisy: str = "val"
) -> set[str]:
    """Copy a subset of `source`, moving a `flip` share of the `noisy` split into wrong class folders; returns
    the moved files as paths relative to `into` (`val/<wrong class>/<class>-<name>`)."""
    rng = np.random.default_rng(seed)
    classes = sorted(p.name for p in (source / "train").iterdir() if p.is_dir())
    per_class = {"train": train, "val": val}
    total = per_class[noisy] * len(classes)
    flipped = set(rng.choice(total, round(total * flip), replace=False).tolist())
    moved = set()
    for c, cls in enumerate(classes):
        for split, count in per_class.items():
            for i, file in enumerate(sorted((source / split / cls).iterdir())[:count]):
                folder = cls
                if split == noisy and c * count + i in flipped:
                    folder = classes[(c + rng.integers(1, len(classes))) % len(classes)]
                target = into / split / folder / f"{cls}-{file.name}"
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(file, target)
                if folder != cls:
                    moved.add(target.relative_to(into).as_posix())
    return moved


def coloured_squares(into: Path, per_class: int = 60) -> None:
    """A stand-in for CIFAR-10 when there is none: four colours with noise, 60 images a class per split."""
    from PIL import Image

    rng = np.random.default_rng(1)
    colours = {"red": (200, 40, 40), "green": (40, 190, 60), "blue": (50, 60, 210), "yellow": (210, 200, 40)}
    for split in ("train", "val"):
        for name, colour in colours.items():
            folder = into / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                pixels = np.clip(rng.normal(colour, 60, (32, 32, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{i:04d}.jpg")


def review_val(preset: Preset, runs: Path) -> tuple[Predictions | None, tuple[str, ...], str, Path | None]:
    """One ordinary run; its last epoch's validation predictions, as the console's review list ranks them."""
    outcome = run_training(preset, runs_dir=runs)
    if outcome.exit_code != 0 or outcome.run_dir is None:
        print(f"the run failed: {outcome.error}", file=sys.stderr)
        return None, (), "", None
    folder = RunFolder(outcome.run_dir)
    saved = read_saved_predictions(folder.predictions_file("last"))
    return saved.predictions, folder.read_val_paths() or (), BASIS, outcome.run_dir


def review_train(
    preset: Preset, runs: Path, folds: int
) -> tuple[Predictions | None, tuple[str, ...], str, Path | None]:
    """`tui-trainer review RUN --train` on a run folder of `preset` (its preset is all the review reads)."""
    folder = RunFolder.create(runs, preset.name)
    folder.write_preset(resolved_toml(preset))

    def report(event: FoldStarted | FoldEpoch) -> None:
        if isinstance(event, FoldEpoch):
            print(f"fold {event.fold}/{event.folds} epoch {event.epoch}: loss {event.train_loss:.3f}", flush=True)

    review_training_set(folder.path, folds=folds, listener=report)
    oof = read_out_of_fold(folder.train_oof_file)
    return oof.saved.predictions, oof.saved.paths or (), f"confident learning on the {oof.basis}", folder.path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=REPO.parent / "shared" / "data" / "cifar10-jpeg")
    parser.add_argument("--train", type=int, default=200, help="training images per class")
    parser.add_argument("--val", type=int, default=50, help="validation images per class")
    parser.add_argument(
        "--flip", type=float, default=0.05, help="share of labels flipped (validation, or training with --training-set)"
    )
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--keep", type=Path, help="keep the data and the run here (open RUN in the console, c, l)")
    parser.add_argument("--quick", action="store_true", help="coloured squares instead of CIFAR-10 (seconds)")
    parser.add_argument(
        "--training-set",
        action="store_true",
        help="flip training labels instead, and rank the training set on out-of-fold predictions (review --train)",
    )
    parser.add_argument("--folds", type=int, default=3, help="with --training-set: folds, one model each")
    args = parser.parse_args()

    quick = args.quick or not (args.source / "train").is_dir()
    with tempfile.TemporaryDirectory() as scratch:
        work = args.keep or Path(scratch)
        root = work / "data"
        if root.exists():
            shutil.rmtree(root)
        source = args.source
        if quick:
            if not args.quick:
                print(f"no CIFAR-10 copy at {args.source}: measuring on coloured squares (--quick)")
            source = work / "squares"
            shutil.rmtree(source, ignore_errors=True)
            coloured_squares(source)
            args.train, args.val = 60, 60
        noisy = "train" if args.training_set else "val"
        flipped = noisy_copy(source, root, args.train, args.val, args.flip, noisy=noisy)
        overrides = (
            'data.dataset="imagefolder"',
            f'data.root="{root.as_posix()}"',
            "data.image_size=32",
            "data.cache=false",
            "model.width=16",
            f"train.epochs={args.epochs}",
            f"scheduler.t_max={args.epochs}",
            "train.device=cpu",
            "train.threads=2",
            'train.precision="fp32"',
        )
        preset = load_preset(SMOKE, overrides)
        started = time.perf_counter()
        if args.training_set:
            predictions, paths, basis, run_dir = review_train(preset, work / "runs", args.folds)
        else:
            predictions, paths, basis, run_dir = review_val(preset, work / "runs")
        seconds = time.perf_counter() - started
        if predictions is None:
            return 1
        assert predictions.probabilities is not None
        flipped_index = np.flatnonzero([Path(p).relative_to(root).as_posix() in flipped for p in paths])
        issues = find_label_issues(predictions.labels, predictions.probabilities)
        n, m = len(predictions.labels), len(flipped_index)
        accuracy = float((predictions.labels == predictions.predictions).mean())
        rows = []
        for top in sorted({m, 2 * m, 4 * m, 100}):
            found = found_in_top(issues, flipped_index, top)
            rows.append({"top": top, "found": found, "random": round(top * m / n, 1)})

    what = "training" if args.training_set else "val"
    print(f"data: {'coloured squares' if quick else args.source}, {len(paths)} {what} images, {m} labels flipped")
    print(f"run: {args.epochs} epochs in {seconds:.0f} s, {what} accuracy (against the noisy labels) {accuracy:.3f}")
    print(f"ranking: {basis}; {len(issues)} candidates")
    print(f"{'top N':>6} {'flipped found':>14} {'share of flipped':>17} {'random order':>13}")
    for row in rows:
        print(f"{row['top']:>6} {row['found']:>14} {row['found'] / max(m, 1):>17.0%} {row['random']:>13}")
    if args.keep:
        print(f"run folder: {run_dir} (tui-trainer {run_dir}, then c, then l{', then t' if args.training_set else ''})")
    summary = {"quick": quick, what: len(paths), "flipped": m, "accuracy": accuracy, "candidates": len(issues)}
    print(json.dumps({**summary, "epochs": args.epochs, "seconds": round(seconds, 1), "rows": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
