"""Throughput of the training-data pipeline against the seed's per-image torchvision pipeline.

    python benchmarks/data_pipeline.py --root ../shared/data/cifar10-jpeg [--seconds 10]

Both run on this machine in one go, with the seed recipe's augmentation (crop scale 0.8-1.0,
rotation 15, flip 0.5, mean/std 0.5) at 32x32 in batches of 64:

* project: images decoded once into a uint8 tensor (the one-off decode and the cached reload are
  timed separately, in subprocesses that also report their peak RSS), then `TrainBatches` +
  `BatchAugment` on the CPU;
* reference: torchvision ImageFolder + RandomResizedCrop + RandomRotation + RandomHorizontalFlip +
  ToTensor + Normalize, DataLoader(batch_size=64, shuffle=True, num_workers=os.cpu_count());
* pre-decoded torchvision v2: the same transforms (v2, per image, each its own parameters) on the
  cached uint8 tensors, so JPEG decoding is out of the comparison and only augmentation is left;
* pre-decoded kornia: the same transforms as kornia's batch augmentations (each image its own
  parameters, one call per batch) on the cached tensors scaled to float. kornia is optional
  (`pip install -e .[bench]`); without it the column is skipped, and the run says so.

The pipelines run interleaved (A B C D A B C D, `--rounds`), and the medians are reported, so a
change in the machine's load reaches all of them.

Wall-clock images/s move with other jobs on a shared machine, so images per CPU-second (this
process plus the DataLoader workers) are printed as well. The last line is JSON:
{"project_img_s", "reference_img_s", "ratio", ...}.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LOAD_SNIPPET = """
import json, resource, sys, time
import torch  # noqa: F401
from tui_trainer.config.schema import DataConfig
from tui_trainer.data import load_data
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
data = load_data(DataConfig(dataset="imagefolder", root=sys.argv[1]))
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "peak_kib": peak, "after_imports_kib": base,
                  "train": len(data.train), "val": len(data.val)}))
"""


def measure_load(root: str, cache: str) -> dict:
    """load_data in a fresh interpreter (so its peak RSS is its own), with the cache in `cache`."""
    env = dict(os.environ, TUI_TRAINER_CACHE=cache)
    done = subprocess.run(
        [sys.executable, "-c", LOAD_SNIPPET, root], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"loading {root} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def project_rate(root: str, cache: str, seconds: float, batch_size: int) -> tuple[float, float]:
    """(images per second, images per CPU-second) of TrainBatches + BatchAugment on the cached train split."""
    import torch

    from tui_trainer.config.schema import AugmentConfig, DataConfig
    from tui_trainer.data import BatchAugment, TrainBatches, load_data

    os.environ["TUI_TRAINER_CACHE"] = cache
    data = load_data(DataConfig(dataset="imagefolder", root=root)).train
    augment = BatchAugment(
        AugmentConfig(crop=True, crop_scale=(0.8, 1.0), rotation=15.0, hflip=0.5, mean=(0.5,) * 3, std=(0.5,) * 3),
        image_size=32,
    )
    batches = TrainBatches(data, batch_size, augment, drop_last=False, seed=0)
    warm_up = batches.epoch(0)
    for _ in range(20):
        next(warm_up)
    images_done = 0
    epoch = 1
    cpu_start = time.process_time()
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for images, _labels in batches.epoch(epoch):
            images_done += images.shape[0]
            if time.perf_counter() - start >= seconds:
                break
        epoch += 1
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    if images.dtype != torch.float32:
        raise SystemExit(f"expected float32 batches, got {images.dtype}")
    return images_done / elapsed, images_done / cpu


def _cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the DataLoader workers)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def reference_rate(root: str, seconds: float, batch_size: int, workers: int) -> tuple[float, float]:
    """(images per second, images per CPU-second) of the seed's per-image torchvision pipeline."""
    import torch
    from torchvision import datasets, transforms

    transform = transforms.Compose(
        [
            transforms.RandomResizedCrop(32, scale=(0.8, 1.0)),
            transforms.RandomRotation(15),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
        ]
    )
    dataset = datasets.ImageFolder(str(Path(root) / "train"), transform=transform)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers)
    cpu_start = _cpu_seconds()  # includes the workers' start-up, once they have exited
    iterator = iter(loader)
    for _ in range(3):  # worker start-up and first batches are not counted in images/s
        next(iterator)
    images_done = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        try:
            images, _labels = next(iterator)
        except StopIteration:
            iterator = iter(loader)
            continue
        images_done += images.shape[0]
    elapsed = time.perf_counter() - start
    del iterator  # joins the workers, so their CPU time is counted
    gc.collect()
    cpu = _cpu_seconds() - cpu_start
    return images_done / elapsed, (images_done + 3 * batch_size) / cpu


def v2_rate(root: str, cache: str, seconds: float, batch_size: int) -> float:
    """Images per second of per-image torchvision v2 transforms on the pre-decoded uint8 train split."""
    import torch
    from torchvision.transforms import v2

    from tui_trainer.config.schema import DataConfig
    from tui_trainer.data import load_data

    os.environ["TUI_TRAINER_CACHE"] = cache
    images = load_data(DataConfig(dataset="imagefolder", root=root)).train.images
    transform = v2.Compose(
        [
            v2.RandomResizedCrop(32, scale=(0.8, 1.0), antialias=True),
            v2.RandomRotation(15),
            v2.RandomHorizontalFlip(),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
        ]
    )
    generator = torch.Generator().manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # per-image ops on 32x32 images: one thread, as the project uses for small work
    done = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        index = torch.randint(len(images), (batch_size,), generator=generator)
        batch = torch.stack([transform(images[i]) for i in index.tolist()])
        done += batch.shape[0]
    rate = done / (time.perf_counter() - start)
    torch.set_num_threads(threads)
    return rate


