"""Where a `stream` training batch spends its time on the CPU, stage by stage.

    python benchmarks/stream_stages.py [--root FOLDER] [--batches 20] [--rounds 3]

On the image folder that `benchmarks/data_scale.py` builds (its cache must exist: run that first,
or point `--root` at any image folder), at image_size 224 (stored 258), batches of 64, random
resized crop + flip, it times one batch's stages in turn, each alone:

* read: the batch's rows from the cache file (`RowReader.read`, sorted `preadv`s, page cache warm);
* gather: the same rows from the set in memory (`index_select`, what `device` storage does);
* augment: `BatchAugment` on the uint8 batch (crop boxes, resize, flip, float, normalise);
* resize only: the per-box uint8 resizes alone, no float output, on one thread as `BatchAugment` does;
* float + normalise: a uint8 224 px batch to normalised float32 alone, on one thread;
* whole: `TrainBatches.epoch` with `stream` storage (the reading thread overlapping the rest), and
  with `device` storage (the set in memory).

Stages alternate within each round (A B C A B C), so a change in the machine's load reaches all;
medians of the per-round means, in milliseconds per batch and images/s. A last line of JSON.
`tui_trainer` is imported as installed, so `PYTHONPATH=<another checkout>` times that one.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable

BATCH = 64
IMAGE_SIZE = 224


def _timed(step: Callable[[int], object], batches: int) -> tuple[float, float]:
    """Mean (wall, CPU) seconds per call of step(i) over `batches` calls, after one untimed call.

    CPU time (every thread of this process) moves much less with the machine's load than wall time."""
    step(0)
    cpu = time.process_time()
    start = time.perf_counter()
    for i in range(batches):
        step(i + 1)
    return (time.perf_counter() - start) / batches, (time.process_time() - cpu) / batches


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default="", help="image folder (default: data_scale.py's, under the cache folder)")
    parser.add_argument("--limit", type=int, default=5000, help="train images used (data.train_limit)")
    parser.add_argument("--batches", type=int, default=20, help="timed batches per stage and round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)

    import numpy as np
    import torch
    import torch.nn.functional as F

    from tui_trainer.config.schema import AugmentConfig, DataConfig
    from tui_trainer.data import BatchAugment, TrainBatches, load_data
    from tui_trainer.data.augment import normalize
    from tui_trainer.data.paths import cache_dir
    from tui_trainer.data.stream import RowReader
    from tui_trainer.data.threads import single_thread_for_small

    torch.set_num_threads(os.cpu_count() or 1)
    root = args.root or str(cache_dir() / "bench-data-scale-256px")
    cfg = DataConfig(dataset="imagefolder", root=root, image_size=IMAGE_SIZE, train_limit=args.limit, batch_size=BATCH)
    data = load_data(cfg).train
    in_memory = data.to("cpu")
    augment = BatchAugment(AugmentConfig(), IMAGE_SIZE)
    reader = RowReader(data)
    rng = np.random.default_rng(0)
    n = len(data)
    rows = [rng.choice(n, BATCH, replace=False) for _ in range(args.batches + 1)]
    buffer = torch.empty(BATCH, *data.images.shape[1:], dtype=torch.uint8)
    reader.read(rows[0], buffer)
    batch = buffer.clone()
    generator = torch.Generator().manual_seed(0)
    boxes = augment.crop_boxes(BATCH, batch.shape[2], batch.shape[3], generator, batch.device).tolist()
    small = batch[:, :, :IMAGE_SIZE, :IMAGE_SIZE].contiguous()

    def resize_only(_i: int) -> None:
        with single_thread_for_small(batch.device, 0):
            for k, (top, left, ch, cw) in enumerate(boxes):
                box = batch[k : k + 1, :, top : top + ch, left : left + cw]
                F.interpolate(box, size=(IMAGE_SIZE,) * 2, mode="bilinear")

    def float_normalise(_i: int) -> None:
        with single_thread_for_small(batch.device, 0):
            normalize(small, (0.5,) * 3, (0.5,) * 3)

    # Made before any stage is timed: building CPU batches sets the process's heap (data/heap.py).
    cpu = torch.device("cpu")
    trainers = {
        True: TrainBatches(data, BATCH, augment, False, 0, stream=True, device=cpu),
        False: TrainBatches(in_memory, BATCH, augment, False, 0, device=cpu),
    }

    def whole(batches: int, stream: bool = True) -> tuple[float, float]:
        it = trainers[stream].epoch(1)
        seconds = _timed(lambda _i: next(it), batches)
        it.close()
        return seconds

    stages: dict[str, Callable[[], tuple[float, float]]] = {
        "read": lambda: _timed(lambda i: reader.read(rows[i], buffer), args.batches),
        "gather": lambda: _timed(
            lambda i: torch.index_select(in_memory.images, 0, torch.from_numpy(rows[i]), out=buffer), args.batches
        ),
        "augment": lambda: _timed(lambda i: augment(batch, generator), args.batches),
        "resize only": lambda: _timed(resize_only, args.batches),
        "float + normalise": lambda: _timed(float_normalise, args.batches),
        "whole stream batch": lambda: whole(args.batches),
        "whole device batch": lambda: whole(args.batches, stream=False),
    }
    means: dict[str, list[tuple[float, float]]] = {name: [] for name in stages}
    for _ in range(args.rounds):
        for name, measure in stages.items():
            means[name].append(measure())
    reader.close()
    print(f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.2f}; batch {BATCH}, {IMAGE_SIZE} px")
    print(f"{'stage':<22}{'ms/batch':>10}{'images/s':>10}{'CPU ms':>9}   wall ms per round")
    wall = {name: statistics.median(w for w, _c in v) for name, v in means.items()}
    cpu = {name: statistics.median(c for _w, c in v) for name, v in means.items()}
    for name, seconds in wall.items():
        rounds = " ".join(f"{w * 1000:.0f}" for w, _c in means[name])
        print(f"{name:<22}{seconds * 1000:>10.1f}{BATCH / seconds:>10.0f}{cpu[name] * 1000:>9.1f}   {rounds}")
    key = {name: name.replace(" ", "_").replace("+", "and") for name in stages}
    print(
        json.dumps(
            {
                "wall_ms": {key[n]: round(s * 1000, 2) for n, s in wall.items()},
                "cpu_ms": {key[n]: round(s * 1000, 2) for n, s in cpu.items()},
                "threads": torch.get_num_threads(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
