"""One prepared check of every CUDA path, for the few minutes a GPU machine is lent.

A lent GPU comes for 15 minutes in all (machine start included), one command of at most 10
minutes at a time, over a copy of the working tree plus at most 64 MiB of carried, git-ignored
files, with no network. So everything the check needs travels in `.gpu-check/` (ignored by git):
the CIFAR-10 JPEG copy as one .tar.gz and the wheels of the few pure dependencies the device's
image lacks (pydantic and its helpers, tomlkit). Prepare it here, once:

    python benchmarks/gpu_check.py --pack /work/shared/data/cifar10-jpeg

Rehearse every step at toy size on CPU (what tests/test_gpu_check.py runs, on tiny data):

    python benchmarks/gpu_check.py --device cpu --quick --out /tmp/gc.json

On the device machine: `carry` [".gpu-check"], `timeout_s` 570, and this command line (one line;
`python benchmarks/gpu_check.py --print-command` prints it as DEVICE_COMMAND holds it):

    set -o pipefail; export PYTHONUNBUFFERED=1; \
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .gpu-check/wheels/*.whl && export PYTHONPATH=/tmp/site && \
    { python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . \
    || echo "editable install failed; gpu_check.py uses its import shim"; } && \
    python3 benchmarks/gpu_check.py --data .gpu-check/cifar10-jpeg.tar.gz --out $OUT/gpu_check.json \
    2>&1 | tee $OUT/gpu_check.log

The wheels go to /tmp/site (the image has no pydantic or tomlkit and no registry to fetch them
from); torch, numpy, pillow, rich, pytest and pytest-timeout are the image's own.

Steps, in order of value, each in its own try (a failure is recorded with its traceback and the
rest go on), each given at most what the global `--budget` (450 s) leaves after the minimum the
later steps need, so late steps are skipped with a reason instead of the call timing out:

1. cuda_tests: `pytest -m cuda tests/test_cuda.py` in a subprocess; pass/fail/skip counts.
2. data_pipeline: augmented 32 px images/s on the device at several batch sizes (target > 1M),
   and the pipeline's share of a seed-preset training step at batch 64.
3. seed_epochs: the seed preset for two epochs each in fp32, bf16 + channels_last, the same with
   `data.storage = "stream"` (batches read from the cache file, pinned, copied on a side stream),
   and + compile: s/epoch (first and steady), images/s, peak memory, GPU utilisation.
4. seed_full: the seed preset's 40 epochs on the CIFAR-10 JPEG copy through the headless CLI
   (capped in time), then `--eval` on the run if the CLI has it; accuracy against the 89.66%.
5. fast_preset: presets/cifar10-fast.toml to its end, beside airbench94's 94.01% in 3.09-3.83 s.
6. ddp_two_processes: two processes on one GPU under torchrun, NCCL first, gloo if NCCL fails.

The JSON (`--out`) is rewritten after every step and figure, so a call that dies still returns
what was measured; the last lines printed are a summary table.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SEED = REPO / "presets" / "seed.toml"
FAST = REPO / "presets" / "cifar10-fast.toml"
PACK_DIR = REPO / ".gpu-check"
DATA_ARCHIVE = "cifar10-jpeg.tar.gz"
WHEELS = ("pydantic", "pydantic_core", "annotated_types", "typing_inspection", "typing_extensions", "tomlkit")
"""Distributions the device image lacks (or may hold too old), carried as wheels of this env's versions."""

COURSEWORK_VAL_ACC = 0.8966  # presets/seed.toml: the coursework's accuracy after its 40th epoch
AIRBENCH94 = {"val_acc": 0.9401, "seconds": [3.09, 3.83], "gpu": "A100", "note": "published; CIFAR-10 test set"}
DEVICE_COMMAND = (
    "set -o pipefail; export PYTHONUNBUFFERED=1; "
    "python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade "
    "--target /tmp/site .gpu-check/wheels/*.whl && export PYTHONPATH=/tmp/site && "
    "{ python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . "
    '|| echo "editable install failed; gpu_check.py uses its import shim"; } && '
    "python3 benchmarks/gpu_check.py --data .gpu-check/cifar10-jpeg.tar.gz --out $OUT/gpu_check.json "
    "2>&1 | tee $OUT/gpu_check.log"
)
"""The device tool's `command` (at most 2000 characters), run in the copy of the working tree."""
PIPELINE_TARGET = 1_000_000  # augmented 32 px images per second on the device

STEPS = ("cuda_tests", "data_pipeline", "seed_epochs", "seed_full", "fast_preset", "ddp_two_processes")
MIN_SECONDS = {
    "cuda_tests": 20,
    "data_pipeline": 15,
    "seed_epochs": 30,
    "seed_full": 60,
    "fast_preset": 45,
    "ddp_two_processes": 60,
}
"""The least time a step needs to say anything: later steps keep this much back from earlier ones."""


def log(message: str) -> None:
    print(message, flush=True)


def write_json(path: Path, payload: Any) -> None:
    """Temporary file + os.replace: a kill mid-write leaves the previous JSON whole. (Not
    tui_trainer.atomic: the JSON must still be written when the project itself fails to import.)"""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def error_record(exc: BaseException) -> dict[str, str]:
    lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
    return {"error": f"{type(exc).__name__}: {exc}", "traceback": "".join(lines)[-3000:]}


def toml_string(value: str | Path) -> str:
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def sets(overrides: list[str]) -> list[str]:
    return [arg for override in overrides for arg in ("--set", override)]


# --------------------------------------------------------------------------------------------- packing


