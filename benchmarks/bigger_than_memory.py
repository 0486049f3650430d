"""Training on a cache larger than the memory the process may use: bounded memory, no OOM kill.

    python benchmarks/bigger_than_memory.py [--limit-mib 1500] [--store-size 256] [--image-size 64]   (as root)
    python benchmarks/bigger_than_memory.py --limit-mib 0 --store-size 736 --image-size 224 --storage auto

On the image folder that `benchmarks/data_scale.py` builds under the cache folder (20,000 JPEGs at
256 px), with `data.store_size` 256 the cache is 20,000 x 3 x 256 x 256 = 3.9 GB. The cache is
built (or found) first, without a limit; then `tui-trainer --headless` trains one epoch of a small
CNN in a cgroup whose memory limit (`--limit-mib`, page cache included) is well below that, once
per `--storage` setting (default: stream, auto, device). Before each run the cache files' pages are
evicted from the page cache, so the run reads from the disk and what it caches counts against its
limit. For each: whether it finished or was OOM-killed, its peak RSS (the kernel's high-water mark
for the process), the cgroup's peak charge (RSS plus page cache, which the kernel reclaims at the
limit), the storage that auto chose and why, and the training images/s from the run's metrics.
`device` is expected to be killed: it reads the whole cache into memory.

`--limit-mib 0` sets no limit: the run has the whole machine, and a store size that makes the cache
larger than the machine's RAM (736 px: 32.5 GB for 20,000 images) shows the same on real memory.
Do not pass `device` then: it would exhaust the machine's memory, not a cgroup's.

With a limit, it needs root and a cgroup memory controller (v2 at /sys/fs/cgroup, or v1 at /sys/fs/cgroup/memory);
a rlimit on address space is no substitute (torch reserves far more address space than it
touches, and a mapped file counts in full), so without a cgroup the script stops and says so.
A table, then a last line of JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")
NAME = "tui-trainer-bigger-than-memory"

PRESET = """
name = "bigger-than-memory"
[data]
dataset = "imagefolder"
root = {root!r}
image_size = {image_size}
store_size = {store_size}
batch_size = {batch}
storage = {storage!r}
[model]
name = "small_cnn"
width = 8
[optimizer]
name = "sgd"
lr = 0.05
[scheduler]
name = "none"
[train]
epochs = 1
device = "cpu"
precision = "fp32"
seed = 0
"""


class Cgroup:
    """A memory-limited cgroup (v2 or v1): the processes put in it and their children share the limit."""

    def __init__(self, limit: int) -> None:
        v2 = CGROUP / "cgroup.controllers"
        if v2.exists() and "memory" in v2.read_text().split():
            self.folder, self.v2 = CGROUP / NAME, True
        elif (CGROUP / "memory" / "memory.limit_in_bytes").exists():
            self.folder, self.v2 = CGROUP / "memory" / NAME, False
        else:
            raise SystemExit("no cgroup memory controller found (v2 at /sys/fs/cgroup, v1 at /sys/fs/cgroup/memory)")
        self.folder.mkdir(exist_ok=True)
        self._write("memory.max" if self.v2 else "memory.limit_in_bytes", str(limit))
        if not self.v2:
            with contextlib.suppress(OSError):  # no swap to escape into, where swap accounting exists
                self._write("memory.memsw.limit_in_bytes", str(limit))
        self.kind = "cgroup v2 memory.max" if self.v2 else "cgroup v1 memory.limit_in_bytes"

    def _write(self, name: str, value: str) -> None:
        (self.folder / name).write_text(value)

    def _read(self, name: str) -> str:
        return (self.folder / name).read_text()

    def reset_peak(self) -> None:
        if not self.v2:
            self._write("memory.max_usage_in_bytes", "0")

    def peak(self) -> int | None:
        """The group's high-water mark of charged memory (v2: since it was made; v1: since reset_peak)."""
        try:
            return int(self._read("memory.peak" if self.v2 else "memory.max_usage_in_bytes"))
        except (OSError, ValueError):
            return None

    def oom_kills(self) -> int:
        text = self._read("memory.events" if self.v2 else "memory.oom_control")
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def join(self) -> None:
        """Move the calling process into the group (run in the child, before exec)."""
        self._write("cgroup.procs", str(os.getpid()))

    def remove(self) -> None:
        with contextlib.suppress(OSError):
            self.folder.rmdir()


