"""Filling the decoded-image cache from a CSV list, a Hugging Face parquet set and tar shards against
the same images as an image folder.

    python benchmarks/data_formats.py [--root ../shared/data/cifar10-jpeg | --generated] [--rounds 3] [--image-size 32]

The CSV list, the parquet files (train/validation, an `Image` column and a `ClassLabel`, via the
`datasets` library: the hf extra) and the shards (train-NNNNNN.tar / val-NNNNNN.tar of 1,000
samples, key.jpg + key.cls) are all made from the folder's own listing, in the folder's order, so
all four hold the same image bytes with the same labels. Each round loads each into a
fresh cache, each in its own interpreter (so the peak RSS is its own): `load_data` from the
preset's [data] table to the filled cache, listing and fingerprinting included. The formats run
interleaved, in turns (folder, csv, csv, folder, ...: neither always finds the files in the page
cache), and the medians are printed, so a change in the machine's load reaches both. Then both
caches are opened and compared: the pixels and labels must be identical, else the benchmark fails.

Without ../shared/data/cifar10-jpeg (or --root), 3,000 generated 48 px JPEGs in 10 classes are used.
The CSV then lies in the dataset folder, as a downloaded one does; beside a shared folder it cannot
be written into, it lies in a temporary folder and names the files by absolute path (with
`data.csv_allow_outside = true`). The last line is JSON.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cifar10-jpeg"

LOAD_SNIPPET = """
import json, resource, sys, time
from tui_trainer.config.schema import DataConfig
from tui_trainer.data import load_data
cfg = DataConfig.model_validate_json(sys.argv[1])
start = time.perf_counter()
data = load_data(cfg)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "images": len(data.train) + len(data.val)}))
"""


def generated_images(root: Path, count: int = 3000, side: int = 48) -> Path:
    """root/train/<class>/*.jpg and root/val/<class>/*.jpg: noisy colour fields, one colour per class."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(count):
        split = "val" if (i // 10) % 6 == 0 else "train"
        cls = i % 10
        colour = np.array([(25 * cls) % 256, (80 + 40 * cls) % 256, (200 - 15 * cls) % 256])
        pixels = np.clip(colour + rng.integers(-50, 50, (side, side, 3)), 0, 255).astype(np.uint8)
        folder = root / split / f"class{cls}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(folder / f"{i:05d}.jpg", quality=90)
    return root


def write_lists(root: Path, out: Path) -> bool:
    """train.csv and val.csv in `out` listing the folder's files; True when paths are absolute."""
    from tui_trainer.config.schema import DataConfig
    from tui_trainer.data.folder import list_folder

    listing = list_folder(DataConfig(dataset="imagefolder", root=str(root)))
    absolute = out.resolve() != root.resolve()
    for name, split in listing.splits.items():
        with open(out / f"{name}.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["path", "label"])
            for path, label in zip(split.paths, split.labels, strict=True):
                shown = str(path) if absolute else path.relative_to(root).as_posix()
                writer.writerow([shown, listing.classes[label]])
    return absolute


def write_shards(root: Path, out: Path, per_shard: int = 1000) -> tuple[str, ...]:
    """train-NNNNNN.tar and val-NNNNNN.tar in `out` holding the folder's files (key.<ext> + key.cls)."""
    import tarfile

    from tui_trainer.config.schema import DataConfig
    from tui_trainer.data.folder import list_folder

    listing = list_folder(DataConfig(dataset="imagefolder", root=str(root)))
    out.mkdir(parents=True, exist_ok=True)
    for name, split in listing.splits.items():
        samples = list(zip(split.paths, split.labels, strict=True))
        for n, start in enumerate(range(0, len(samples), per_shard)):
            with tarfile.open(out / f"{name}-{n:06d}.tar", "w") as tar:
                for i, (path, label) in enumerate(samples[start : start + per_shard], start):
                    tar.add(str(path), arcname=f"{i:07d}{path.suffix.lower()}")
                    info = tarfile.TarInfo(f"{i:07d}.cls")
                    data = str(label).encode()
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
    return listing.classes


def write_parquet(root: Path, out: Path, per_file: int = 20000) -> None:
    """train-NNNNN.parquet and validation-NNNNN.parquet in `out` holding the folder's files."""
    import datasets

    from tui_trainer.config.schema import DataConfig
    from tui_trainer.data.folder import list_folder

    datasets.disable_progress_bars()
    listing = list_folder(DataConfig(dataset="imagefolder", root=str(root)))
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=list(listing.classes))})
    out.mkdir(parents=True, exist_ok=True)
    for name, split in listing.splits.items():
        for n, start in enumerate(range(0, len(split.paths), per_file)):
            paths = split.paths[start : start + per_file]
            rows = {
                "image": [{"bytes": Path(p).read_bytes(), "path": None} for p in paths],
                "label": list(split.labels[start : start + per_file]),
            }
            part = datasets.Dataset.from_dict(rows, features=features)
            part.to_parquet(str(out / f"{'validation' if name == 'val' else name}-{n:05d}.parquet"))


def fill(cfg: dict, cache: Path) -> dict:
    """load_data into an empty cache folder, in a fresh interpreter: seconds, peak RSS, images."""
    env = dict(os.environ, TUI_TRAINER_CACHE=str(cache), OMP_NUM_THREADS="1")
    done = subprocess.run(
        [sys.executable, "-c", LOAD_SNIPPET, json.dumps(cfg)], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"load_data failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def same_pixels(configs: dict[str, dict], caches: dict[str, Path]) -> bool:
    """Open every filled cache (no decoding) and compare each image and label with the folder's."""
    import torch

    from tui_trainer.config.schema import DataConfig
    from tui_trainer.data import load_data

    loaded = {}
    for name, cfg in configs.items():
        os.environ["TUI_TRAINER_CACHE"] = str(caches[name])
        loaded[name] = load_data(DataConfig(**cfg))
    a = loaded["folder"]
    return all(
        a.classes == b.classes
        and all(
            torch.equal(x.images, y.images) and torch.equal(x.labels, y.labels)
            for x, y in ((a.train, b.train), (a.val, b.val))
        )
        for b in loaded.values()
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=SHARED if SHARED.is_dir() else None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--generated", action="store_true", help="use generated images even beside ../shared")
    args = parser.parse_args()
    if args.generated:
        args.root = None
    with tempfile.TemporaryDirectory(prefix="data-formats-") as tmp_name:
        tmp = Path(tmp_name)
        root = args.root.resolve() if args.root is not None else generated_images(tmp / "generated")
        lists = tmp / "lists" if args.root is not None else root
        lists.mkdir(exist_ok=True)
        absolute = write_lists(root, lists)
        classes = write_shards(root, tmp / "shards")
        write_parquet(root, tmp / "parquet")
        common = {"image_size": args.image_size, "cache": True, "storage": "stream"}
        configs = {
            "folder": {"dataset": "imagefolder", "root": str(root), **common},
            "csv": {"dataset": "csv", "root": str(lists), "csv_allow_outside": absolute, **common},
            "parquet": {"dataset": "hf", "root": str(tmp / "parquet"), **common},
            "shards": {"dataset": "shards", "root": str(tmp / "shards"), "classes": list(classes), **common},
        }
        results: dict[str, list[dict]] = {name: [] for name in configs}
        caches = {}
        for round_ in range(args.rounds):
            order = list(configs) if round_ % 2 == 0 else list(reversed(configs))  # none always reads first
            for name in order:
                caches[name] = tmp / f"cache-{name}-{round_}"
                results[name].append(fill(configs[name], caches[name]))
        identical = same_pixels(configs, caches)
    summary = {}
    print(f"{results['folder'][0]['images']:,} images from {root} at {args.image_size} px, {args.rounds} rounds")
    print(f"{'':8}{'images/s':>12}{'peak RSS':>12}")
    for name, rows in results.items():
        rate = statistics.median(r["images"] / r["seconds"] for r in rows)
        peak = statistics.median(r["peak_kib"] for r in rows) / 1024
        summary[name] = {"img_s": round(rate), "peak_rss_mib": round(peak)}
        print(f"{name:8}{rate:>12,.0f}{peak:>9,.0f} MiB")
    print(f"cached pixels and labels identical: {identical}")
    print(json.dumps({**summary, "identical": identical, "root": str(root), "absolute_paths": absolute}))
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