def pack(source: Path, dest: Path, python_version: str, wheels: bool) -> int:
    """Write dest/cifar10-jpeg.tar.gz (and dest/wheels/) for a device call to carry."""
    if not (source / "train").is_dir() or not (source / "val").is_dir():
        log(f"error: {source} has no train/ and val/ folders (expected the ImageFolder copy of CIFAR-10)")
        return 2
    dest.mkdir(parents=True, exist_ok=True)
    archive = dest / DATA_ARCHIVE
    start = time.perf_counter()
    tmp = archive.with_name(archive.name + ".tmp")
    with tarfile.open(tmp, "w:gz", compresslevel=6) as tar:
        tar.add(source, arcname=source.name)
    os.replace(tmp, archive)
    size = archive.stat().st_size
    log(f"{archive}: {size / 1e6:.1f} MB in {time.perf_counter() - start:.1f} s")
    if wheels:
        wheel_dir = dest / "wheels"
        shutil.rmtree(wheel_dir, ignore_errors=True)
        pins = [f"{name}=={importlib.metadata.version(name)}" for name in WHEELS]
        platforms = [
            f"--platform={p}_x86_64"
            for p in ("manylinux_2_28", "manylinux_2_27", "manylinux_2_17", "manylinux2014", "manylinux1")
        ]
        command = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:"]
        command += [f"--python-version={python_version}", "--implementation=cp", *platforms, "-d", str(wheel_dir)]
        done = subprocess.run([*command, *pins], check=False)
        if done.returncode != 0:
            log("error: pip download failed (it needs a package index); the data archive is written")
            return 1
        for wheel in sorted(wheel_dir.iterdir()):
            log(f"  {wheel.name}: {wheel.stat().st_size / 1e6:.2f} MB")
    total = sum(f.stat().st_size for f in dest.rglob("*") if f.is_file())
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=False).stdout
    tree = sum(
        (REPO / name).stat().st_size for name in tracked.decode().split("\0") if name and (REPO / name).is_file()
    )
    log(f"{dest}: {total / 2**20:.1f} MiB to carry; tracked files {tree / 2**20:.1f} MiB; limit 64 MiB together")
    if size > 20e6:
        log("warning: the data archive is over 20 MB")
    return 0 if total + tree < 60 * 2**20 else 1


def unpack(archive: Path, into: Path) -> tuple[Path, dict[str, Any]]:
    """Extract the packed image folder; returns (the folder holding train/ and val/, figures)."""
    start = time.perf_counter()
    shutil.rmtree(into, ignore_errors=True)
    into.mkdir(parents=True)
    with tarfile.open(archive, "r:gz") as tar:
        if sys.version_info >= (3, 12):
            tar.extractall(into, filter="data")
        else:  # pragma: no cover - older Pythons have no extraction filter; the archive is our own
            tar.extractall(into)
    roots = [p.parent for p in into.rglob("train") if p.is_dir() and (p.parent / "val").is_dir()]
    if not roots:
        raise FileNotFoundError(f"{archive} holds no folder with train/ and val/")
    files = sum(1 for f in roots[0].rglob("*") if f.is_file())
    return roots[0], {"archive": str(archive), "unpack_s": round(time.perf_counter() - start, 2), "files": files}


# --------------------------------------------------------------------------------------------- imports


def ensure_importable(work: Path) -> str:
    """'installed' when tui_trainer (with its models/ and presets/) imports; otherwise build a shim.

    models/ and presets/ sit at the top of the repository and become tui_trainer.models and
    tui_trainer.presets only through the install. Where `pip install -e .` failed on the device,
    a folder of symlinks gives the same layout; it goes first on sys.path and PYTHONPATH.
    """
    try:
        if importlib.util.find_spec("tui_trainer.models") is not None:
            return "installed"
    except ImportError:
        pass
    for name in [m for m in sys.modules if m == "tui_trainer" or m.startswith("tui_trainer.")]:
        del sys.modules[name]
    package = work / "shim" / "tui_trainer"
    shutil.rmtree(package.parent, ignore_errors=True)
    package.mkdir(parents=True)
    for entry in (REPO / "tui_trainer").iterdir():
        if entry.name != "__pycache__":
            (package / entry.name).symlink_to(entry)
    (package / "models").symlink_to(REPO / "models")
    (package / "presets").symlink_to(REPO / "presets")
    sys.path.insert(0, str(package.parent))
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(package.parent), os.environ.get("PYTHONPATH")]))
    importlib.invalidate_caches()
    return "shim"


# --------------------------------------------------------------------------------------------- GPU sampling


class GpuSampler:
    """GPU utilisation and memory in use, sampled in a thread (pynvml, else nvidia-smi), device-wide,
    so it also sees the subprocesses of steps 4-6. Optional: without either it says why."""

    def __init__(self, enabled: bool, interval: float = 0.2) -> None:
        self.enabled = enabled
        self.interval = interval
        self.util: list[float] = []
        self.memory: list[float] = []
        self.source: str | None = None
        self.reason = "" if enabled else "not on a CUDA device"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _reader(self) -> Callable[[], tuple[float, float]] | None:
        try:
            import pynvml

            pynvml.nvmlInit()
            handle = pynvml.nvmlDeviceGetHandleByIndex(0)
            self.source = "pynvml"

            def read() -> tuple[float, float]:
                rates = pynvml.nvmlDeviceGetUtilizationRates(handle)
                return float(rates.gpu), pynvml.nvmlDeviceGetMemoryInfo(handle).used / 2**20

            return read
        except Exception:  # noqa: BLE001 - any failure: try nvidia-smi
            pass
        if shutil.which("nvidia-smi") is None:
            self.reason = "neither pynvml nor nvidia-smi is available"
            return None
        self.source = "nvidia-smi"
        self.interval = max(self.interval, 0.5)
        query = ["nvidia-smi", "-i", "0", "--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader,nounits"]

        def read_smi() -> tuple[float, float]:
            out = subprocess.run(query, capture_output=True, text=True, timeout=5, check=True).stdout
            util, memory = out.strip().splitlines()[0].split(",")
            return float(util), float(memory)

        return read_smi

    def _loop(self, read: Callable[[], tuple[float, float]]) -> None:
        while not self._stop.wait(self.interval):
            try:
                util, memory = read()
            except Exception as exc:  # noqa: BLE001 - sampling is optional; say why it stopped
                self.reason = f"sampling failed: {exc}"
                return
            self.util.append(util)
            self.memory.append(memory)

    def __enter__(self) -> GpuSampler:
        if self.enabled:
            read = self._reader()
            if read is not None:
                self._thread = threading.Thread(target=self._loop, args=(read,), daemon=True)
                self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def summary(self) -> dict[str, Any]:
        if not self.util:
            return {"source": self.source, "reason": self.reason or "no samples"}
        return {
            "source": self.source,
            "samples": len(self.util),
            "util_mean_pct": round(statistics.fmean(self.util), 1),
            "util_median_pct": statistics.median(self.util),
            "memory_used_max_mib": round(max(self.memory)),
        }