class NoLimit:
    """Stands in for a cgroup when `--limit-mib 0`: the run has the machine's memory."""

    kind = "no limit (the machine's memory)"

    def reset_peak(self) -> None:
        pass

    def peak(self) -> None:
        return None

    def oom_kills(self) -> int:
        return 0

    def join(self) -> None:
        pass

    def remove(self) -> None:
        pass


@contextlib.contextmanager
def cgroup(limit: int) -> Iterator[Cgroup | NoLimit]:
    group = Cgroup(limit) if limit else NoLimit()
    try:
        yield group
    finally:
        group.remove()


def _build_cache(root: str, image_size: int, store_size: int) -> tuple[float, int, list[str]]:
    """(seconds, bytes of training images, the entries' files) to build or open the train and val
    cache entries, outside any limit."""
    snippet = (
        "import json, sys; from tui_trainer.config.schema import DataConfig; from tui_trainer.data import load_data\n"
        "d = load_data(DataConfig(dataset='imagefolder', root=sys.argv[1], image_size=int(sys.argv[2]),"
        " store_size=int(sys.argv[3])))\n"
        "print(json.dumps([d.train.nbytes, [str(s.disk.path) for s in (d.train, d.val) if s.disk]]))"
    )
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", snippet, root, str(image_size), str(store_size)], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"building the cache failed:\n{done.stderr[-3000:]}")
    nbytes, files = json.loads(done.stdout.strip().splitlines()[-1])
    return time.perf_counter() - start, nbytes, files