def kornia_rate(root: str, cache: str, seconds: float, batch_size: int) -> float:
    """Images per second of kornia's batch augmentations on the pre-decoded train split (uint8 -> float
    [0, 1] per batch, as kornia expects), with the project's thread setting for small batch work."""
    import kornia.augmentation as K
    import torch

    from tui_trainer.config.schema import DataConfig
    from tui_trainer.data import load_data
    from tui_trainer.data.threads import single_thread_for_small

    os.environ["TUI_TRAINER_CACHE"] = cache
    images = load_data(DataConfig(dataset="imagefolder", root=root)).train.images
    transform = K.AugmentationSequential(
        K.RandomResizedCrop((32, 32), scale=(0.8, 1.0)),
        K.RandomRotation(15.0, p=1.0),
        K.RandomHorizontalFlip(),
        K.Normalize(mean=torch.tensor((0.5, 0.5, 0.5)), std=torch.tensor((0.5, 0.5, 0.5))),
    )
    generator = torch.Generator().manual_seed(0)
    done = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        index = torch.randint(len(images), (batch_size,), generator=generator)
        batch = images.index_select(0, index)
        with single_thread_for_small(batch.device, batch.numel()):
            out = transform(batch.float().div_(255.0))
        done += out.shape[0]
    return done / (time.perf_counter() - start)


def _has_kornia() -> bool:
    try:
        import kornia.augmentation  # noqa: F401
    except ImportError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", required=True, help="image folder with train/<class>/*")
    parser.add_argument("--seconds", type=float, default=10.0, help="measuring time per pipeline")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="reference DataLoader workers")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds of the pipelines")
    args = parser.parse_args(argv)
    root = str(Path(args.root).expanduser().absolute())

    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, root {root}")
    with tempfile.TemporaryDirectory(prefix="tui-trainer-bench-cache-") as cache:
        cold = measure_load(root, cache)
        warm = measure_load(root, cache)
        mib = 1024.0  # ru_maxrss is in KiB on Linux
        print(
            f"load, first start (decode {cold['train']} train + {cold['val']} val images, write cache): "
            f"{cold['seconds']:.2f} s, peak RSS {cold['peak_kib'] / mib:.0f} MiB "
            f"({cold['after_imports_kib'] / mib:.0f} MiB after importing torch)"
        )
        print(
            f"load, later starts (from the cache): {warm['seconds']:.2f} s, peak RSS {warm['peak_kib'] / mib:.0f} MiB"
        )
        with_kornia = _has_kornia()
        if not with_kornia:
            print("kornia is not installed (pip install -e .[bench]): its column is skipped")
        rounds: dict[str, list[tuple[float, float]]] = {"project": [], "reference": [], "v2": [], "kornia": []}
        for _ in range(args.rounds):  # A B C D A B C D: the same load reaches every pipeline
            rounds["project"].append(project_rate(root, cache, args.seconds, args.batch_size))
            rounds["reference"].append(reference_rate(root, args.seconds, args.batch_size, args.workers))
            rounds["v2"].append((v2_rate(root, cache, args.seconds, args.batch_size), 0.0))
            if with_kornia:
                rounds["kornia"].append((kornia_rate(root, cache, args.seconds, args.batch_size), 0.0))
    project, project_cpu = (statistics.median(r[k] for r in rounds["project"]) for k in (0, 1))
    reference, reference_cpu = (statistics.median(r[k] for r in rounds["reference"]) for k in (0, 1))
    predecoded = statistics.median(r[0] for r in rounds["v2"])
    per_round = ", ".join(f"{p[0] / r[0]:.1f}x" for p, r in zip(rounds["project"], rounds["reference"], strict=True))
    print(f"project pipeline   (TrainBatches + BatchAugment, CPU): {project:8.0f} images/s")
    print(f"reference pipeline (torchvision, {args.workers} workers):      {reference:8.0f} images/s")
    print(f"pre-decoded torchvision v2 (per image, one process):  {predecoded:8.0f} images/s")
    kornia = statistics.median(r[0] for r in rounds["kornia"]) if with_kornia else None
    if kornia is not None:
        print(f"pre-decoded kornia (per batch, one process):          {kornia:8.0f} images/s")
    else:
        print("pre-decoded kornia: skipped (kornia is not installed)")
    print(f"project / reference per round: {per_round}")
    ratio = project / reference
    print(f"ratio: {ratio:.1f}x")
    # On a shared machine wall-clock rates move with other jobs; CPU cost per image does much less.
    print(
        f"CPU cost: project {project_cpu:.0f}, reference {reference_cpu:.0f} images per CPU-second "
        f"({project_cpu / reference_cpu:.1f}x); load average {os.getloadavg()[0]:.2f}"
    )
    print(
        json.dumps(
            {
                "project_img_s": round(project, 1),
                "reference_img_s": round(reference, 1),
                "ratio": round(ratio, 2),
                "predecoded_v2_img_s": round(predecoded, 1),
                "project_over_predecoded_v2": round(project / predecoded, 2),
                "predecoded_kornia_img_s": round(kornia, 1) if kornia is not None else None,
                "project_over_predecoded_kornia": round(project / kornia, 2) if kornia is not None else None,
                "project_img_per_cpu_s": round(project_cpu, 1),
                "reference_img_per_cpu_s": round(reference_cpu, 1),
                "decode_seconds": round(cold["seconds"], 2),
                "cached_load_seconds": round(warm["seconds"], 2),
                "load_peak_rss_mib": round(cold["peak_kib"] / mib, 1),
                "cached_load_peak_rss_mib": round(warm["peak_kib"] / mib, 1),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