# --------------------------------------------------------------------------------------------- the check


class Check:
    """The run's state: arguments, time budget, results (written after every change), data."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.quick: bool = args.quick
        self.device_name: str = args.device
        self.cuda = args.device == "cuda"
        self.work = Path(args.work).absolute()
        self.out = Path(args.out).absolute()
        self.started = time.monotonic()
        self.deadline = self.started + args.budget
        self.selected = [s for s in STEPS if s in args.steps]
        self.data_root: Path | None = None
        self.child: subprocess.Popen | None = None
        self._splits = None
        self._cpu_splits = None
        self.estimates: dict[str, float] = {}  # seconds a later step is expected to need, once known
        self.results: dict[str, Any] = {
            "format": 1,
            "started_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "argv": sys.argv,
            "device": args.device,
            "quick": args.quick,
            "budget_s": args.budget,
            "environment": {},
            "data": {},
            "steps": {
                name: {"order": i + 1, "status": "pending" if name in self.selected else "skipped"}
                for i, name in enumerate(STEPS)
            },
        }
        for name in STEPS:
            if name not in self.selected:
                self.results["steps"][name]["reason"] = "not selected (--steps)"

    # -- bookkeeping

    def save(self) -> None:
        self.results["elapsed_s"] = round(time.monotonic() - self.started, 1)
        write_json(self.out, self.results)

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def cap_for(self, step: str) -> float:
        """Seconds `step` may take: what is left after what the pending selected steps after it need
        (their minimum, or more where an earlier figure gave an estimate)."""
        later = self.selected[self.selected.index(step) + 1 :]
        pending = [s for s in later if self.results["steps"][s]["status"] == "pending"]
        return self.remaining() - sum(max(MIN_SECONDS[s], self.estimates.get(s, 0.0)) for s in pending)

    def env(self) -> dict[str, str]:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
            env.pop(name, None)
        return env

    def sync(self) -> None:
        if self.cuda:
            import torch

            torch.cuda.synchronize()

    # -- presets and data

    def data_overrides(self) -> list[str]:
        if "error" in self.results["data"]:  # --data was given but could not be used: no silent stand-in
            raise RuntimeError(f"--data {self.args.data} could not be prepared: {self.results['data']['error']}")
        if self.data_root is None:
            size = (256, 64) if self.quick else (50_000, 5_000)
            return [
                'data.dataset="synthetic"',
                f"data.synthetic_train_size={size[0]}",
                f"data.synthetic_val_size={size[1]}",
            ]
        overrides = ['data.dataset="imagefolder"', f"data.root={toml_string(self.data_root)}"]
        if self.quick:
            overrides += ["data.train_limit=256", "data.val_limit=64"]
        return overrides

    def seed_overrides(self, *extra: str) -> list[str]:
        quick = ["model.width=8", "train.epochs=1"] if self.quick else []
        return [*self.data_overrides(), f"train.device={toml_string(self.device_name)}", *quick, *extra]

    def seed_preset(self, *extra: str):
        from tui_trainer.config import load_preset

        return load_preset(SEED, self.seed_overrides(*extra))

    def splits(self):
        """The seed preset's data on the device, loaded (decoded on first use, then cached) once."""
        if self._splits is None:
            import torch

            from tui_trainer.data import DataSplits, load_data

            preset = self.seed_preset()
            start = time.perf_counter()
            splits = load_data(preset.data, seed=preset.train.seed)
            loaded = time.perf_counter() - start
            device = torch.device(self.device_name)
            self._cpu_splits = splits  # mapped from the cache file, for the stream variant
            self._splits = DataSplits(splits.train.to(device), splits.val.to(device), splits.classes)
            self.results["data"].update(
                load_s=round(loaded, 2),
                train_images=len(splits.train),
                val_images=len(splits.val),
                dataset=preset.data.dataset,
            )
            self.save()
        return self._splits

    def cpu_splits(self):
        """The seed preset's data as loaded, before the copy to the device: what `stream` storage reads."""
        self.splits()
        return self._cpu_splits

    # -- subprocesses

    def run_streaming(self, command: list[str], cap_s: float, label: str, cwd: Path | None = None) -> dict[str, Any]:
        """Run `command`, echoing its output; past `cap_s` seconds send SIGINT (the headless CLI then
        stops after its batch and writes last.pt), and SIGKILL 45 s later."""
        tail: collections.deque[str] = collections.deque(maxlen=80)
        start = time.monotonic()
        log(f"  $ {' '.join(command)}  (cap {cap_s:.0f} s)")
        proc = subprocess.Popen(
            command,
            cwd=cwd or self.work,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        self.child = proc

        def relay() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                tail.append(line.rstrip("\n"))
                print(f"  {label}| {line}", end="", flush=True)

        reader = threading.Thread(target=relay, daemon=True)
        reader.start()
        capped = False
        try:
            proc.wait(timeout=max(cap_s, 1.0))
        except subprocess.TimeoutExpired:
            capped = True
            log(f"  {label}: time cap of {cap_s:.0f} s reached, sending SIGINT")
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=45)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        finally:
            self.child = None
        reader.join(timeout=5)
        return {
            "command": command,
            "returncode": proc.returncode,
            "wall_s": round(time.monotonic() - start, 2),
            "capped": capped,
            "output_tail": "\n".join(tail)[-4000:],
        }


