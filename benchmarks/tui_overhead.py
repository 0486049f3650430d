"""What the console costs training: throughput with the console running against headless, and key latency.

    python benchmarks/tui_overhead.py [--batches 60] [--epochs 3] [--rounds 6]

The smoke preset (small CNN on generated shapes, CPU) trains a fixed number of batches per epoch
in each round: once headless (`run_training` called directly, no UI) and once inside the
console (`TrainerApp` under `run_test()` at 80x24: the thread worker, live charts redrawn each
epoch, progress updates, the epoch table). Rounds alternate the order so drift on a busy machine
hits both alike. Throughput is the engine's own `train_images_per_second` of each epoch (training
batches only, validation and setup excluded); a process counts by its median epoch, a kind by the
median over its processes.

Each measurement runs in a fresh interpreter, as the real commands do: in one process, OpenMP
teams left spinning by an earlier run on another thread slow the next one by 15-25% on two cores.
A third run per round calls `run_training` on a plain worker thread with no UI, the console's
own setting, so `ratio_same_thread` isolates the UI's cost; `ratio` compares with
`tui-trainer --headless`, which trains on the main thread.

While the console trains, a cheap key (bound to an action that only records the time) is sent
every 100 ms through the app's driver, as a terminal would; its latency is the time from sending
the key to the action running, queueing behind progress messages and repaints included.

Last line: JSON {"headless_img_s", "console_img_s", "ratio", "key_p95_ms", "headless_thread_img_s",
"ratio_same_thread"}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import ClassVar

REPO = Path(__file__).resolve().parents[1]
SMOKE = REPO / "presets" / "smoke.toml"


KEY_INTERVAL = 0.1
"""Seconds between two timed key presses while the console trains (a fast typist's pace)."""


def overrides(batches: int, epochs: int) -> list[str]:
    return [
        "train.device=cpu",
        f"train.epochs={epochs}",
        f"scheduler.t_max={epochs}",
        "data.batch_size=64",
        f"data.synthetic_train_size={64 * batches}",
        "data.synthetic_val_size=256",
        "data.drop_last=true",
    ]


def headless(preset, runs_dir: Path) -> list[float]:
    from tui_trainer.engine.events import EpochFinished
    from tui_trainer.runs.launch import run_training

    speeds: list[float] = []

    def listener(event) -> None:
        if isinstance(event, EpochFinished):
            speeds.append(float(event.metrics["train_images_per_second"]))

    outcome = run_training(preset, runs_dir=runs_dir, listeners=[listener])
    if outcome.state != "finished":
        raise SystemExit(f"headless run {outcome.state}: {outcome.error}")
    return speeds


def headless_in_thread(preset, runs_dir: Path) -> list[float]:
    """The same headless run on a plain worker thread, as the console runs it (no UI at all)."""
    result: list[list[float]] = []
    thread = threading.Thread(target=lambda: result.append(headless(preset, runs_dir)))
    thread.start()
    thread.join()
    if not result:
        raise SystemExit("headless run in a thread failed")
    return result[0]


async def console(preset_overrides: list[str], runs_dir: Path) -> tuple[list[float], list[float], float]:
    from textual import events
    from textual.binding import Binding, BindingType

    from tui_trainer.tui.app import TrainerApp

    class TimedApp(TrainerApp):
        BINDINGS: ClassVar[list[BindingType]] = [Binding("f12", "ping", "ping", show=False)]
        pinged: float | None = None
        answered = asyncio.Event()

        def action_ping(self) -> None:
            self.pinged = time.perf_counter()
            self.answered.set()

    app = TimedApp(SMOKE, preset_overrides, runs_dir)
    latencies: list[float] = []
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+r")
        while not app.training_active and app.history is None:
            await asyncio.sleep(0.01)
        ui_cpu = wall = 0.0
        while app.training_active:
            if ui_cpu == 0.0 and app.history is not None and app.history.progress is not None:
                ui_cpu, wall = time.thread_time(), time.monotonic()  # this thread is the UI's
            if KEY_INTERVAL > 0:
                app.answered.clear()
                sent = time.perf_counter()
                app._driver.send_message(events.Key("f12", None))
                await app.answered.wait()
                # Only keys sent once batches flow count (not the torch import and data setup).
                if app.history is not None and app.history.progress is not None and app.pinged is not None:
                    latencies.append((app.pinged - sent) * 1000)
            await asyncio.sleep(KEY_INTERVAL if KEY_INTERVAL > 0 else 0.1)
        ui_share = (time.thread_time() - ui_cpu) / (time.monotonic() - wall) if wall else float("nan")
        await pilot.pause(0.2)
        history = app.history
        assert history is not None
        if history.state != "finished":
            raise SystemExit(f"console run {history.state}: {history.error}")
        speeds = [float(r["train_images_per_second"]) for r in history.epochs]
        await pilot.press("ctrl+q")
    return speeds, latencies, ui_share


def measure_one(kind: str, preset_overrides: list[str], runs_dir: Path) -> dict:
    """One measurement, in this process: what a fresh `tui-trainer` process of that kind does."""
    from tui_trainer.config import load_preset

    preset = load_preset(SMOKE, preset_overrides)
    if kind == "warm":
        headless(load_preset(SMOKE, [*preset_overrides, "train.epochs=1", "scheduler.t_max=1"]), runs_dir)
        return {}
    if kind == "headless":
        return {"speeds": headless(preset, runs_dir)}
    if kind == "thread":
        return {"speeds": headless_in_thread(preset, runs_dir)}
    speeds, keys, ui_share = asyncio.run(console(preset_overrides, runs_dir))
    return {"speeds": speeds, "keys": keys, "ui_share": ui_share}


def in_fresh_process(kind: str, args: argparse.Namespace, runs_dir: Path) -> dict:
    """Run `measure_one` in a new interpreter, as the real commands run.

    In one process, OpenMP teams started by an earlier run on another thread keep spinning and
    slow the next run down by 15-25% on two cores, which would measure the benchmark, not the
    console.
    """
    command = [sys.executable, __file__, "--one", kind, "--batches", str(args.batches), "--epochs", str(args.epochs)]
    result = subprocess.run([*command, "--runs-dir", str(runs_dir)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{kind} measurement failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, default=60, help="training batches per epoch (64 images each)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per measuring process")
    parser.add_argument("--rounds", type=int, default=6, help="rounds of one process of each kind")
    parser.add_argument("--one", choices=("warm", "headless", "thread", "console"), help=argparse.SUPPRESS)
    parser.add_argument("--runs-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    preset_overrides = overrides(args.batches, args.epochs)
    if args.one:
        print(json.dumps(measure_one(args.one, preset_overrides, args.runs_dir)))
        return

    with tempfile.TemporaryDirectory(prefix="tui-overhead-") as tmp:
        tmp_path = Path(tmp)
        # Own cache and config folders (inherited by the measuring processes); data cached once.
        os.environ["XDG_CACHE_HOME"] = str(tmp_path / "cache")
        os.environ["XDG_CONFIG_HOME"] = str(tmp_path / "config")
        os.environ["TUI_TRAINER_CACHE"] = str(tmp_path / "cache" / "tui-trainer")
        in_fresh_process("warm", args, tmp_path / "warm")

        speeds: dict[str, list[list[float]]] = {"headless": [], "thread": [], "console": []}
        latencies: list[float] = []
        ui_shares: list[float] = []
        for round_number in range(args.rounds):
            start = time.perf_counter()
            # Alternate which goes first, so a change of load on a shared machine hits both alike.
            kinds = ("headless", "thread", "console")
            for kind in kinds if round_number % 2 == 0 else reversed(kinds):
                measured = in_fresh_process(kind, args, tmp_path / kind)
                speeds[kind].append(measured["speeds"])
                if kind == "console":
                    latencies += measured["keys"]
                    ui_shares.append(measured["ui_share"])
            print(
                f"round {round_number + 1}: "
                + ", ".join(f"{kind} {statistics.median(speeds[kind][-1]):.0f} img/s" for kind in speeds)
                + f", {len(latencies)} keys, {time.perf_counter() - start:.1f} s",
                file=sys.stderr,
            )

    # Speed varies more between processes (where the OS puts their threads) than between epochs
    # of one process, so each process counts once, by its median epoch, and the figure of a kind
    # is the median over its processes: one slow process or epoch does not decide the result.
    headless_img_s, thread_img_s, console_img_s = (
        statistics.median(statistics.median(process) for process in speeds[kind])
        for kind in ("headless", "thread", "console")
    )
    latencies.sort()
    p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))] if latencies else float("nan")
    for kind, processes in speeds.items():
        print(f"{kind + ' img/s, each process:':<32}{[round(statistics.median(p)) for p in processes]}")
    print(f"UI thread CPU while training (share of one core, keys included): {statistics.mean(ui_shares):.1%}")
    print(f"key latency ms: n={len(latencies)} median={statistics.median(latencies):.1f} max={latencies[-1]:.1f}")
    print(
        json.dumps(
            {
                "headless_img_s": round(headless_img_s, 1),
                "console_img_s": round(console_img_s, 1),
                "ratio": round(console_img_s / headless_img_s, 3),
                "key_p95_ms": round(p95, 1),
                # The console's training thread against the same thread without a UI: the UI's own cost.
                "headless_thread_img_s": round(thread_img_s, 1),
                "ratio_same_thread": round(console_img_s / thread_img_s, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
