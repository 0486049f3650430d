"""The memory-mapped cache, streamed batches, the storage choice and the stored size, on tiny data
made here."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tui_trainer.config.schema import AugmentConfig, DataConfig
from tui_trainer.data import BatchAugment, TrainBatches, load_data, val_batches
from tui_trainer.data import cache as cache_module
from tui_trainer.data import store as store_module
from tui_trainer.data.decode import decode_images
from tui_trainer.data.imageset import ImageSet
from tui_trainer.data.storage import choose_storage
from tui_trainer.data.store import CacheSpaceError
from tui_trainer.data.subsets import stratified_limit
from tui_trainer.data.synthetic import make_synthetic
from tui_trainer.data.views import decode_for_validation, store_size, validation_view
from tui_trainer.engine import cpu_threads
from tui_trainer.engine.events import EpochFinished, RunControl
from tui_trainer.runs.folder import RunFolder
from tui_trainer.runs.launch import run_training

from .helpers import REPO, tiny_preset

CLASSES = ("ant", "bee", "cow")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("TUI_TRAINER_CACHE", str(folder))
    return folder


def make_folder(root: Path, per_class: int = 7, val_per_class: int = 3, side: int = 20) -> Path:
    """Noise images (so every crop differs), PNG, in train/<class>/ and val/<class>/."""
    rng = np.random.default_rng(0)
    for split, count in (("train", per_class), ("val", val_per_class)):
        for cls in CLASSES:
            (root / split / cls).mkdir(parents=True, exist_ok=True)
            for i in range(count):
                pixels = rng.integers(0, 256, size=(side, side, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / cls / f"{i:03d}.png")
    return root


def folder_cfg(root: Path, **kw) -> DataConfig:
    return DataConfig(dataset="imagefolder", root=str(root), image_size=16, **kw)


def _files(root: Path, split: str) -> list[Path]:
    return [p for cls in CLASSES for p in sorted((root / split / cls).iterdir())]


# ----------------------------------------------------------------------------------- the cache file


def test_the_cache_maps_a_file_that_equals_the_decoded_images(tmp_path: Path, _private_cache: Path) -> None:
    root = make_folder(tmp_path / "ds")
    data = load_data(folder_cfg(root))
    assert data.train.disk is not None and data.train.disk.path.parent == _private_cache
    mapped = np.load(data.train.disk.path, mmap_mode="r")
    assert isinstance(mapped, np.memmap) and mapped.shape == (21, 3, 16, 16)
    expected = decode_images(_files(root, "train"), 16)
    assert torch.equal(data.train.images, expected) and torch.equal(torch.from_numpy(np.array(mapped)), expected)
    assert data.train.labels.tolist() == [0] * 7 + [1] * 7 + [2] * 7
    again = load_data(folder_cfg(root))
    assert torch.equal(again.val.images, decode_images(_files(root, "val"), 16))


def test_worker_processes_write_their_chunks_into_the_cache_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _private_cache: Path
) -> None:
    # With a pool (forced here for a tiny folder), each worker writes its rows into the file; the
    # entry must equal the images decoded in this process, row for row.
    from tui_trainer.data import decode as decode_module
    from tui_trainer.data.imageset import DiskRows

    root = make_folder(tmp_path / "ds", per_class=30)
    paths = _files(root, "train")
    expected = decode_images(paths, 16)
    monkeypatch.setattr(decode_module, "INLINE_BELOW", 0)
    monkeypatch.setattr(decode_module, "default_workers", lambda: 2)
    data = load_data(folder_cfg(root))
    assert data.train.disk is not None
    assert torch.equal(data.train.images, expected)
    assert torch.equal(torch.from_numpy(np.array(np.load(data.train.disk.path, mmap_mode="r"))), expected)
    # The pixels are not also sent back and copied in here (that copy made two workers no faster than
    # one): given a tensor that is not the file, only the file receives them.
    mapped = np.lib.format.open_memmap(tmp_path / "rows.npy", mode="w+", dtype=np.uint8, shape=tuple(expected.shape))
    elsewhere = torch.zeros_like(expected)
    decode_images(paths, 16, workers=2, out=elsewhere, disk=DiskRows(tmp_path / "rows.npy", int(mapped.offset)))
    assert torch.equal(torch.from_numpy(np.array(mapped)), expected) and not elsewhere.any()


def test_a_decode_chunk_never_holds_more_than_its_byte_budget_at_any_stored_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1,024 images a chunk is 1.7 GB per worker at 736 px, and a stop waits for the chunks in hand."""
    from tui_trainer.data import decode as decode_module

    paths = _files(make_folder(tmp_path / "ds", per_class=30), "train")
    expected = decode_images(paths, 16)
    monkeypatch.setattr(decode_module, "CHUNK_BYTES", 5 * 3 * 16 * 16)  # five images
    for inline_below, workers in ((10**9, 1), (0, 2)):  # in this process, and with a pool
        monkeypatch.setattr(decode_module, "INLINE_BELOW", inline_below)
        reports: list[int] = []
        got = decode_images(paths, 16, lambda _stage, done, _total, seen=reports: seen.append(done), workers=workers)
        steps = [b - a for a, b in itertools.pairwise(reports)]
        assert torch.equal(got, expected) and reports[-1] == len(paths)
        assert max(steps) == 5, steps


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads Linux's /proc/self/maps")
def test_the_cache_is_mapped_read_only_and_shared(tmp_path: Path) -> None:
    # A private copy-on-write mapping is charged in full against the kernel's commit limit, so a cache
    # larger than RAM + swap failed to open (ENOMEM) and the start fell back to decoding into memory.
    data = load_data(folder_cfg(make_folder(tmp_path / "ds")))
    assert data.train.disk is not None
    path = str(data.train.disk.path)
    modes = [line.split()[1] for line in Path("/proc/self/maps").read_text().splitlines() if line.endswith(path)]
    assert modes and all(mode == "r--s" for mode in modes), modes
    assert torch.equal(data.train.images, decode_images(_files(tmp_path / "ds", "train"), 16))