def _gpu_environment(check: Check) -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "cpu_count": os.cpu_count(),
        "hostname": socket.gethostname(),
    }
    for name in ("pydantic", "tomlkit", "numpy", "pillow", "torchvision"):
        try:
            info[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            info[name] = None
    if check.cuda and torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(
            gpu=props.name,
            capability=f"{props.major}.{props.minor}",
            gpu_memory_gib=round(props.total_memory / 2**30, 1),
            multiprocessors=props.multi_processor_count,
            cudnn=torch.backends.cudnn.version(),
        )
        try:
            info["nccl"] = ".".join(map(str, torch.cuda.nccl.version()))
        except Exception as exc:  # noqa: BLE001
            info["nccl"] = f"unknown: {exc}"
        if shutil.which("nvidia-smi"):
            query = ["nvidia-smi", "--query-gpu=driver_version,clocks.sm,power.limit", "--format=csv,noheader"]
            done = subprocess.run(query, capture_output=True, text=True, check=False)
            info["nvidia_smi"] = done.stdout.strip() or done.stderr.strip()
    try:  # the device's copy of the tree may come without .git, its image without git
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False)
        info["commit"] = commit.stdout.strip() or None
    except OSError:
        info["commit"] = None
    return info


# --------------------------------------------------------------------------------------------- step 1


def step_cuda_tests(check: Check, rec: dict[str, Any]) -> None:
    """`pytest -m cuda tests/test_cuda.py` in a subprocess; counts from its JUnit XML."""
    import xml.etree.ElementTree as ET

    report = check.work / "cuda_tests.xml"
    report.unlink(missing_ok=True)
    command = [sys.executable, "-m", "pytest", "-m", "cuda", str(REPO / "tests" / "test_cuda.py")]
    command += ["-c", str(REPO / "pyproject.toml"), "--rootdir", str(REPO), "-p", "no:cacheprovider", "-q", "-rfEs"]
    command += [f"--junitxml={report}"]
    if check.results["environment"].get("import") == "shim":
        command.append("--import-mode=append")  # so the repository's own tui_trainer/ does not shadow the shim
    run = check.run_streaming(command, min(check.cap_for("cuda_tests"), 300), "pytest")
    rec.update(returncode=run["returncode"], wall_s=run["wall_s"], capped=run["capped"])
    if not report.exists():
        rec.update(status="failed", reason="pytest wrote no report", output_tail=run["output_tail"])
        return
    suite = ET.parse(report).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    rec["counts"] = counts
    rec["tests"] = {}
    for case in suite.iter("testcase"):
        outcome = "passed"
        for kind in ("failure", "error", "skipped"):
            node = case.find(kind)
            if node is not None:
                outcome = kind
                detail = (node.get("message") or "") + "\n" + (node.text or "")
                rec.setdefault("problems", {})[case.get("name")] = detail.strip()[-1500:]
        rec["tests"][case.get("name")] = {"outcome": outcome, "seconds": float(case.get("time", 0))}
    if counts["failures"] or counts["errors"] or run["returncode"] not in (0, 5):
        rec["status"] = "failed"
        rec["output_tail"] = run["output_tail"]
    elif counts["passed"] == 0:
        rec["status"] = "skipped"
        rec["reason"] = f"all {counts['skipped']} CUDA tests skipped (no CUDA device)"


# --------------------------------------------------------------------------------------------- step 2


def _endless(batches) -> Iterator[tuple[Any, Any]]:
    if len(batches) == 0:
        raise ValueError(f"no batches: {len(batches.data)} images, batch size {batches.batch_size}")
    epoch = 0
    while True:
        yield from batches.epoch(epoch)
        epoch += 1


def _images_per_second(check: Check, batches, seconds: float) -> float:
    stream = _endless(batches)
    for _ in range(5):  # warm-up: kernels loaded, allocator primed
        next(stream)
    check.sync()
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(20):
            images, _labels = next(stream)
            done += images.shape[0]
        check.sync()
    return done / (time.perf_counter() - start)


def step_data_pipeline(check: Check, rec: dict[str, Any]) -> None:
    """Augmented images/s of TrainBatches + BatchAugment on the device, and its share of a seed step."""
    import itertools

    import torch

    from tui_trainer.data import BatchAugment, TrainBatches
    from tui_trainer.engine.builders import build_loss, build_model, build_optimizer
    from tui_trainer.engine.device import numerics_for
    from tui_trainer.engine.loops import train_epoch

    preset = check.seed_preset()
    splits = check.splits()
    augment = BatchAugment(preset.augment, preset.data.image_size)
    rec["augment"] = repr(augment)
    seconds = 0.3 if check.quick else 1.5
    rates: dict[str, float] = {}
    for wanted in (64,) if check.quick else (64, 256, 1024, 4096):
        batch_size = min(wanted, len(splits.train))  # toy data sets can be smaller than a batch
        batches = TrainBatches(splits.train, batch_size, augment, drop_last=True, seed=0)
        rates[str(batch_size)] = round(_images_per_second(check, batches, seconds))
        log(f"  batch {batch_size:>5}: {rates[str(batch_size)]:>12,.0f} augmented images/s")
        rec["augmented_images_per_second"] = rates
        check.save()
    rec["target_images_per_second"] = PIPELINE_TARGET
    rec["meets_target_at_batch_sizes"] = [int(b) for b, r in rates.items() if r > PIPELINE_TARGET]

    # Share of a seed-preset step (batch 64, its numerics): the same loop over one fixed batch
    # against the loop fed by the pipeline; the difference is what the pipeline adds.
    device = torch.device(check.device_name)
    numerics = numerics_for(device, preset.train.precision, preset.train.channels_last)
    model = build_model(preset.model, num_classes=len(splits.classes)).to(device)
    if numerics.channels_last:
        model = model.to(memory_format=torch.channels_last)
    criterion = build_loss(preset.loss, len(splits.classes))
    optimizer = build_optimizer(preset.optimizer, model.parameters())
    batch_size = min(preset.data.batch_size, len(splits.train))
    batches = TrainBatches(splits.train, batch_size, augment, drop_last=True, seed=0)
    n = 6 if check.quick else 300
    fixed = [next(iter(batches.epoch(0)))] * n
    steps = preset.train.accumulation_steps

    def timed(source) -> float:
        check.sync()
        start = time.perf_counter()
        train_epoch(model, source, n, criterion, optimizer, numerics, accumulation_steps=steps)  # ends in .item()
        return (time.perf_counter() - start) / n

    timed(fixed)  # warm-up
    fixed_s = timed(fixed)
    piped_s = timed(itertools.islice(_endless(batches), n))
    stream = _endless(batches)
    check.sync()
    start = time.perf_counter()
    for _ in range(n):
        next(stream)
    check.sync()
    alone_s = (time.perf_counter() - start) / n
    rec["seed_step"] = {
        "batch_size": batch_size,
        "precision": numerics.precision,
        "channels_last": numerics.channels_last,
        "step_ms_fixed_batch": round(fixed_s * 1e3, 3),
        "step_ms_with_pipeline": round(piped_s * 1e3, 3),
        "pipeline_ms_per_batch_alone": round(alone_s * 1e3, 3),
        "pipeline_share_of_step": round(max(piped_s - fixed_s, 0.0) / piped_s, 3),
        "pipeline_alone_over_step": round(alone_s / piped_s, 3),
    }
    log(f"  seed step at batch {batch_size}: {piped_s * 1e3:.2f} ms with the pipeline, {fixed_s * 1e3:.2f} ms without")


