"""Fault loop over run folders: kill -9 at random moments, then resume; many resumes at once.

    python benchmarks/fault_loop.py [--kills 30] [--resumers 20] [--seed 0]

Part 1 trains one tiny synthetic run and SIGKILLs it at a random moment (`--kills` times; after
each kill the next start is a `--resume` of the same folder). After every kill it checks what a
user would meet: status.json, every metrics.jsonl line, progress.json, the predictions and
last.pt all read without error, and the resume that follows is accepted. At the end one last
resume finishes the run, and its metrics must hold epochs 1..N once each, and no temporary file
of an atomic write may be left.

Part 2 stops a run after its first epoch and starts `--resumers` `--resume` processes of it at
once: exactly one must train (exit 0), every other must exit 2 with the "still running" message.

Figures only, no timing assertions; the last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tui_trainer.engine.checkpoint import load_checkpoint  # noqa: E402
from tui_trainer.runs.folder import RunFolder, RunFolderError  # noqa: E402

EPOCHS = 20
TINY = [
    "data.dataset=synthetic",
    "data.synthetic_train_size=3000",
    "data.synthetic_val_size=200",
    "data.image_size=16",
    "data.batch_size=32",
    "model.width=4",
    f"train.epochs={EPOCHS}",
    f"scheduler.t_max={EPOCHS}",
    "train.device=cpu",
]


def _env() -> dict[str, str]:
    return dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))


def _command(runs: Path, resume: Path | None) -> list[str]:
    base = [sys.executable, "-m", "tui_trainer", "--headless", "--runs-dir", str(runs)]
    if resume is not None:
        return [*base, "--resume", str(resume)]
    return [*base, str(REPO / "presets" / "smoke.toml"), *[a for o in TINY for a in ("--set", o)]]


def _check_readable(folder: RunFolder) -> list[str]:
    """Every file of the folder read as a user's tools read it; the problems found."""
    problems = []
    for name, read in (
        ("status.json", folder.read_status),
        ("metrics.jsonl", folder.read_metrics),
        ("progress.json", folder.read_progress),
        ("predictions-last.npz", lambda: folder.read_predictions("last")),
    ):
        try:
            read()
        except RunFolderError as exc:
            if name != "status.json" or "no status.json" not in str(exc):
                problems.append(f"{name}: {exc}")
        except Exception as exc:  # noqa: BLE001 - the figure is what broke
            problems.append(f"{name}: {type(exc).__name__}: {exc}")
    if folder.last_checkpoint.exists():
        try:
            load_checkpoint(folder.last_checkpoint)
        except Exception as exc:  # noqa: BLE001
            problems.append(f"last.pt: {exc}")
    return problems


def kill_loop(root: Path, kills: int, rng: random.Random) -> dict:
    """SIGKILL a run `kills` times at random moments (a finished run is checked and a new one begun)."""
    runs = root / "kill-runs"
    folder: RunFolder | None = None
    landed = unreadable = refused = before_checkpoint = runs_finished = runs_incomplete = 0
    leftovers: list[str] = []
    notes: list[str] = []

    def check_finished(done: RunFolder) -> None:
        nonlocal runs_finished, runs_incomplete
        runs_finished += 1
        if [r["epoch"] for r in done.read_metrics()] != list(range(1, EPOCHS + 1)):
            runs_incomplete += 1
            notes.append(f"{done.path.name}: epochs {[r['epoch'] for r in done.read_metrics()]}")
        leftovers.extend(p.name for p in done.path.glob(".*.tmp"))

    for trial in range(kills):
        while True:
            proc = subprocess.Popen(
                _command(runs, folder.path if folder else None),
                env=_env(),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            time.sleep(rng.uniform(1.0, 12.0))  # a whole run takes about 15 s here, torch import included
            killed = proc.poll() is None
            if killed:
                proc.send_signal(signal.SIGKILL)
            _, err = proc.communicate()
            if proc.returncode not in (-signal.SIGKILL, 0):
                refused += 1
                notes.append(f"trial {trial}: exit {proc.returncode}: {err.decode(errors='replace')[-300:]}")
            if folder is None:
                found = sorted(p for p in runs.iterdir() if p.is_dir()) if runs.exists() else []
                found = [p for p in found if p.name not in _seen]
                if not found or not RunFolder(found[0]).last_checkpoint.exists():
                    before_checkpoint += killed
                    for path in found:  # killed before it had anything to resume: start over
                        subprocess.run(["rm", "-rf", str(path)], check=True)
                    if killed:
                        break
                    continue
                folder = RunFolder(found[0])
                _seen.add(folder.path.name)
            problems = _check_readable(folder)
            if problems:
                unreadable += 1
                notes.append(f"trial {trial}: {problems}")
            if folder.read_status().get("state") == "finished":
                check_finished(folder)
                folder = None
            if killed:
                break
        landed += 1
    if folder is not None:  # the last one: resume it to its end
        subprocess.run(_command(runs, folder.path), env=_env(), capture_output=True, text=True)
        check_finished(folder)
    return {
        "kills": landed,
        "killed_before_a_checkpoint": before_checkpoint,
        "unreadable_after_a_kill": unreadable,
        "refused_or_failed_starts": refused,
        "runs_finished": runs_finished,
        "runs_with_missing_or_repeated_epochs": runs_incomplete,
        "temporary_files_left": leftovers,
        "notes": notes[:5],
    }


_seen: set[str] = set()


def simultaneous_resumes(root: Path, resumers: int) -> dict:
    runs = root / "race-runs"
    proc = subprocess.Popen(_command(runs, None), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    for line in proc.stdout:  # stop it after its first epoch, as Ctrl+C would
        if line.split()[:2] == [b"epoch", f"1/{EPOCHS}".encode()]:
            proc.send_signal(signal.SIGINT)
            break
    proc.communicate()
    [run_dir] = list(runs.iterdir())
    procs = [
        subprocess.Popen(_command(runs, run_dir), env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(resumers)
    ]
    results = [(p.wait(), p.stderr.read().decode(errors="replace")) for p in procs]  # type: ignore[union-attr]
    winners = sum(1 for code, _ in results if code == 0)
    losers_ok = sum(1 for code, err in results if code == 2 and "still running (pid" in err)
    epochs = [r["epoch"] for r in RunFolder(run_dir).read_metrics()]
    return {
        "resumers": resumers,
        "trained": winners,
        "refused_with_message": losers_ok,
        "other": resumers - winners - losers_ok,
        "epochs_complete": epochs == list(range(1, EPOCHS + 1)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=30)
    parser.add_argument("--resumers", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    np.random.seed(args.seed)
    with tempfile.TemporaryDirectory(prefix="fault-loop-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        kills = kill_loop(root, args.kills, rng)
        print(f"kill -9 loop: {json.dumps(kills)}", flush=True)
        race = simultaneous_resumes(root, args.resumers)
        print(f"simultaneous resumes: {json.dumps(race)}", flush=True)
        print(json.dumps({"kill_loop": kills, "simultaneous_resumes": race, "seconds": time.perf_counter() - started}))


if __name__ == "__main__":
    main()