@pytest.mark.parametrize("cache", [False, True], ids=["cache off", "cache unwritable"])
def test_a_set_larger_than_memory_without_a_cache_stops_before_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cache: bool
) -> None:

    from tui_trainer.data.errors import DataError

    root = make_folder(tmp_path / "ds")
    monkeypatch.setattr(cache_module, "available_ram", lambda: (10_000, "RAM available"))
    if cache:

        def unwritable(*_args, **_kwargs) -> None:
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(cache_module, "write_entry", unwritable)
    decoded = _count_decodes(monkeypatch)
    with pytest.raises(DataError) as info, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the could-not-write warning
        load_data(folder_cfg(root, cache=cache))
    message = str(info.value)
    assert "GiB" in message and "RAM available" in message and "TUI_TRAINER_CACHE" in message
    assert ("data.cache = false" in message) != cache
    assert decoded == []


def _count_decodes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    decoded: list[int] = []
    real = cache_module.decode_images

    def counting(paths, *args, **kwargs):
        decoded.append(len(paths))
        return real(paths, *args, **kwargs)

    monkeypatch.setattr(cache_module, "decode_images", counting)
    return decoded


@pytest.mark.parametrize("damage", ["truncate images", "foreign images", "labels out of range", "shape mismatch"])
def test_a_damaged_entry_is_rebuilt_never_trained_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _private_cache: Path, damage: str
) -> None:
    root = make_folder(tmp_path / "ds")
    good = load_data(folder_cfg(root)).train.images.clone()
    [record] = [p for p in _private_cache.glob("*.json") if json.loads(p.read_text())["shape"][0] == 21]
    images = record.with_suffix(".npy")
    if damage == "truncate images":
        images.write_bytes(images.read_bytes()[:-100])
    elif damage == "foreign images":
        np.save(images, np.zeros((21, 3, 16, 16), dtype=np.float32))
    else:
        content = json.loads(record.read_text())
        if damage == "labels out of range":
            content["labels"][3] = 3  # three classes: 0..2
        else:
            content["shape"] = [21, 3, 8, 32]
        record.write_text(json.dumps(content))
    decoded = _count_decodes(monkeypatch)
    with pytest.warns(UserWarning, match="rebuilding damaged data cache"):
        data = load_data(folder_cfg(root))
    assert decoded == [21] and torch.equal(data.train.images, good)
    decoded.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert torch.equal(load_data(folder_cfg(root)).train.images, good)  # the rebuilt entry is used as it is
    assert decoded == []