# --------------------------------------------------------------------------------------------- step 3

VARIANTS = (
    ("fp32", "fp32", False, False, "device"),
    ("bf16_channels_last", "bf16", True, False, "device"),
    ("bf16_channels_last_stream", "bf16", True, False, "stream"),
    ("bf16_channels_last_compile", "bf16", True, True, "device"),
)
"""(name, precision, channels_last, compile, data.storage). The stream variant reads every batch from
the cache file through pinned buffers and a copy stream (data/stream.py), never run on a GPU before."""


def _train_variant(
    check: Check, precision: str, channels_last: bool, compile_: bool, storage: str = "device"
) -> dict[str, Any]:
    import torch

    from tui_trainer.data.storage import StorageChoice
    from tui_trainer.engine.device import numerics_for
    from tui_trainer.engine.trainer import Trainer

    flag = str(channels_last).lower()
    preset = check.seed_preset(
        f'train.precision="{precision}"', f"train.channels_last={flag}", f"train.compile={str(compile_).lower()}"
    )
    preset.train.epochs = 2  # the first epoch carries the warm-up (and the compilation)
    splits = check.splits() if storage == "device" else check.cpu_splits()
    numerics = numerics_for(torch.device(check.device_name), precision, channels_last)
    epochs: list[dict[str, Any]] = []

    def listener(event) -> None:
        if type(event).__name__ == "EpochFinished":
            m = event.metrics
            keep = ("epoch", "train_loss", "train_acc", "val_acc", "epoch_seconds", "train_images_per_second")
            epochs.append({k: m[k] for k in keep})
            log(f"    epoch {m['epoch']}: {m['epoch_seconds']:.2f} s, {m['train_images_per_second']:,.0f} img/s")

    if check.cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    with GpuSampler(check.cuda) as sampler:
        trainer = Trainer(
            preset, splits, numerics, listeners=[listener], storage=StorageChoice(storage, "gpu_check variant")
        )
        trainer.fit()
    steady = epochs[-1]
    result: dict[str, Any] = {
        "epochs": epochs,
        "first_epoch_s": round(epochs[0]["epoch_seconds"], 3),
        "steady_epoch_s": round(steady["epoch_seconds"], 3),
        "train_images_per_second": round(steady["train_images_per_second"]),
        "images_per_second_incl_validation": round(len(splits.train) / steady["epoch_seconds"]),
        "gpu": sampler.summary(),
        "numerics": {"precision": numerics.precision, "channels_last": numerics.channels_last, "compile": compile_},
        "storage": storage,
    }
    if check.cuda:
        result["peak_memory_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        result["peak_memory_note"] = (
            "includes the data set held on the device" if storage == "device" else "a few batches: the set streams"
        )
    return result


def step_seed_epochs(check: Check, rec: dict[str, Any]) -> None:
    """The seed preset for two epochs in each numeric setting, through the engine's own Trainer."""
    variants: dict[str, Any] = rec.setdefault("variants", {})
    check.splits()
    for name, precision, channels_last, compile_, storage in VARIANTS:
        if compile_ and not check.cuda and not check.args.cpu_compile:
            variants[name] = {"status": "skipped", "reason": "torch.compile on CPU takes minutes here (--cpu-compile)"}
            continue
        need = 90 if compile_ else 10
        if check.cap_for("seed_epochs") < need:
            variants[name] = {"status": "skipped", "reason": f"time budget: under {need} s left for this step"}
            continue
        log(f"  {name}")
        try:
            variants[name] = {"status": "ok", **_train_variant(check, precision, channels_last, compile_, storage)}
        except Exception as exc:  # noqa: BLE001 - one variant failing must not hide the others
            variants[name] = {"status": "failed", **error_record(exc)}
            log(f"    failed: {variants[name]['error']}")
        if name == "bf16_channels_last" and variants[name]["status"] == "ok" and not check.quick:
            # The seed's own numerics: keep back what its 40 epochs in step 4 will take, so that
            # the compile variant (minutes of compilation, possibly) cannot crowd the full run out.
            epochs = check.seed_preset().train.epochs
            estimate = epochs * variants[name]["steady_epoch_s"] * 1.1 + 40
            check.estimates["seed_full"] = estimate
            rec["seed_full_estimate_s"] = round(estimate)
        check.save()
    steady = {k: v["steady_epoch_s"] for k, v in variants.items() if v["status"] == "ok"}
    if "fp32" in steady:
        rec["speedup_vs_fp32"] = {k: round(steady["fp32"] / v, 3) for k, v in steady.items() if k != "fp32"}
    if "bf16_channels_last" in steady and "bf16_channels_last_stream" in steady:
        rec["stream_over_device"] = round(steady["bf16_channels_last"] / steady["bf16_channels_last_stream"], 3)
    if any(v["status"] == "failed" for v in variants.values()):
        rec["status"] = "failed"
        rec["reason"] = "a variant failed: " + ", ".join(k for k, v in variants.items() if v["status"] == "failed")


# --------------------------------------------------------------------------------------------- steps 4 and 5