def _ram() -> int:
    """The machine's physical memory in bytes."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _evict(files: list[str]) -> None:
    """Drop the files' pages from the page cache, so the run reads them from the disk and the pages
    it reads are charged to its cgroup (pages already cached stay charged to whoever read them)."""
    for name in files:
        fd = os.open(name, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def _train(group: Cgroup | NoLimit, preset: Path, runs: Path, timeout: float) -> dict:
    """One headless run inside the group: exit status, peak RSS, peak charge, run records."""
    kills = group.oom_kills()
    group.reset_peak()
    command = [sys.executable, "-m", "tui_trainer", "--headless", str(preset), "--runs-dir", str(runs)]
    log = runs.with_suffix(".log")
    start = time.perf_counter()
    with open(log, "w") as out:
        child = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, preexec_fn=group.join)
    timer = threading.Timer(timeout, child.kill)
    timer.start()
    # wait4 gives this child's own resource use: its peak RSS, not the largest of every child so far.
    _pid, status, usage = os.wait4(child.pid, 0)
    timer.cancel()
    child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    peak_rss = usage.ru_maxrss * 1024
    output = log.read_text(errors="replace")
    result = {
        "exit": child.returncode,
        "oom_killed": group.oom_kills() > kills,
        "peak_rss_mib": round(peak_rss / 2**20, 1),
        "cgroup_peak_mib": round(p / 2**20, 1) if (p := group.peak()) is not None else None,
        "wall_s": round(wall, 1),
        "output_tail": output.strip().splitlines()[-3:],
    }
    # The epoch's health line: how much of each step waited for its batch (the data path's share).
    if found := re.findall(r"health: step ([0-9.]+) ms: data ([0-9.]+) ms", output):
        step_ms, data_ms = map(float, found[-1])
        result.update(step_ms=step_ms, data_ms=data_ms, data_share=round(data_ms / step_ms, 3) if step_ms else None)
    folders = sorted(runs.iterdir()) if runs.exists() else []
    if folders:
        status = json.loads((folders[-1] / "status.json").read_text())
        result["storage"] = status.get("storage")
        result["storage_reason"] = status.get("storage_reason")
        metrics = folders[-1] / "metrics.jsonl"
        if metrics.exists() and (lines := metrics.read_text().splitlines()):
            record = json.loads(lines[-1])
            result["train_img_s"] = round(record["train_images_per_second"], 1)
            result["epoch_s"] = round(record["epoch_seconds"], 1)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default="", help="image folder (default: data_scale.py's, under the cache folder)")
    parser.add_argument("--limit-mib", type=int, default=1500, help="the cgroup's memory limit (0: none)")
    parser.add_argument("--store-size", type=int, default=256)
    parser.add_argument("--image-size", type=int, default=64, help="trained size (cropped from the stored 256)")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--storage", nargs="+", default=["stream", "auto", "device"])
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per run before it is stopped")
    args = parser.parse_args(argv)

    from tui_trainer.data.paths import cache_dir

    root = args.root or str(cache_dir() / "bench-data-scale-256px")
    if not (Path(root) / "train").is_dir():
        raise SystemExit(f"{root}/train is missing: run benchmarks/data_scale.py first, or pass --root")
    limit = args.limit_mib * 2**20
    built, nbytes, files = _build_cache(root, args.image_size, args.store_size)
    print(
        f"cache of {root}: {nbytes / 2**30:.2f} GiB of training images at {args.store_size} px "
        f"({built:.0f} s to build or open); "
        + (
            f"memory limit {args.limit_mib} MiB ({limit / nbytes:.2f}x the cache)"
            if limit
            else f"no limit: the machine's {_ram() / 2**30:.1f} GiB of RAM ({_ram() / nbytes:.2f}x the cache)"
        )
    )
    results = {}
    with cgroup(limit) as group, tempfile.TemporaryDirectory(prefix="tui-trainer-btm-") as work:
        limit_text = f"limit set with {group.kind}" if limit else "no memory limit"
        print(f"{limit_text}; training 1 epoch of small_cnn at {args.image_size} px, batch {args.batch}")
        for storage in args.storage:
            preset = Path(work) / f"{storage}.toml"
            preset.write_text(
                PRESET.format(
                    root=root,
                    image_size=args.image_size,
                    store_size=args.store_size,
                    batch=args.batch,
                    storage=storage,
                )
            )
            runs = Path(work) / f"runs-{storage}"
            _evict(files)
            results[storage] = _train(group, preset, runs, args.timeout)
            shutil.rmtree(runs, ignore_errors=True)
            r = results[storage]
            print(f"  {storage}: exit {r['exit']}, OOM-killed {r['oom_killed']}, {r.get('storage_reason', '')}")
    print(f"\n{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.2f}")
    print(
        f"{'data.storage':<14}{'finished':>9}{'OOM kill':>9}{'peak RSS MiB':>14}{'cgroup peak MiB':>17}{'img/s':>8}"
        f"{'waiting for data':>18}"
    )
    for storage, r in results.items():
        rate = f"{r['train_img_s']:.0f}" if "train_img_s" in r else "-"
        waiting = f"{r['data_ms']:.0f} of {r['step_ms']:.0f} ms" if r.get("step_ms") else "-"
        print(
            f"{storage:<14}{'yes' if r['exit'] == 0 else 'no':>9}{'yes' if r['oom_killed'] else 'no':>9}"
            f"{r['peak_rss_mib']:>14.0f}{r['cgroup_peak_mib'] or 0:>17.0f}{rate:>8}{waiting:>18}"
        )
    print(
        json.dumps(
            {
                "limit_mib": args.limit_mib,
                "cache_gib": round(nbytes / 2**30, 3),
                "store_size": args.store_size,
                "image_size": args.image_size,
                "runs": {s: {k: v for k, v in r.items() if k != "output_tail"} for s, r in results.items()},
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