def test_an_entry_of_the_old_torch_format_is_replaced_silently(tmp_path: Path, _private_cache: Path) -> None:
    from tui_trainer.data.cache import digest
    from tui_trainer.data.paths import resolve_root

    root = make_folder(tmp_path / "ds")
    _private_cache.mkdir(parents=True)
    old = _private_cache / f"{digest(['v1', 'imagefolder', str(resolve_root(str(root)) / 'train'), '16', 'all'])}.pt"
    torch.save({"format": 1, "images": torch.zeros(1)}, old)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data = load_data(folder_cfg(root))
    assert not old.exists() and len(data.train) == 21


KILLED_BUILD = """
import os, signal, sys
from pathlib import Path
from tui_trainer.config.schema import DataConfig
from tui_trainer.data import cache, load_data
real = cache.decode_images
def half_then_die(paths, size, progress=None, stage='', out=None, **kw):
    real(paths[: len(paths) // 2], size, out=out[: len(paths) // 2])
    os.kill(os.getpid(), signal.SIGKILL)
cache.decode_images = half_then_die
load_data(DataConfig(dataset="imagefolder", root=sys.argv[1], image_size=16))
"""


def test_a_kill_while_decoding_leaves_no_cache_that_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _private_cache: Path
) -> None:
    root = make_folder(tmp_path / "ds")
    env = {**os.environ, "TUI_TRAINER_CACHE": str(_private_cache), "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", KILLED_BUILD, str(root)], env=env, capture_output=True, timeout=120)
    assert result.returncode == -signal.SIGKILL
    assert list(_private_cache.glob("*.json")) == []  # no record: nothing can be mistaken for an entry
    assert len(list(_private_cache.glob(".*.tmp"))) == 1
    decoded = _count_decodes(monkeypatch)
    data = load_data(folder_cfg(root))
    assert decoded == [21, 9]
    assert torch.equal(data.train.images, decode_images(_files(root, "train"), 16))
    assert list(_private_cache.glob(".*.tmp")) == []  # the dead build's temporary file is cleaned up


def test_too_little_disk_stops_before_decoding_with_the_figure_the_folder_and_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _private_cache: Path
) -> None:
    root = make_folder(tmp_path / "ds")
    monkeypatch.setattr(store_module, "free_bytes", lambda folder: 1000)
    decoded = _count_decodes(monkeypatch)
    with pytest.raises(CacheSpaceError) as info:
        load_data(folder_cfg(root))
    message = str(info.value)
    assert "MiB" in message and str(_private_cache) in message and "TUI_TRAINER_CACHE" in message
    assert decoded == []
    preset = tiny_preset("data.dataset=imagefolder", f"data.root={root}")
    outcome = run_training(preset, runs_dir=tmp_path / "runs")
    assert outcome.exit_code == 2 and "TUI_TRAINER_CACHE" in outcome.error


def test_limits_decode_only_the_chosen_subset_as_their_own_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _private_cache: Path
) -> None:
    root = make_folder(tmp_path / "ds")
    full = load_data(folder_cfg(root))
    decoded = _count_decodes(monkeypatch)
    part = load_data(folder_cfg(root, train_limit=6, val_limit=3))
    assert decoded == [6, 3]  # never the whole folder
    chosen = stratified_limit(full.train.labels, 6)
    assert torch.equal(part.train.images, full.train.images[chosen])
    assert torch.equal(part.train.labels, full.train.labels[chosen])
    assert len(list(_private_cache.glob("*.npy"))) == 4
    decoded.clear()
    load_data(folder_cfg(root, train_limit=6, val_limit=3))
    load_data(folder_cfg(root))
    assert decoded == []  # both the subset and the whole set come from their own entries


