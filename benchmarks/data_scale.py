"""Data at scale: `device` vs `stream` storage vs a torchvision DataLoader, decode time, stream memory.

    python benchmarks/data_scale.py [--source ../shared/data/cifar10-jpeg] [--images 20000] [--quick]

Builds once, under the cache folder ($TUI_TRAINER_CACHE), an image folder of `--images` JPEGs at
256x256 (the CIFAR-10 JPEG copy upscaled; generated noise when there is no copy), then measures at
image_size 224 (stored at 258, the default 1.15x), batches of 64, random resized crop + flip:

* training-batch images/s of `TrainBatches` + `BatchAugment` with `device` storage (the set in
  memory), with `stream` storage (rows read ahead from the memory-mapped cache) and of the standard
  torchvision pipeline (ImageFolder + RandomResizedCrop/flip/ToTensor/Normalize, DataLoader with a
  worker per core), interleaved A B C A B C so a change in the machine's load hits all three, in
  steady state: the first 2 x cores + 1 batches (the DataLoader's read-ahead) are not timed;
* decoding files into a cache file: the process pool writing the file itself, the pool sending the
  pixels back to be copied in (how it worked before), and one process, interleaved over the rounds
  too, each after a sync;
* the peak RSS of a whole `stream` epoch (read + normalise every batch) over 5,000 and over all
  images, each in a fresh process, to show it does not grow with the number of images.

Every figure is measured in its own subprocess. A table, then a last line of JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

SIDE = 256
IMAGE_SIZE = 224
BATCH = 64
SMALL = 5000

MEASURE = r"""
import json, os, resource, sys, time
import torch
from tui_trainer.config.schema import AugmentConfig, DataConfig
from tui_trainer.data import BatchAugment, TrainBatches, load_data
mode, root, limit, batches = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
WARMUP = 2 * (os.cpu_count() or 1) + 1  # past the DataLoader's read-ahead (prefetch_factor 2 per worker)
torch.set_num_threads(os.cpu_count() or 1)
out = {"baseline_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}  # torch imported
if mode in ("device", "stream", "epoch"):
    cfg = DataConfig(dataset="imagefolder", root=root, image_size=224, train_limit=limit, batch_size=64)
    data = load_data(cfg).train
    if mode == "device":
        data = data.to("cpu")  # read whole into memory, as `device` storage does on a CPU
    augment = None if mode == "epoch" else BatchAugment(AugmentConfig(), 224)
    tb = TrainBatches(data, 64, augment, False, 0, stream=mode != "device", device=torch.device("cpu"))
    n = 0
    it = tb.epoch(1)
    for _ in range(1 if mode == "epoch" else WARMUP):
        next(it)  # start-up (thread, first reads, thread pool) not counted
    start = time.perf_counter()
    for i, (images, labels) in enumerate(it):
        n += images.shape[0]
        if mode != "epoch" and i + 1 >= batches:
            break
    out["seconds"] = time.perf_counter() - start
    out["images"] = n
    out["shape"] = list(images.shape)
else:
    from torchvision import datasets, transforms
    t = transforms.Compose([transforms.RandomResizedCrop(224), transforms.RandomHorizontalFlip(),
                            transforms.ToTensor(), transforms.Normalize((0.5,) * 3, (0.5,) * 3)])
    ds = datasets.ImageFolder(os.path.join(root, "train"), transform=t)
    if limit:
        ds = torch.utils.data.Subset(ds, range(0, len(ds), max(1, len(ds) // limit)))
    loader = torch.utils.data.DataLoader(ds, batch_size=64, shuffle=True, num_workers=os.cpu_count() or 1)
    it = iter(loader)
    for _ in range(WARMUP):
        next(it)  # its workers' start, and the batches they prepared meanwhile, not counted
    n = 0
    start = time.perf_counter()
    for i in range(batches):
        images, labels = next(it)
        n += images.shape[0]
    out["seconds"] = time.perf_counter() - start
    out["images"] = n
    del it
out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""

DECODE = r"""
import json, os, sys, tempfile, time
from pathlib import Path
import numpy as np, torch
from tui_trainer.data.decode import decode_images
from tui_trainer.data.imageset import DiskRows
paths = sorted(Path(sys.argv[1], "train").rglob("*.jpg"))[: int(sys.argv[2])]
workers, how = int(sys.argv[3]), sys.argv[4]
with tempfile.TemporaryDirectory(dir=sys.argv[5]) as folder:  # a cache file on the cache's disk
    path = os.path.join(folder, "rows.npy")
    mapped = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(len(paths), 3, 258, 258))
    disk = DiskRows(Path(path), int(mapped.offset)) if how == "file" else None
    start = time.perf_counter()
    decode_images(paths, 258, workers=workers, out=torch.from_numpy(mapped), disk=disk)
    mapped.flush()
    seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "images": len(paths)}))
"""


def _run(snippet: str, *args: object) -> dict:
    done = subprocess.run([sys.executable, "-c", snippet, *map(str, args)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"measurement {args} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _make_one(job: tuple[str, str, int]) -> None:
    import numpy as np
    from PIL import Image

    src, dst, index = job
    if src:
        with Image.open(src) as image:
            big = image.convert("RGB").resize((SIDE, SIDE), Image.Resampling.BICUBIC)
    else:
        rng = np.random.default_rng(index)
        small = rng.integers(0, 256, size=(16, 16, 3), dtype=np.uint8)
        big = Image.fromarray(small).resize((SIDE, SIDE), Image.Resampling.BICUBIC)
    big.save(dst, quality=90)


def _median_run(runs: list[dict]) -> dict:
    """The run of median time among `runs`."""
    return sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]


def build_folder(target: Path, count: int, source: Path | None) -> float:
    """`count` 256x256 JPEGs in target/train/<class>/ and 500 in target/val/ (once); seconds spent."""
    marker = target / f".complete-{count}"
    if marker.exists():
        return 0.0
    from concurrent.futures import ProcessPoolExecutor

    start = time.perf_counter()
    sources: list[tuple[str, str]] = []  # (class, source file or "")
    if source is not None and (source / "train").is_dir():
        classes = sorted(p.name for p in (source / "train").iterdir() if p.is_dir())
        files = {c: sorted((source / "train" / c).iterdir()) for c in classes}
        for i in range(count + 500):
            c = classes[i % len(classes)]
            sources.append((c, str(files[c][(i // len(classes)) % len(files[c])])))
    else:
        sources = [(f"class{i % 10}", "") for i in range(count + 500)]
    jobs = []
    for i, (cls, src) in enumerate(sources):
        split = "train" if i < count else "val"
        folder = target / split / cls
        folder.mkdir(parents=True, exist_ok=True)
        dst = folder / f"{i:06d}.jpg"
        if not dst.exists():
            jobs.append((src, str(dst), i))
    with ProcessPoolExecutor(os.cpu_count() or 1) as pool:
        list(pool.map(_make_one, jobs, chunksize=64))
    marker.touch()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", default="/work/shared/data/cifar10-jpeg", help="CIFAR-10 JPEG folder to upscale")
    parser.add_argument("--images", type=int, default=20000)
    parser.add_argument("--batches", type=int, default=30, help="timed batches per throughput round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--decode-images", type=int, default=6000, help="files in the decode comparison (a pool starts at 2,048)"
    )
    parser.add_argument("--quick", action="store_true", help="fewer batches and files (a sanity run)")
    args = parser.parse_args(argv)
    if args.quick:
        args.batches, args.rounds, args.decode_images = 4, 1, 2500
    small = min(SMALL, args.images // 2)

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tui_trainer.data.paths import cache_dir

    root = cache_dir() / f"bench-data-scale-{SIDE}px"
    source = Path(args.source) if args.source else None
    built = build_folder(root, args.images, source if source and source.is_dir() else None)
    print(
        f"image folder {root}: {args.images} train JPEGs at {SIDE}px" + (f" (built in {built:.0f}s)" if built else "")
    )

    # The caches: the whole set and the 5,000 subset (decoded once, timed when it happens).
    cache_build = {}
    for limit in (small, 0):
        start = time.perf_counter()
        _run(
            "import sys; from tui_trainer.config.schema import DataConfig; from tui_trainer.data import load_data\n"
            "cfg = DataConfig(dataset='imagefolder', root=sys.argv[1], image_size=224, train_limit=int(sys.argv[2]))\n"
            "load_data(cfg); print('{}')",
            root,
            limit,
        )
        cache_build[limit or args.images] = time.perf_counter() - start

    cores = os.cpu_count() or 1
    # Interleaved over the rounds (A B C A B C), each after a sync, so no mode pays for the dirty
    # pages another left behind (the 20,000-image cache was written just before).
    decode_runs: dict[str, list[dict]] = {"file": [], "pipe": [], "one process": []}
    for _ in range(args.rounds):
        for how, workers in (("file", cores), ("pipe", cores), ("one process", 1)):
            os.sync()
            decode_runs[how].append(_run(DECODE, root, args.decode_images, workers, how.split()[0], cache_dir()))
    decode = {how: _median_run(runs) for how, runs in decode_runs.items()}
    decode_ratio_per_round = [
        one["seconds"] / par["seconds"]
        for par, one in zip(decode_runs["file"], decode_runs["one process"], strict=True)
    ]

    rates: dict[str, list[float]] = {"device": [], "stream": [], "torchvision": []}
    rss: dict[str, float] = {}
    for _ in range(args.rounds):  # interleaved: A B C A B C
        for mode in rates:
            r = _run(MEASURE, mode, root, small, args.batches)
            rates[mode].append(r["images"] / r["seconds"])
            rss[mode] = max(rss.get(mode, 0.0), r["peak_rss_mib"])
    epochs = {n: _run(MEASURE, "epoch", root, 0 if n == args.images else n, 0) for n in (small, args.images)}

    med = {m: statistics.median(v) for m, v in rates.items()}
    bytes_per_image = 3 * 258 * 258
    load = os.getloadavg()[0]
    print(f"\n{cores} CPU cores, load average {load:.2f}; image_size {IMAGE_SIZE}, stored 258, batch {BATCH}")
    print(f"{f'pipeline ({small:,}-image set)':<40}{'images/s':>10}{'peak RSS MiB':>14}")
    for mode, label in (
        ("device", "device (whole set in memory)"),
        ("stream", "stream (read ahead from the cache)"),
        ("torchvision", f"torchvision DataLoader ({cores} workers)"),
    ):
        print(f"{label:<40}{med[mode]:>10.0f}{rss[mode]:>14.0f}")
    print(f"stream / device {med['stream'] / med['device']:.2f}x, stream / torchvision ", end="")
    print(f"{med['stream'] / med['torchvision']:.2f}x")
    per_round = {
        other: [s / o for s, o in zip(rates["stream"], rates[other], strict=True)]
        for other in ("device", "torchvision")
    }
    print(
        "per round: stream / device "
        + " ".join(f"{r:.2f}x" for r in per_round["device"])
        + ", stream / torchvision "
        + " ".join(f"{r:.2f}x" for r in per_round["torchvision"])
    )
    d_par, d_pipe, d_one = decode["file"], decode["pipe"], decode["one process"]
    print(
        f"decode {d_par['images']} JPEGs at 256px -> 258 into a cache file: {cores} processes writing it "
        f"{d_par['images'] / d_par['seconds']:.0f} img/s ({d_one['seconds'] / d_par['seconds']:.2f}x one process), "
        f"sending pixels back {d_pipe['images'] / d_pipe['seconds']:.0f} img/s, "
        f"one process {d_one['images'] / d_one['seconds']:.0f} img/s (medians of {args.rounds}; parallel / one process "
        f"per round {' '.join(f'{r:.2f}x' for r in decode_ratio_per_round)})"
    )
    for n, seconds in cache_build.items():
        print(f"cache of {n} images ({n * bytes_per_image / 2**30:.2f} GiB): {seconds:.1f}s to build or open")
    for n, r in epochs.items():
        print(
            f"stream epoch over {n} images (read + normalise): {r['seconds']:.1f}s, "
            f"{r['images'] / r['seconds']:.0f} img/s, peak RSS {r['peak_rss_mib']:.0f} MiB "
            f"({r['peak_rss_mib'] - r['baseline_rss_mib']:.0f} above the process after importing torch)"
        )
    print(
        json.dumps(
            {
                "device_img_s": round(med["device"], 1),
                "stream_img_s": round(med["stream"], 1),
                "torchvision_img_s": round(med["torchvision"], 1),
                "stream_over_device": round(med["stream"] / med["device"], 3),
                "stream_over_torchvision": round(med["stream"] / med["torchvision"], 3),
                "stream_over_device_per_round": [round(r, 3) for r in per_round["device"]],
                "stream_over_torchvision_per_round": [round(r, 3) for r in per_round["torchvision"]],
                "decode_parallel_img_s": round(d_par["images"] / d_par["seconds"], 1),
                "decode_sent_back_img_s": round(d_pipe["images"] / d_pipe["seconds"], 1),
                "decode_one_process_img_s": round(d_one["images"] / d_one["seconds"], 1),
                "decode_parallel_over_one_per_round": [round(r, 3) for r in decode_ratio_per_round],
                "stream_epoch_peak_rss_mib": {str(n): round(r["peak_rss_mib"], 1) for n, r in epochs.items()},
                "stream_epoch_rss_above_torch_mib": {
                    str(n): round(r["peak_rss_mib"] - r["baseline_rss_mib"], 1) for n, r in epochs.items()
                },
                "stream_epoch_img_s": {str(n): round(r["images"] / r["seconds"], 1) for n, r in epochs.items()},
                "cache_build_or_open_seconds": {str(n): round(s, 1) for n, s in cache_build.items()},
                "cores": cores,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