def _run_summary(run_dir: Path) -> dict[str, Any]:
    from tui_trainer.runs.folder import RunFolder

    folder = RunFolder(run_dir)
    status = folder.read_status()
    records = folder.read_metrics()
    summary: dict[str, Any] = {
        "run_dir": str(run_dir),
        "state": status.get("state"),
        "epochs_planned": status.get("epochs_planned"),
        "epochs_done": len(records),
        "error": status.get("error"),
    }
    if records:
        seconds = [r["epoch_seconds"] for r in records]
        best = max(records, key=lambda r: r["val_acc"])
        summary.update(
            final_val_acc=records[-1]["val_acc"],
            best_val_acc=best["val_acc"],
            best_epoch=best["epoch"],
            train_s=round(sum(seconds), 2),
            median_epoch_s=round(statistics.median(seconds), 3),
            history=[
                {k: (round(v, 5) if isinstance(v, float) else v) for k, v in r.items() if k != "per_class_acc"}
                for r in records
            ],
        )
    return summary


def _headless(check: Check, preset: Path, overrides: list[str], runs_dir: Path, cap: float, label: str) -> dict:
    shutil.rmtree(runs_dir, ignore_errors=True)
    command = [sys.executable, "-m", "tui_trainer", "--headless", str(preset), "--runs-dir", str(runs_dir)]
    with GpuSampler(check.cuda) as sampler:
        run = check.run_streaming([*command, *sets(overrides)], cap, label)
    run["gpu"] = sampler.summary()
    folders = sorted(runs_dir.iterdir()) if runs_dir.is_dir() else []
    if folders:
        run.update(_run_summary(folders[-1]))
    return run


def _accuracy_in(text: str) -> float | None:
    """The last 'acc… NN.NN%' figure in a command's output, as a fraction."""
    found = re.findall(r"acc\w*\D{0,24}?(\d{1,3}(?:\.\d+)?)\s*%", text, flags=re.IGNORECASE)
    return float(found[-1]) / 100 if found else None