# ----------------------------------------------------------------------------------- streaming


def _batches(data: ImageSet, stream: bool, epoch: int, rank: int = 0, world: int = 1, size: int = 16):
    augment = BatchAugment(AugmentConfig(rotation=10, translate=2, cutout=4), size)
    batches = TrainBatches(data, 5, augment, False, 7, rank, world, stream=stream, device=torch.device("cpu"))
    return list(batches.epoch(epoch))


def _same(a, b) -> bool:
    return len(a) == len(b) and all(
        torch.equal(x, y) and torch.equal(i, j) for (x, i), (y, j) in zip(a, b, strict=True)
    )


@pytest.mark.parametrize("source", ["cache file", "memory"])
def test_stream_and_device_give_identical_batches_for_one_seed(tmp_path: Path, source: str) -> None:
    if source == "cache file":
        data = load_data(folder_cfg(make_folder(tmp_path / "ds"), store_size=20))
        train, val = data.train, data.val
        assert train.disk is not None
    else:
        train, val = make_synthetic(23, 20, 0), make_synthetic(11, 20, 0, "val")
    resident = train.to("cpu")
    for epoch in (1, 2):
        for rank in (0, 1):
            assert _same(_batches(train, True, epoch, rank, 2), _batches(resident, False, epoch, rank, 2))
    assert not _same(_batches(train, True, 1), _batches(train, True, 2))  # epochs do differ
    streamed = list(
        val_batches(val, 4, (0.5,) * 3, (0.25,) * 3, 1, 2, image_size=16, stream=True, device=torch.device("cpu"))
    )
    resident_val = list(val_batches(val.to("cpu"), 4, (0.5,) * 3, (0.25,) * 3, 1, 2, image_size=16))
    assert _same(streamed, resident_val) and streamed[0][0].shape[-1] == 16


def test_an_epoch_stopped_early_stops_its_reading_thread(tmp_path: Path) -> None:
    import threading

    data = load_data(folder_cfg(make_folder(tmp_path / "ds"))).train
    batches = TrainBatches(data, 2, None, False, 0, stream=True, device=torch.device("cpu"))
    epoch = batches.epoch(1)
    next(epoch)
    epoch.close()
    assert not any(t.name == "tui-trainer-stream" for t in threading.enumerate())


def test_large_rows_are_read_fewer_batches_ahead() -> None:
    from tui_trainer.data.stream import PREFETCH, READ_AHEAD_BYTES, read_ahead

    assert read_ahead(64 * 3 * 258 * 258) == PREFETCH  # 12.8 MB batches: the full read-ahead
    big = 128 * 3 * 736 * 736  # 208 MB: one batch ahead, not four buffers of it
    assert read_ahead(big) == 1 and read_ahead(2 * READ_AHEAD_BYTES) == 1
    assert read_ahead(big) * big <= READ_AHEAD_BYTES


def test_auto_streams_when_the_set_exceeds_the_budget() -> None:
    cpu = torch.device("cpu")
    small = choose_storage("auto", 10 << 20, cpu, budget=(1 << 30, "a test budget"))
    large = choose_storage("auto", 10 << 20, cpu, budget=(1 << 20, "a test budget"))
    assert small.mode == "device" and "fit in a test budget" in small.reason
    assert large.mode == "stream" and "exceed a test budget" in large.reason
    assert choose_storage("stream", 1, cpu).mode == "stream" and choose_storage("device", 1 << 40, cpu).mode == "device"


def test_a_run_says_which_storage_auto_chose_and_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tui_trainer.data import storage

    monkeypatch.setattr(storage, "memory_budget", lambda device: (1000, "a 1000-byte test budget"))
    lines: list = []
    outcome = run_training(
        tiny_preset("train.epochs=1", "scheduler.t_max=1"), runs_dir=tmp_path, listeners=[lines.append]
    )
    assert outcome.exit_code == 0
    status = RunFolder(outcome.run_dir).read_status()
    assert status["storage"] == "stream" and "1000-byte test budget" in status["storage_reason"]
    assert lines[[type(e).__name__ for e in lines].index("RunStarted")].storage == "stream"