def _eval(check: Check, run_dir: str, cap: float) -> dict[str, Any]:
    """`tui-trainer --eval RUN_DIR` if this version of the CLI has it (another change adds it)."""
    helped = subprocess.run(
        [sys.executable, "-m", "tui_trainer", "--help"],
        cwd=check.work,
        env=check.env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if "--eval" not in helped.stdout:
        return {"status": "skipped", "reason": "this CLI has no --eval; validation figures only"}
    run = check.run_streaming([sys.executable, "-m", "tui_trainer", "--eval", run_dir], cap, "eval")
    run["status"] = "ok" if run["returncode"] == 0 else "failed"
    run["accuracy_in_output"] = _accuracy_in(run["output_tail"])
    reports = sorted(Path(run_dir).glob("evals/*/report.json"))
    if reports:  # the evaluation's own record beats parsing its printout
        report = json.loads(reports[-1].read_text())
        run.update(report=str(reports[-1]), accuracy=report.get("accuracy"), data=report.get("data"))
    return run


def step_seed_full(check: Check, rec: dict[str, Any]) -> None:
    """The seed preset to its end (40 epochs) through the headless CLI, capped in time; then --eval."""
    eval_reserve = 30
    cap = check.cap_for("seed_full") - eval_reserve
    if cap < MIN_SECONDS["seed_full"] - eval_reserve:
        rec.update(status="skipped", reason=f"time budget: {cap:.0f} s left")
        return
    rec["dataset"] = "synthetic (not CIFAR-10)" if check.data_root is None else str(check.data_root)
    run = _headless(check, SEED, check.seed_overrides(), check.work / "runs-seed", cap, "seed")
    rec.update(run)
    rec["coursework_val_acc"] = COURSEWORK_VAL_ACC
    if "final_val_acc" in rec and check.data_root is not None:
        rec["final_minus_coursework"] = round(rec["final_val_acc"] - COURSEWORK_VAL_ACC, 4)
    check.save()
    if run["capped"]:
        rec["status"] = "capped"
        rec["reason"] = f"stopped at the time cap ({cap:.0f} s) after {rec.get('epochs_done', 0)} epochs"
    elif run["returncode"] != 0:
        rec["status"] = "failed"
        rec["reason"] = f"the CLI exited {run['returncode']}"
    if rec.get("run_dir") and rec.get("epochs_done"):
        rec["eval"] = _eval(check, rec["run_dir"], max(check.cap_for("seed_full"), 10))


def step_fast_preset(check: Check, rec: dict[str, Any]) -> None:
    """presets/cifar10-fast.toml to its end, beside airbench94's published figures."""
    preset = Path(check.args.fast_preset).absolute()
    rec["preset"] = str(preset)
    rec["reference_airbench94"] = AIRBENCH94
    if not preset.exists():
        rec.update(
            status="skipped", reason=f"{preset.name} does not exist here (the fast-recipe change has not landed)"
        )
        return
    overrides = [*check.data_overrides(), f"train.device={toml_string(check.device_name)}"]
    if check.quick:  # batch 512 would be one step of the 256-image subset: too few for its warmup
        overrides += ["train.epochs=1", "data.batch_size=16"]
    run = _headless(check, preset, overrides, check.work / "runs-fast", check.cap_for("fast_preset"), "fast")
    rec.update(run)
    if run["capped"]:
        rec.update(status="capped", reason=f"stopped at the time cap after {rec.get('epochs_done', 0)} epochs")
    elif run["returncode"] != 0:
        rec.update(status="failed", reason=f"the CLI exited {run['returncode']}")


# --------------------------------------------------------------------------------------------- step 6


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def step_ddp_two_processes(check: Check, rec: dict[str, Any]) -> None:
    """Two torchrun workers on one device for one epoch: NCCL first; gloo if NCCL will not start."""
    backends = ["nccl", "gloo"] if check.cuda else ["gloo"]
    attempts: dict[str, Any] = rec.setdefault("attempts", {})
    for backend in backends:
        cap = check.cap_for("ddp_two_processes")
        if cap < 20:
            attempts[backend] = {"status": "skipped", "reason": f"time budget: {cap:.0f} s left"}
            break
        reports = check.work / f"ddp-{backend}"
        shutil.rmtree(reports, ignore_errors=True)
        reports.mkdir(parents=True)
        command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--max-restarts=0"]
        command += ["--master_addr=127.0.0.1", f"--master_port={_free_port()}", str(Path(__file__).resolve())]
        command += ["--ddp-worker", backend, "--device", check.device_name, "--report", str(reports)]
        command += ["--work", str(check.work)] + (["--quick"] if check.quick else [])
        if check.data_root is not None:
            command += ["--data", str(check.data_root)]
        os.environ["TUI_TRAINER_DIST_TIMEOUT"] = "60"  # a stuck peer fails in a minute, not five
        run = check.run_streaming(command, min(cap, 240), f"ddp-{backend}")
        ranks = [json.loads(p.read_text()) for p in sorted(reports.glob("rank*.json"))]
        ok = run["returncode"] == 0 and len(ranks) == 2 and all(r.get("state") == "finished" for r in ranks)
        attempt = {"status": "ok" if ok else "failed", **run, "ranks": ranks}
        if len(ranks) == 2 and all("params_sha256" in r for r in ranks):
            attempt["same_weights_on_both_ranks"] = ranks[0]["params_sha256"] == ranks[1]["params_sha256"]
            attempt["epoch_seconds"] = max(r["epoch_seconds"] for r in ranks)
            attempt["val_acc"] = ranks[0]["val_acc"]
        attempts[backend] = attempt
        check.save()
        if ok:
            break
    if check.cuda:
        nccl = attempts.get("nccl", {})
        rec["nccl_initialised"] = any(r.get("initialised") for r in nccl.get("ranks", []))
        if nccl.get("status") != "ok":
            errors = [r.get("error") for r in nccl.get("ranks", []) if r.get("error")]
            rec["reason"] = "NCCL run failed: " + (errors[0] if errors else f"exit {nccl.get('returncode')}")
    used = [b for b, a in attempts.items() if a.get("status") == "ok"]
    rec["backend_used"] = used[0] if used else None
    if not used:
        rec["status"] = "failed"


def ddp_worker(args: argparse.Namespace) -> int:
    """One torchrun worker: join the group, train the seed preset one epoch, write rank<N>.json."""
    import torch
    import torch.distributed as dist

    rank = int(os.environ.get("RANK", "0"))
    check = Check(args)
    check.out = Path(args.report) / f"check-rank{rank}.json"  # its own file: the ranks must not share one
    if args.data:
        check.data_root = Path(args.data)
    ensure_importable(check.work)
    from tui_trainer.engine import distributed
    from tui_trainer.engine.device import numerics_for
    from tui_trainer.engine.trainer import Trainer

    report: dict[str, Any] = {"rank": rank, "backend": args.ddp_worker, "initialised": False}
    path = Path(args.report) / f"rank{rank}.json"
    code = 1
    try:
        device = torch.device("cuda", 0) if check.cuda else torch.device("cpu")  # both ranks: one GPU
        if check.cuda:
            torch.cuda.set_device(device)
        start = time.perf_counter()
        timeout = datetime.timedelta(seconds=distributed.collective_timeout())
        kwargs = {"device_id": device} if args.ddp_worker == "nccl" else {}
        dist.init_process_group(backend=args.ddp_worker, timeout=timeout, **kwargs)
        probe = torch.ones(1, device=device)
        dist.all_reduce(probe)  # NCCL builds its communicator here at the latest
        report.update(initialised=True, init_s=round(time.perf_counter() - start, 2), all_reduce=probe.item())
        preset = check.seed_preset("train.epochs=1")
        splits = check.splits()
        numerics = numerics_for(device, preset.train.precision, preset.train.channels_last)
        trainer = Trainer(preset, splits, numerics)
        finished = trainer.fit()
        record = trainer.history[-1]
        digest = hashlib.sha256()
        for p in trainer.model.parameters():
            digest.update(p.detach().float().cpu().numpy().tobytes())
        report.update(
            state=finished.state,
            world_size=distributed.world_size(),
            epoch_seconds=round(record["epoch_seconds"], 3),
            train_images_per_second_per_rank=round(record["train_images_per_second"]),
            val_acc=record["val_acc"],
            params_sha256=digest.hexdigest(),
        )
        trainer = None
        code = 0
    except Exception as exc:  # noqa: BLE001 - the report says what failed, for the parent to record
        report.update(error_record(exc))
    write_json(path, report)
    distributed.barrier_and_shutdown(clean=code == 0)
    sys.stdout.flush()
    os._exit(code)  # like the CLI's workers: no interpreter shutdown, where gloo can abort


# --------------------------------------------------------------------------------------------- main

STEP_FUNCTIONS: dict[str, Callable[[Check, dict[str, Any]], None]] = {
    "cuda_tests": step_cuda_tests,
    "data_pipeline": step_data_pipeline,
    "seed_epochs": step_seed_epochs,
    "seed_full": step_seed_full,
    "fast_preset": step_fast_preset,
    "ddp_two_processes": step_ddp_two_processes,
}


def _figure(name: str, rec: dict[str, Any]) -> str:
    """A few words of each step's main figures, for the summary table."""

    def pct(x: Any) -> str:
        return f"{x * 100:.2f}%" if isinstance(x, (int, float)) else "-"

    if name == "cuda_tests" and "counts" in rec:
        c = rec["counts"]
        return f"{c['passed']} passed, {c['failures'] + c['errors']} failed, {c['skipped']} skipped"
    if name == "data_pipeline" and "augmented_images_per_second" in rec:
        rates = ", ".join(f"{b}: {r / 1e6:.2f}M" for b, r in rec["augmented_images_per_second"].items())
        share = rec.get("seed_step", {}).get("pipeline_share_of_step")
        return f"img/s by batch {rates}; share of seed step {share}"
    if name == "seed_epochs":
        parts = [
            f"{k}: {v['steady_epoch_s']} s/ep {v.get('peak_memory_mib', '-')} MiB"
            for k, v in rec.get("variants", {}).items()
            if v.get("status") == "ok"
        ]
        return "; ".join(parts)
    if name in ("seed_full", "fast_preset") and "epochs_done" in rec:
        return (
            f"{rec['epochs_done']}/{rec.get('epochs_planned')} epochs, final {pct(rec.get('final_val_acc'))}, "
            f"best {pct(rec.get('best_val_acc'))}, train {rec.get('train_s')} s, wall {rec.get('wall_s')} s"
        )
    if name == "ddp_two_processes":
        used = rec.get("backend_used")
        return f"backend {used}, nccl initialised {rec.get('nccl_initialised', '-')}" if used else ""
    return ""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="the CIFAR-10 JPEG folder (train/, val/) or its .tar.gz from --pack")
    parser.add_argument("--out", default="gpu_check.json", help="the JSON with every figure (default ./gpu_check.json)")
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--quick", action="store_true", help="every step at toy size (a rehearsal on CPU)")
    parser.add_argument("--budget", type=float, default=450.0, help="seconds for all steps together (default 450)")
    parser.add_argument("--steps", default=",".join(STEPS), help="comma-separated step names or numbers 1-6")
    parser.add_argument("--work", default="/tmp/gpu_check", help="scratch folder: unpacked data, cache, run folders")
    parser.add_argument("--fast-preset", default=str(FAST), help="the fast preset (step 5)")
    parser.add_argument("--cpu-compile", action="store_true", help="on CPU, run the torch.compile variant too")
    parser.add_argument("--pack", metavar="SRC", help="write .gpu-check/ (data archive and wheels) from SRC, and exit")
    parser.add_argument("--pack-dest", default=str(PACK_DIR), help=argparse.SUPPRESS)
    parser.add_argument("--no-wheels", action="store_true", help="with --pack: the data archive only")
    parser.add_argument("--python-version", default="3.12", help="with --pack: the device's Python (default 3.12)")
    parser.add_argument("--print-command", action="store_true", help="print the device command line and exit")
    parser.add_argument("--ddp-worker", choices=("nccl", "gloo"), help=argparse.SUPPRESS)
    parser.add_argument("--report", help=argparse.SUPPRESS)
    return parser