def test_resume_with_streamed_batches_ends_like_an_uninterrupted_device_run(tmp_path: Path) -> None:
    extra = (
        "train.epochs=3",
        "scheduler.t_max=3",
        "train.threads=1",  # a thread count chosen anew each epoch would change float sums between runs
        "data.dataset=imagefolder",
        f"data.root={make_folder(tmp_path / 'ds')}",
    )
    full = run_training(tiny_preset(*extra, "data.storage=device"), runs_dir=tmp_path / "a")
    control = RunControl()

    def stop_after_first_epoch(event) -> None:
        if isinstance(event, EpochFinished) and event.epoch == 1:
            control.stop()

    stopped = run_training(
        tiny_preset(*extra, "data.storage=stream"),
        runs_dir=tmp_path / "b",
        listeners=[stop_after_first_epoch],
        control=control,
    )
    assert stopped.exit_code == 130
    resumed = run_training(tiny_preset(*extra, "data.storage=stream"), runs_dir=tmp_path / "b", resume=stopped.run_dir)
    assert resumed.exit_code == 0 and RunFolder(resumed.run_dir).read_status()["storage"] == "stream"
    volatile = {"epoch_seconds", "train_images_per_second"}
    got, expected = (
        [{k: v for k, v in r.items() if k not in volatile} for r in RunFolder(o.run_dir).read_metrics()]
        for o in (resumed, full)
    )
    assert got == expected and len(got) == 3


def test_a_stop_while_decoding_ends_the_run_at_once_and_keeps_nothing_half_written(
    tmp_path: Path, _private_cache: Path
) -> None:
    """Ctrl+C in a decode of many minutes must not wait for its end, nor leave a cache entry."""
    from tui_trainer.engine.events import RunFinished, RunStarted, SetupProgress

    root = make_folder(tmp_path / "ds", per_class=200, side=8)  # 600 images: three chunks of 256
    preset = tiny_preset("train.epochs=1", "scheduler.t_max=1", "data.dataset=imagefolder", f"data.root={root}")
    control, events = RunControl(), []

    def stop_after_the_first_chunk(event) -> None:
        events.append(event)
        if isinstance(event, SetupProgress) and event.stage == "decode train" and event.done > 0:
            control.stop()

    stopped = run_training(preset, runs_dir=tmp_path / "runs", listeners=[stop_after_the_first_chunk], control=control)
    assert (stopped.state, stopped.exit_code) == ("interrupted", 130)
    decoded = [e.done for e in events if isinstance(e, SetupProgress) and e.stage == "decode train"]
    assert max(decoded) < 600  # it stopped inside the split
    assert not any(isinstance(e, RunStarted) for e in events)
    assert [e.state for e in events if isinstance(e, RunFinished)] == ["interrupted"]
    status = RunFolder(stopped.run_dir).read_status()
    assert status["state"] == "interrupted" and status["epochs_done"] == 0
    assert list(_private_cache.glob("*.json")) == [] and list(_private_cache.glob(".*.tmp")) == []
    again = run_training(preset, runs_dir=tmp_path / "runs")  # the next start decodes it whole and trains
    assert again.exit_code == 0 and len(list(_private_cache.glob("*.json"))) == 2


def test_a_large_folder_counts_its_files_at_each_start_and_a_stop_there_decodes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fingerprinting a million files takes tens of seconds of stat calls: shown, and stoppable."""
    from tui_trainer.engine.events import SetupProgress

    monkeypatch.setattr(cache_module, "FINGERPRINT_REPORT_EVERY", 5)
    monkeypatch.setattr(cache_module, "FINGERPRINT_QUIET_SECONDS", 0.0)  # as if the disk were slow
    root = make_folder(tmp_path / "ds")  # 21 train images
    preset = tiny_preset("train.epochs=1", "scheduler.t_max=1", "data.dataset=imagefolder", f"data.root={root}")
    control, seen = RunControl(), []

    def stop_while_checking(event) -> None:
        if isinstance(event, SetupProgress) and event.stage == "check train":
            seen.append(event.done)
            control.stop()

    decoded = _count_decodes(monkeypatch)
    stopped = run_training(preset, runs_dir=tmp_path / "runs", listeners=[stop_while_checking], control=control)
    assert stopped.exit_code == 130 and seen == [5] and decoded == []
    counted: list[tuple[str, int, int]] = []
    load_data(folder_cfg(root), progress=lambda *report: counted.append(report))
    assert [r for r in counted if r[0] == "check train"] == [("check train", n, 21) for n in (5, 10, 15, 20, 21)]
    monkeypatch.setattr(cache_module, "FINGERPRINT_QUIET_SECONDS", 60.0)
    counted.clear()
    load_data(folder_cfg(root), progress=lambda *report: counted.append(report))
    assert not [r for r in counted if r[0].startswith("check")]  # a quick check is not reported


# ----------------------------------------------------------------------------------- sizes and threads


def test_the_stored_size_is_kept_and_validation_centre_crops_it(tmp_path: Path) -> None:
    assert store_size(DataConfig(image_size=64)) == 64 and store_size(DataConfig(image_size=224)) == 258
    root = make_folder(tmp_path / "ds")
    cfg = folder_cfg(root, store_size=20)
    data = load_data(cfg)
    assert data.train.images.shape[-1] == 20
    stored = data.val.images
    view = validation_view(stored, 16)
    assert torch.equal(view, stored[..., 2:18, 2:18])
    assert torch.equal(decode_for_validation(_files(root, "val"), cfg), view)
    [(images, _)] = list(val_batches(data.val, 64, (0.0,) * 3, (1.0,) * 3, image_size=16))
    assert torch.allclose(images, view.float() / 255)
    up = validation_view(stored[..., :10, :10], 16)  # smaller than the trained size: resized, then cropped
    assert up.shape[-2:] == (16, 16) and up.dtype == torch.uint8


def test_threads_auto_counts_the_idle_cores_and_a_number_pins_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(cpu_threads, "usable_cores", lambda: 8)
    monkeypatch.setattr(cpu_threads, "busy_elsewhere", lambda: (2.8, "busy with other processes"))
    auto = cpu_threads.choose_threads("auto")
    assert auto.threads == 5 and "5 of 8 cores idle" in auto.reason
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert cpu_threads.choose_threads("auto").threads == 2
    monkeypatch.setattr(cpu_threads, "busy_elsewhere", lambda: (9.0, "busy with other processes"))
    assert cpu_threads.choose_threads("auto").threads == 1
    assert cpu_threads.choose_threads(3) == cpu_threads.ThreadChoice(3, "train.threads")
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    assert cpu_threads.choose_threads("auto").threads == 4


def test_the_console_log_shows_decode_rate_eta_and_the_storage_chosen() -> None:
    import io

    from tui_trainer.cli.train import PlainPrinter
    from tui_trainer.engine.events import RunStarted, SetupProgress

    out = io.StringIO()
    printer = PlainPrinter(out)
    printer(SetupProgress(stage="decode train", done=0, total=1000))
    printer(SetupProgress(stage="decode train", done=1000, total=1000, rate=250.0, eta=0.0))
    printer(
        RunStarted(
            "runs/x",
            "p",
            3,
            1,
            10,
            1000,
            100,
            ("a", "b"),
            "cpu",
            "fp32",
            "stream",
            "auto: 9 GiB exceed 1 GiB",
            2,
            "auto",
        )
    )
    lines = out.getvalue().splitlines()
    assert lines[1] == "decode train: 1,000/1,000 images  250 img/s"
    assert lines[2].endswith("cpu fp32, 2 threads (auto)")
    assert lines[3] == "storage: stream, auto: 9 GiB exceed 1 GiB"