def _selected_steps(text: str) -> list[str]:
    chosen = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        name = STEPS[int(part) - 1] if part.isdigit() and 1 <= int(part) <= len(STEPS) else part
        if name not in STEPS:
            raise SystemExit(f"--steps: unknown step {part!r}; choose from {', '.join(STEPS)} or 1-{len(STEPS)}")
        chosen.append(name)
    return chosen


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.print_command:
        print(DEVICE_COMMAND)
        return 0
    if args.pack:
        return pack(
            Path(args.pack).expanduser().absolute(), Path(args.pack_dest), args.python_version, not args.no_wheels
        )
    args.steps = _selected_steps(args.steps)
    if args.ddp_worker:
        return ddp_worker(args)

    check = Check(args)
    check.work.mkdir(parents=True, exist_ok=True)
    os.environ["TUI_TRAINER_CACHE"] = str(check.work / "cache")  # decoded once here, reused by every subprocess

    def on_term(signum: int, _frame: object) -> None:
        if check.child is not None and check.child.poll() is None:
            check.child.kill()
        check.results["terminated_by"] = signal.Signals(signum).name
        check.save()
        os._exit(143)

    signal.signal(signal.SIGTERM, on_term)
    log(f"gpu_check: device {args.device}, quick {args.quick}, budget {args.budget:.0f} s, out {check.out}")
    env = check.results["environment"]
    try:
        env["import"] = ensure_importable(check.work)
        env.update(_gpu_environment(check))
        if check.cuda and not env["cuda_available"]:
            env["problem"] = "--device cuda but torch sees no CUDA device"
    except Exception as exc:  # noqa: BLE001 - recorded; the steps then fail one by one with their own errors
        env.update(error_record(exc))
        log(f"setup failed: {env['error']}")
    try:
        if args.data:
            data = Path(args.data).expanduser().absolute()
            if not data.exists():
                raise FileNotFoundError(f"--data {data}: no such file or folder")
            if data.is_file():
                check.data_root, figures = unpack(data, check.work / "data")
                check.results["data"].update(figures)
            else:
                check.data_root = data
            check.results["data"]["root"] = str(check.data_root)
    except Exception as exc:  # noqa: BLE001 - recorded; the steps that need the data fail with it
        check.results["data"].update(error_record(exc))
        log(f"data setup failed: {check.results['data']['error']}")
    log(json.dumps({k: v for k, v in env.items() if k != "traceback"}))
    check.save()

    for name in check.selected:
        rec = check.results["steps"][name]
        if check.cap_for(name) < MIN_SECONDS[name] * (0.2 if args.quick else 1):
            rec.update(status="skipped", reason=f"time budget: {check.remaining():.0f} s left of {args.budget:.0f}")
            log(f"[{rec['order']}/6] {name}: skipped ({rec['reason']})")
            check.save()
            continue
        log(f"[{rec['order']}/6] {name} ({check.remaining():.0f} s of the budget left)")
        rec["status"] = "running"
        check.save()
        start = time.monotonic()
        try:
            STEP_FUNCTIONS[name](check, rec)
            if rec["status"] == "running":
                rec["status"] = "ok"
        except Exception as exc:  # noqa: BLE001 - a failed step is recorded and the rest go on
            rec.update(status="failed", **error_record(exc))
            log(f"  failed: {rec['error']}")
        rec["seconds"] = round(time.monotonic() - start, 1)
        log(f"  -> {rec['status']} in {rec['seconds']} s")
        check.save()

    check.results["finished_at"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    check.save()
    log("")
    log(f"{'step':<20} {'status':<8} {'s':>6}  figures")
    for name, rec in check.results["steps"].items():
        detail = _figure(name, rec) or rec.get("reason", rec.get("error", ""))
        log(f"{name:<20} {rec['status']:<8} {rec.get('seconds', 0):>6}  {str(detail)[:150]}")
    log(f"wrote {check.out} ({check.results['elapsed_s']} s)")
    return 0 if all(r["status"] in ("ok", "skipped", "capped") for r in check.results["steps"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
