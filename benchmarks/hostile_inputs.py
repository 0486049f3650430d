"""Hostile-input loop over the trust boundaries: data that someone else wrote, met the way a user meets it.

    python benchmarks/hostile_inputs.py [--only 1,4,7] [--quick] [--strict] [--jobs 2]

Each trial runs the real command (`python -m tui_trainer ...` in a subprocess with its own HOME,
XDG folders, cache and current folder), the real `--serve` server, or the console itself (a
subprocess that drives the App through Textual's `run_test` after `tui_trainer.cli.main` parsed
the same arguments a terminal would give). Items follow the trust-boundaries issue:

 1-3 code from data: a run folder's preset naming `torch.hub:load` (with a `hubconf.py`) or
     `evilmod:factory` (with `evilmod.py` in the run folder, beside it, or in the current folder),
     opened by --eval/--predict/--export/--resume and the console's v/o/r; a shadowing module in
     the current folder; a received sweep folder whose sweep.toml names another preset (`g`).
 4   the web console: WebSocket clients with a foreign Origin, no token, a rebinding Host header,
     that open a preset and press ctrl+r; the token printed once; a busy port; a 0600 socket.
 5-12 files that are not what they claim: symlinked .lock, /dev/zero and FIFO record files and
     images (bounded time and memory), escape sequences in file names, inf/1e308 metrics,
     arrays nested 500 deep, a zero-byte cache .npy, a read-only run folder, an unimportable
     target, a reused pid without pid_started, notes.pdf in a class folder.

Every payload writes a marker file when it runs, so each trial counts executions; every kind of
payload has a CONTROL that runs it where the user allows it (`--trust-code`, a preset run
directly, a direct import, the right token), so "0 executions" is a measurement, not an accident.

Figures only: a table per item (trials, failures, executions) and a final JSON line. Exit 0 even
with failures (`--strict`: 1 on any failure). An interface that is not there yet (an option
argparse does not know) is a failed trial, not a crash of this script.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import numpy as np
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests import helpers  # noqa: E402

TINY = ["data.dataset=synthetic", *helpers.TINY]
"""The smoke preset in about a second, as the tests train it."""

MEMORY_CAP_MIB = 2048
"""A command whose process tree grows past this is killed and fails its trial (a real one stays under 1 GiB)."""
TIME_LIMIT_S = 60.0
"""A command still going after this is killed and fails its trial (a real one takes a few seconds)."""
HOSTILE_NAME = "ok\x1b]2;HOSTILE-TITLE\x1b\\\x1b[2J\x07"
"""A file name that sets the terminal title and clears the screen when printed raw."""
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
"""Characters a terminal acts on; newline, tab and carriage return are allowed."""
DEPTH = 500
SERVE_TOKEN_ENV = "TUI_TRAINER_SERVE_TOKEN"


# ------------------------------------------------------------------------------------ records


@dataclass
class Trial:
    item: int
    done: str
    expected: str
    observed: str
    passed: bool
    executions: int = 0
    control: bool = False
    seconds: float = 0.0


@dataclass
class Outcome:
    """A finished (or killed) command."""

    code: int | None  # None: killed at the time or memory limit
    out: str
    err: str
    seconds: float
    peak_mib: float
    why_killed: str = ""

    def brief(self) -> str:
        if self.code is None:
            return f"killed ({self.why_killed}), peak {self.peak_mib:.0f} MiB"
        last = _last_line(self.err)
        return f"exit {self.code}" + (f": {last}" if last else "") + f", peak {self.peak_mib:.0f} MiB"


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return ascii(lines[-1][:160])[1:-1] if lines else ""


def _traceback(outcome: Outcome) -> bool:
    return "Traceback (most recent call last)" in outcome.err or "RecursionError" in outcome.err


# ------------------------------------------------------------------------------------ processes


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    with contextlib.suppress(psutil.Error):
        for p in (proc, *proc.children(recursive=True)):
            with contextlib.suppress(psutil.Error):
                total += p.memory_info().rss
    return total


def _kill_group(pid: int) -> None:
    """SIGKILL the session this script started for one command (start_new_session=True)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def run_bounded(
    argv: Sequence[str],
    cwd: Path,
    env: dict[str, str],
    timeout: float = TIME_LIMIT_S,
    memory_mib: float = MEMORY_CAP_MIB,
) -> Outcome:
    """Run a command to its end, or kill it at the time or memory limit; its peak RSS (whole tree)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        proc = subprocess.Popen(
            list(argv), cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True
        )
        watched = psutil.Process(proc.pid)
        peak, why = 0, ""
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                proc.returncode = os.waitstatus_to_exitcode(status)
                peak = max(peak, usage.ru_maxrss * 1024)
                break
            rss = _tree_rss(watched)
            peak = max(peak, rss)
            if rss > memory_mib * 2**20:
                why = f"over {memory_mib:.0f} MiB"
            elif time.monotonic() - started > timeout:
                why = f"still going after {timeout:.0f}s"
            if why:
                _kill_group(proc.pid)
                proc.wait()
                break
            time.sleep(0.05)
        _kill_group(proc.pid)  # whatever it left behind in its session
        seconds = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        return Outcome(
            None if why else proc.returncode,
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
            seconds,
            peak / 2**20,
            why,
        )


def _kill_strays(root: Path) -> None:
    """Detached runs and sweeps this script caused (their command lines name its temporary folder)."""
    for proc in psutil.process_iter(["pid", "cmdline"]):
        with contextlib.suppress(psutil.Error):
            if proc.pid != os.getpid() and any(str(root) in part for part in proc.info["cmdline"] or ()):
                proc.kill()


# ------------------------------------------------------------------------------------ the console driver

DRIVER = r"""
import asyncio, json, os, sys, time
from pathlib import Path

spec = json.loads(sys.argv[1])
markers = [Path(p) for p in spec.get("markers", [])]
report = {"crashed": None, "screens": [], "notes": [], "sys_path": []}


def busy(app):
    from textual.worker import WorkerState

    running = (WorkerState.PENDING, WorkerState.RUNNING)
    return app.training_active or any(w.state in running for w in app.workers)


async def settle(app, pilot, seconds):
    deadline = time.monotonic() + seconds
    await pilot.pause(0.5)
    while time.monotonic() < deadline:
        if any(m.exists() for m in markers) or not busy(app):
            return
        await pilot.pause(0.2)


async def drive(app):
    from textual.screen import ModalScreen

    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(spec.get("start_pause", 1.0))
        if spec.get("settle_first"):  # e.g. the sweep screen reading its study on a worker
            await settle(app, pilot, 40)
        for key in spec.get("keys", []):
            await pilot.press(key)
            await settle(app, pilot, spec.get("wait", 20))
            if spec.get("confirm") and not any(m.exists() for m in markers) and isinstance(app.screen, ModalScreen):
                for answer in ("y", "enter"):  # the user says yes to what the dialog asks
                    if isinstance(app.screen, ModalScreen):
                        await pilot.press(answer)
                        await settle(app, pilot, spec.get("wait", 20))
        report["screens"] = [type(s).__name__ for s in app.screen_stack]
        report["notes"] = [str(n.message) for n in app._notifications]
        report["sys_path"] = list(sys.path)
        app.stop_training(wait=True, timeout=15)
        app.exit()


def run(self, *args, **kwargs):
    try:
        asyncio.run(drive(self))
    except BaseException as exc:
        report["crashed"] = f"{type(exc).__name__}: {exc}"[:300]
    return self.return_code


from tui_trainer import cli
from tui_trainer.tui import app as app_module

app_module.TrainerApp.run = run
try:
    code = cli.main(spec["argv"])
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else 1
except BaseException as exc:
    report["crashed"] = f"{type(exc).__name__}: {exc}"[:300]
    code = 1
report["code"] = code
print("DRIVER-REPORT " + json.dumps(report), flush=True)
os._exit(0)
"""


@dataclass
class ConsoleOutcome:
    outcome: Outcome
    report: dict | None

    @property
    def seconds(self) -> float:
        return self.outcome.seconds

    @property
    def crashed(self) -> str | None:
        if self.report is None:
            return f"no report ({self.outcome.brief()})"
        return self.report.get("crashed")

    def brief(self) -> str:
        if self.report is None:
            return self.outcome.brief()
        text = f"exit {self.report.get('code')}, screens {'/'.join(self.report.get('screens') or ['-'])}"
        if self.report.get("crashed"):
            text += f", crashed: {self.report['crashed'][:120]}"
        notes = self.report.get("notes") or []
        if notes:
            text += f", note: {ascii(notes[-1][:100])[1:-1]}"
        return text


# ------------------------------------------------------------------------------------ the lab


def _payload(marker: Path) -> str:
    """A module that writes `marker` the moment it is imported, and builds the run's real model."""
    return textwrap.dedent(f"""\
        from pathlib import Path

        Path({str(marker)!r}).write_text("this module ran")


        def factory(num_classes, **params):
            from tui_trainer.models.small_cnn import small_cnn

            return small_cnn(num_classes, width=4)


        def model(num_classes=10, **params):  # torch.hub's entry point
            return factory(num_classes)
        """)


class Lab:
    """The temporary world the trials run in: isolated user folders, one tiny finished run, scratch folders."""

    def __init__(self, root: Path, quick: bool) -> None:
        self.root = root
        self.quick = quick
        self.home = root / "home"
        self.env = {
            k: v for k, v in os.environ.items() if k not in ("TUI_TRAINER_CONFIG", SERVE_TOKEN_ENV, "PYTHONPATH")
        }
        self.env.update(
            HOME=str(self.home),
            XDG_CACHE_HOME=str(self.home / "cache"),
            XDG_CONFIG_HOME=str(self.home / "config"),
            XDG_STATE_HOME=str(self.home / "state"),
            XDG_DATA_HOME=str(self.home / "data"),
            TUI_TRAINER_CACHE=str(self.home / "cache" / "tui-trainer"),
            OMP_NUM_THREADS="1",
            PYTHONUNBUFFERED="1",
        )
        self.base_run: Path | None = None
        self.base_sweep: Path | None = None
        self._count = 0
        self._lock = threading.Lock()

    # ---- folders
    def scratch(self, name: str) -> Path:
        with self._lock:
            self._count += 1
            path = self.root / "trials" / f"{self._count:03d}-{name}"
        path.mkdir(parents=True)
        (path / "cwd").mkdir()
        return path

    def make_base_run(self) -> None:
        cwd = self.root / "base"
        cwd.mkdir(exist_ok=True)
        sets = [a for o in TINY for a in ("--set", o)]
        outcome = run_bounded(self.cli("--headless", "smoke", "--runs-dir", "runs", *sets), cwd, self.env, 180)
        runs = sorted((cwd / "runs").glob("*")) if (cwd / "runs").is_dir() else []
        if outcome.code != 0 or not runs:
            raise SystemExit(f"hostile_inputs: the tiny base run failed: {outcome.brief()}\n{outcome.err[-2000:]}")
        self.base_run = runs[0]

    def copy_run(self, parent: Path, name: str = "run", resumable: bool = True) -> Path:
        """A copy of the tiny finished run; `resumable`: marked interrupted with one epoch still to train."""
        assert self.base_run is not None
        parent.mkdir(parents=True, exist_ok=True)
        run = parent / name
        shutil.copytree(self.base_run, run, symlinks=True)
        if resumable:
            status = json.loads((run / "status.json").read_text())
            status.update(state="interrupted", epochs_planned=3, ended_at=None)
            (run / "status.json").write_text(json.dumps(status, indent=2))
            text = (run / "preset.toml").read_text()
            text = text.replace("\nepochs = 2\n", "\nepochs = 3\n").replace("\nt_max = 2\n", "\nt_max = 3\n")
            (run / "preset.toml").write_text(text)
        return run

    # ---- commands
    def cli(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "tui_trainer", *args]

    def run_cli(self, args: Sequence[str], cwd: Path, timeout: float = TIME_LIMIT_S, **env: str) -> Outcome:
        return run_bounded(self.cli(*args), cwd, {**self.env, **env}, timeout)

    def console(
        self,
        argv: Sequence[str],
        cwd: Path,
        keys: Sequence[str] = (),
        markers: Sequence[Path] = (),
        confirm: bool = False,
        settle_first: bool = False,
        wait: float = 20.0,
        timeout: float = 90.0,
        env: dict[str, str] | None = None,
    ) -> ConsoleOutcome:
        """The console on `argv` (as `tui-trainer ARGV`), these keys pressed, each followed by its work."""
        spec = {"argv": list(argv), "keys": list(keys), "markers": [str(m) for m in markers], "confirm": confirm}
        spec["settle_first"] = settle_first
        spec["wait"] = wait
        outcome = run_bounded(
            [sys.executable, "-P", "-c", DRIVER, json.dumps(spec)], cwd, {**self.env, **(env or {})}, timeout
        )
        report = None
        for line in outcome.out.splitlines():
            if line.startswith("DRIVER-REPORT "):
                report = json.loads(line.removeprefix("DRIVER-REPORT "))
        return ConsoleOutcome(outcome, report)


def set_target(run: Path, target: str, params: dict[str, str] | None = None) -> None:
    """Write `model.target` (and `[model.params]`) into a run folder's preset.toml, as a hostile sender would."""
    text = (run / "preset.toml").read_text()
    text = text.replace('\ntarget = ""\n', f"\ntarget = {json.dumps(target)}\n")
    lines = "".join(f"{key} = {json.dumps(value)}\n" for key, value in (params or {}).items())
    text = text.replace("\n[model.params]\n", f"\n[model.params]\n{lines}")
    (run / "preset.toml").write_text(text)


def write_png(path: Path, seed: int = 0, size: int = 20) -> None:
    from PIL import Image

    pixels = (np.random.default_rng(seed).random((size, size, 3)) * 255).astype("uint8")
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, format="PNG")


def _refused_with_flag(outcome: Outcome) -> bool:
    return outcome.code == 2 and "--trust-code" in outcome.err and not _traceback(outcome)


Result = Outcome | ConsoleOutcome
Thunks = list[Callable[[], list[Trial]]]
REFUSED = "0 executions; exit 2 naming --trust-code"


def attack(item: int, done: str, expected: str, marker: Path, result: Result, ok: bool = True) -> Trial:
    """A trial whose payload writes `marker` if it runs: any run is an execution and a failure."""
    ran = marker.exists()
    observed = ("EXECUTED, " if ran else "") + result.brief()
    return Trial(item, done, expected, observed, ok and not ran, executions=int(ran), seconds=result.seconds)


def control(item: int, done: str, expected: str, marker: Path, result: Result, ok: bool = True) -> Trial:
    """The same payload where the user allows it: it must run, or the attack trials prove nothing."""
    ran = marker.exists()
    observed = ("ran, " if ran else "did not run, ") + result.brief()
    return Trial(item, f"CONTROL: {done}", expected, observed, ran and ok, control=True, seconds=result.seconds)


def check(item: int, done: str, expected: str, result: Result, ok: bool, observed: str = "") -> Trial:
    return Trial(item, done, expected, observed or result.brief(), ok, seconds=result.seconds)


def python_code(lab: Lab, code: str, cwd: Path) -> Outcome:
    """`python -P -c CODE`: a control that runs a payload directly."""
    return run_bounded([sys.executable, "-P", "-c", code], cwd, lab.env)


def hub_load(folder: Path) -> str:
    return f"import torch; torch.hub.load({str(folder)!r}, 'model', source='local', num_classes=10)"


# ------------------------------------------------------------------------------------ items 1-3: code from data

PAYLOADS = ("hubconf.py (torch.hub:load)", "evilmod.py in the run folder", "evilmod.py beside it", "evilmod.py in cwd")
USES = ("--eval", "--predict", "--export", "--resume")
CONSOLE_KEYS = {"v": "evaluate", "o": "export", "r": "resume"}


def _hostile_run(lab: Lab, where: str, payload: str) -> tuple[Path, Path, Path]:
    """A scratch folder with a resumable run whose preset imports a marker-writing module; (run, cwd, marker)."""
    base = lab.scratch(where)
    run = lab.copy_run(base / "runs")
    cwd = base / "cwd"
    marker = base / "MARKER"
    if payload.startswith("hubconf"):
        (run / "hubconf.py").write_text("dependencies = []\n" + _payload(marker))
        set_target(run, "torch.hub:load", {"repo_or_dir": str(run), "model": "model", "source": "local"})
    else:
        folder = {"in the run folder": run, "beside it": run.parent, "in cwd": cwd}[payload.split(" ", 1)[1]]
        (folder / "evilmod.py").write_text(_payload(marker))
        set_target(run, "evilmod:factory")
    return run, cwd, marker


def _use_args(use: str, run: Path, base: Path) -> list[str]:
    if use == "--eval":
        return ["--eval", str(run)]
    if use == "--predict":
        write_png(base / "photo.png")
        return ["--predict", str(run), str(base / "photo.png")]
    if use == "--export":
        return ["--export", str(run), "--format", "safetensors", "--out", str(base / "model.safetensors")]
    return ["--headless", "--resume", str(run)]


def item_1(lab: Lab) -> Thunks:
    def cli(payload: str, use: str) -> list[Trial]:
        run, cwd, marker = _hostile_run(lab, "item1-cli", payload)
        outcome = lab.run_cli(_use_args(use, run, run.parent.parent), cwd)
        return [
            attack(
                1,
                f"{use} on a run whose preset imports {payload}",
                REFUSED,
                marker,
                outcome,
                _refused_with_flag(outcome),
            )
        ]

    def console(payload: str, key: str) -> list[Trial]:
        run, cwd, marker = _hostile_run(lab, "item1-console", payload)
        result = lab.console([str(run)], cwd, keys=["ctrl+l", key], markers=[marker])
        done = f"console `tui-trainer RUN_DIR`, runs screen, {key} ({CONSOLE_KEYS[key]}) with {payload}"
        return [attack(1, done, "0 executions, the console still up", marker, result, not result.crashed)]

    def controls() -> list[Trial]:
        run, cwd, marker = _hostile_run(lab, "item1-control-hub", PAYLOADS[0])
        trials = [
            control(
                1,
                "torch.hub.load(run folder, source='local') called directly",
                "hubconf.py runs",
                marker,
                python_code(lab, hub_load(run), cwd),
            )
        ]
        # --trust-code imports from the installed packages and the current folder (where the user stands).
        run, cwd, marker = _hostile_run(lab, "item1-control-trust", PAYLOADS[3])
        outcome = lab.run_cli(["--eval", str(run), "--trust-code"], cwd)
        trials.append(
            control(
                1,
                f"--eval --trust-code, {PAYLOADS[3]}",
                "it runs (the user allowed it), exit 0",
                marker,
                outcome,
                outcome.code == 0,
            )
        )
        run, cwd, marker = _hostile_run(lab, "item1-control-console", PAYLOADS[3])
        result = lab.console(["--trust-code", str(run)], cwd, keys=["ctrl+l", "v"], markers=[marker], confirm=True)
        trials.append(
            control(
                1, f"console `tui-trainer --trust-code RUN_DIR`, v, confirmed, {PAYLOADS[3]}", "it runs", marker, result
            )
        )
        return trials

    payloads = PAYLOADS[:2] if lab.quick else PAYLOADS
    uses = USES[::3] if lab.quick else USES
    keys = ("v",) if lab.quick else tuple(CONSOLE_KEYS)
    thunks: Thunks = [partial(cli, p, u) for p in payloads for u in uses]
    thunks += [partial(console, p, k) for p in payloads for k in keys]
    return [*thunks, controls]


def item_2(lab: Lab) -> Thunks:
    def shadow() -> list[Trial]:
        base = lab.scratch("item2-shadow")
        run = lab.copy_run(base / "runs")
        cwd, marker = base / "cwd", base / "MARKER"
        (cwd / "argparse.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
        outcome = lab.run_cli(["--eval", str(run)], cwd)
        trials = [
            attack(
                2,
                "`python -m tui_trainer --eval RUN` with argparse.py in the current folder",
                "0 executions (the current folder is not on sys.path)",
                marker,
                outcome,
            )
        ]
        marker.unlink(missing_ok=True)
        direct = run_bounded([sys.executable, "-c", "import argparse"], cwd, lab.env)
        return [*trials, control(2, "`python -c 'import argparse'` in that folder", "argparse.py runs", marker, direct)]

    def headless_cwd() -> list[Trial]:
        base = lab.scratch("item2-headless")
        preset = base / "elsewhere" / "mine.toml"
        preset.parent.mkdir()
        preset.write_text(tiny_preset_text("evilmod:factory"))
        cwd, marker = base / "cwd", base / "MARKER"
        (cwd / "evilmod.py").write_text(_payload(marker))
        args = ["--headless", str(preset), "--runs-dir", str(base / "runs")]
        outcome = lab.run_cli(args, cwd)
        trials = [
            attack(
                2,
                "`--headless elsewhere/mine.toml` (target evilmod:factory), evilmod.py in the current folder only",
                "0 executions (only the preset's own folder is searched)",
                marker,
                outcome,
            )
        ]
        (cwd / "evilmod.py").rename(preset.parent / "evilmod.py")
        outcome = lab.run_cli(args, cwd)
        return [
            *trials,
            control(
                2,
                "the same preset run directly, evilmod.py beside it",
                "it runs (a preset the user runs keeps model.target), exit 0",
                marker,
                outcome,
                outcome.code == 0,
            ),
        ]

    def console_path() -> list[Trial]:
        base = lab.scratch("item2-console-path")
        run = lab.copy_run(base / "runs")
        cwd, marker = base / "cwd", base / "MARKER"
        (base / "runs" / "onnx.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
        result = lab.console([str(run)], cwd, keys=["ctrl+l", "o"], markers=[marker])
        paths = (result.report or {}).get("sys_path") or []
        leaked = [name for name, p in (("run's parent", run.parent), ("cwd", cwd)) if str(p) in paths]
        trial = attack(
            2,
            "console `tui-trainer RUN_DIR`, o (export onnx), onnx.py beside the run folder",
            "0 executions; neither the run's parent nor the current folder on sys.path",
            marker,
            result,
            not leaked and result.report is not None,
        )
        trial.observed += f"; on sys.path: {', '.join(leaked) or 'neither'}"
        return [trial]

    return [shadow, headless_cwd] if lab.quick else [shadow, headless_cwd, console_path]


def make_base_sweep(lab: Lab) -> None:
    """A real sweep folder with one finished trial, made from a sweep file that is then deleted (as received)."""
    source = lab.root / "sweep-source"
    source.mkdir()
    shutil.copy(REPO / "presets" / "smoke.toml", source / "base.toml")
    tiny = [o for o in TINY if not o.startswith(("train.epochs", "scheduler.t_max"))]
    (source / "tiny-sweep.toml").write_text(
        textwrap.dedent(f"""\
            name = "tiny-sweep"
            preset = "base.toml"
            set = {json.dumps([*tiny, "train.epochs=1", "scheduler.t_max=1"])}
            trials = 1
            sampler = "random"
            [pruner]
            name = "none"
            [space]
            "optimizer.lr" = {{ low = 1e-3, high = 1e-2, log = true }}
            """)
    )
    sweeps = lab.root / "base-sweeps"
    args = lab.cli("--sweep", str(source / "tiny-sweep.toml"), "--sweeps-dir", str(sweeps))
    outcome = run_bounded(args, source, lab.env, 180)
    folder = sweeps / "tiny-sweep"
    if outcome.code != 0 or not (folder / "study.db").is_file():
        raise RuntimeError(f"the tiny base sweep failed: {outcome.brief()}")
    shutil.rmtree(source)
    lab.base_sweep = folder


SWEEP_PAYLOADS = {"hub": "hubconf.py (torch.hub:load)", "evilmod": "evilmod.py"}


def _hostile_sweep(lab: Lab, payload: str) -> tuple[Path, Path, Path]:
    """A received sweep folder whose sweep.toml now names evil.toml, a preset importing SWEEP_PAYLOADS[payload]
    from the folder; (folder, cwd, marker)."""
    assert lab.base_sweep is not None
    base = lab.scratch(f"item3-{payload}")
    folder = base / "sweeps" / "tiny-sweep"
    shutil.copytree(lab.base_sweep, folder)
    marker = base / "MARKER"
    if payload == "hub":
        (folder / "hubconf.py").write_text("dependencies = []\n" + _payload(marker))
        params = {"repo_or_dir": str(folder), "model": "model", "source": "local"}
        text = tiny_preset_text("torch.hub:load")
        text += "\n[model.params]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in params.items())
    else:
        (folder / "evilmod.py").write_text(_payload(marker))
        text = tiny_preset_text("evilmod:factory")
    (folder / "evil.toml").write_text(text)
    text = (folder / "sweep.toml").read_text()
    text = re.sub(r"(?m)^preset = .*$", 'preset = "evil.toml"', text)
    text = re.sub(r"(?m)^trials = .*$", "trials = 2", text)
    (folder / "sweep.toml").write_text(text)
    return folder, base / "cwd", marker


def tiny_preset_text(target: str) -> str:
    """A preset of its own (the TINY settings) whose model is `target`: what a hostile sender writes."""
    sections: dict[str, list[str]] = {"model": [f"target = {json.dumps(target)}"]}
    for override in TINY:
        key, _, value = override.partition("=")
        section, _, name = key.partition(".")
        value = value if re.fullmatch(r"[0-9.e+-]+", value) else json.dumps(value)
        sections.setdefault(section, []).append(f"{name} = {value}")
    body = "".join(f"\n[{section}]\n" + "\n".join(lines) + "\n" for section, lines in sections.items())
    return 'name = "tiny"\n' + body


def _started_from(root: Path) -> bool:
    """Whether a process whose command line names `root` is alive (a detached sweep this script caused)."""
    for proc in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            if any(str(root) in part for part in proc.info["cmdline"] or ()):
                return True
    return False


def item_3(lab: Lab) -> Thunks:
    def console_g(payload: str, trust: bool) -> list[Trial]:
        folder, cwd, marker = _hostile_sweep(lab, payload)
        if trust and (folder / "evilmod.py").exists():  # trusted code comes from where the user stands
            cwd.mkdir(parents=True, exist_ok=True)
            shutil.copy(folder / "evilmod.py", cwd / "evilmod.py")
        argv = (["--trust-code"] if trust else []) + [str(folder)]
        result = lab.console(argv, cwd, keys=["g"], markers=[marker], confirm=trust, settle_first=True)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not marker.exists() and _started_from(folder.parent.parent):
            time.sleep(0.3)  # the detached sweep, until its first trial builds the model
        _kill_strays(folder.parent.parent)
        if trust:
            done = f"console `tui-trainer --trust-code SWEEP_FOLDER`, g, confirmed, {SWEEP_PAYLOADS[payload]}"
            return [control(3, done, "it runs (the user allowed it)", marker, result)]
        done = f"console on a received sweep folder naming a preset that imports {SWEEP_PAYLOADS[payload]}, g"
        return [attack(3, done, "0 executions", marker, result, not result.crashed)]

    def cli(payload: str) -> list[Trial]:
        folder, cwd, marker = _hostile_sweep(lab, payload)
        args = ["--sweep", str(folder / "sweep.toml"), "--sweeps-dir", str(folder.parent)]
        outcome = lab.run_cli(args, cwd, timeout=120)
        done = f"`--sweep RECEIVED/sweep.toml` (what g runs), its preset importing {SWEEP_PAYLOADS[payload]}"
        return [attack(3, done, REFUSED, marker, outcome, _refused_with_flag(outcome))]

    def direct() -> list[Trial]:
        folder, cwd, marker = _hostile_sweep(lab, "hub")
        outcome = python_code(lab, hub_load(folder), cwd)
        return [
            control(
                3, "torch.hub.load(sweep folder, source='local') called directly", "hubconf.py runs", marker, outcome
            )
        ]

    if lab.quick:
        return [partial(cli, "hub"), direct]
    return [
        partial(console_g, "hub", False),
        partial(cli, "hub"),
        partial(cli, "evilmod"),
        partial(console_g, "evilmod", True),
        direct,
    ]


# ------------------------------------------------------------------------------------ item 4: the web console


class WebSocketClient:
    """A small stdlib WebSocket client: any header a hostile client likes; it answers the server's pings."""

    def __init__(self, port: int, path: str, headers: dict[str, str]) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=15)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path} HTTP/1.1", "Upgrade: websocket", "Connection: Upgrade"]
        lines += [f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            head += chunk
        self.status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
        self._buffer = head.partition(b"\r\n\r\n")[2]
        self.received = len(self._buffer)
        self._send_lock = threading.Lock()
        self.closed = self.status != 101
        if not self.closed:
            threading.Thread(target=self._read, daemon=True).start()

    def _recv_exact(self, n: int) -> bytes:
        while len(self._buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self._buffer += chunk
            self.received += len(chunk)
        data, self._buffer = self._buffer[:n], self._buffer[n:]
        return data

    def _read(self) -> None:
        self.sock.settimeout(None)
        with contextlib.suppress(OSError, ConnectionError, ValueError):
            while True:
                first, second = self._recv_exact(2)
                length = second & 0x7F
                if length in (126, 127):
                    length = int.from_bytes(self._recv_exact(2 if length == 126 else 8), "big")
                payload = self._recv_exact(length)
                if first & 0x0F == 0x9:
                    self._send(0xA, payload)  # pong, or aiohttp's heartbeat closes the tab
                elif first & 0x0F == 0x8:
                    break
        self.closed = True

    def _send(self, opcode: int, payload: bytes) -> None:
        mask, size = os.urandom(4), len(payload)
        header = bytes([0x80 | opcode])
        if size < 126:
            header += bytes([0x80 | size])
        else:
            header += bytes([0x80 | 126]) + size.to_bytes(2, "big")
        with self._send_lock:
            self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def send_json(self, value: object) -> None:
        self._send(0x1, json.dumps(value).encode())

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._send(0x8, b"")
        self.sock.close()


def http_status(port: int, path: str, headers: dict[str, str]) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        lines = [f"GET {path} HTTP/1.1", "Connection: close", *(f"{k}: {v}" for k, v in headers.items())]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = sock.recv(4096)
    return int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_listening(port: int, proc: subprocess.Popen, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.2)
    return False


@dataclass
class Tab:
    """What one WebSocket client got: the handshake's status, and whether ctrl+r ran the preset's target."""

    status: int
    seconds: float

    def brief(self) -> str:
        return f"HTTP {self.status}"


def open_tab(port: int, headers: dict[str, str], token: str, marker: Path) -> Tab:
    """Connect; if let in, wait for the console's first screen, press ctrl+r, wait for the marker."""
    marker.unlink(missing_ok=True)
    path = "/ws?width=100&height=30" + (f"&token={token}" if token else "")
    headers = {**headers, **({"Authorization": f"token {token}"} if token else {})}
    started = time.monotonic()
    try:
        client = WebSocketClient(port, path, headers)
    except OSError:
        return Tab(0, time.monotonic() - started)
    if client.status == 101:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and client.received < 20000 and not client.closed:
            time.sleep(0.2)  # the console's first screen
        time.sleep(2.0)
        with contextlib.suppress(OSError):
            client.send_json(["stdin", "\x12"])  # ctrl+r: train the preset on screen
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and not marker.exists() and not client.closed:
            time.sleep(0.2)
    client.close()
    time.sleep(1.0)  # the tab's console ends with its socket
    return Tab(client.status, time.monotonic() - started)


def _served(lab: Lab, base: Path, args: Sequence[str], env: dict[str, str], out: Path) -> subprocess.Popen:
    with open(out, "wb") as stdout, open(base / "serve.err", "wb") as stderr:
        return subprocess.Popen(
            lab.cli("--serve", *args),
            cwd=base / "cwd",
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )


def _stop(server: subprocess.Popen, base: Path) -> None:
    _kill_group(server.pid)
    server.wait()
    _kill_strays(base)


def item_4(lab: Lab) -> Thunks:
    return [partial(_serve_trials, lab), partial(_serve_socket, lab)]


def _serve_trials(lab: Lab) -> list[Trial]:
    base = lab.scratch("item4-serve")
    shared = base / "cwd" / "shared"  # a folder another account can write to
    shared.mkdir()
    preset, marker = shared / "evil.toml", base / "MARKER"
    preset.write_text(tiny_preset_text("evilmod:factory"))
    (shared / "evilmod.py").write_text(_payload(marker))
    port = _free_port()
    token = base64.urlsafe_b64encode(os.urandom(18)).decode().rstrip("=")
    origin, host, rebound = f"http://127.0.0.1:{port}", f"127.0.0.1:{port}", f"rebind.attacker.example:{port}"
    server = _served(
        lab, base, [str(preset), "--port", str(port)], {**lab.env, SERVE_TOKEN_ENV: token}, base / "serve.out"
    )
    try:
        if not _wait_listening(port, server, 40):
            detail = _last_line((base / "serve.err").read_text(errors="replace"))
            return [Trial(4, "--serve starts", "listening", f"not listening: {detail}", False)]
        time.sleep(0.5)
        url = re.search(rf"http://127\.0\.0\.1:{port}/\?token=(\S+)", (base / "serve.out").read_text(errors="replace"))
        token = url.group(1) if url else token  # the printed token is the one that counts
        trials = [
            Trial(
                4,
                "the URL printed on stdout",
                f"http://127.0.0.1:{port}/?token=TOKEN",
                "printed" if url else "no URL with a token",
                bool(url),
            )
        ]
        listed = []
        for proc in [psutil.Process(server.pid), *psutil.Process(server.pid).children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                listed += proc.cmdline()
        leaked = any(token in part for part in listed)
        trials.append(
            Trial(
                4,
                "the command lines of the server and its tabs",
                "no token",
                "the token is there" if leaked else "no token",
                not leaked,
            )
        )
        for done, path, headers, allowed in (
            ("GET / without a token", "/", {"Host": host}, False),
            ("GET / with the token and a rebinding Host header", f"/?token={token}", {"Host": rebound}, False),
            ("CONTROL: GET /?token=TOKEN", f"/?token={token}", {"Host": host}, True),
        ):
            status = http_status(port, path, headers)
            ok = status in (200, 303) if allowed else status in (400, 403)  # 303: the cookie, then the page
            expected = "200 (or 303 to the page)" if allowed else "403 (or 400)"
            trials.append(Trial(4, done, expected, f"HTTP {status}", ok, control=allowed))
        evil = "http://evil.example.com"
        attacks = [
            ("a WebSocket from Origin evil.example.com, no token", {"Host": host, "Origin": evil}, ""),
            ("a WebSocket from Origin evil.example.com with the token", {"Host": host, "Origin": evil}, token),
            ("a WebSocket with the right Origin and Host, no token", {"Host": host, "Origin": origin}, ""),
            ("a WebSocket with a wrong token", {"Host": host, "Origin": origin}, "not-the-token"),
            (
                "a WebSocket to Host rebind.attacker.example with the token",
                {"Host": rebound, "Origin": f"http://{rebound}"},
                token,
            ),
        ]
        for done, headers, given in attacks[::2] if lab.quick else attacks:
            tab = open_tab(port, headers, given, marker)
            trials.append(
                attack(4, f"{done}, ctrl+r", "403 (or 400), 0 executions", marker, tab, tab.status in (400, 403))
            )
        tab = open_tab(port, {"Host": host, "Origin": origin}, token, marker)
        trials.append(
            control(
                4,
                "a WebSocket with the token, right Origin and Host, ctrl+r",
                "101, and ctrl+r runs the preset's target",
                marker,
                tab,
                tab.status == 101,
            )
        )
        busy = lab.run_cli(["--serve", str(preset), "--port", str(port)], base / "cwd", 40, **{SERVE_TOKEN_ENV: token})
        lines = [line for line in busy.err.splitlines() if line.strip()]
        trials.append(
            check(
                4,
                "a second --serve on the busy port",
                f"one line `error: port {port} is in use`, exit 2",
                busy,
                busy.code == 2 and len(lines) == 1 and "in use" in busy.err,
                f"{busy.brief()} ({len(lines)} lines on stderr)",
            )
        )
        return trials
    finally:
        _stop(server, base)


def _serve_socket(lab: Lab) -> list[Trial]:
    base = lab.scratch("item4-socket")
    path = base / "serve.sock"
    server = _served(lab, base, ["--socket", str(path)], lab.env, base / "serve.out")
    try:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and server.poll() is None and not path.exists():
            time.sleep(0.2)
        mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else None
        detail = _last_line((base / "serve.err").read_text(errors="replace"))
        observed = f"socket mode {mode:o}" if mode is not None else f"no socket; exit {server.poll()}: {detail}"
    finally:
        _stop(server, base)
    return [Trial(4, "--serve --socket PATH", "a Unix socket with mode 600", observed, mode == 0o600)]


# ------------------------------------------------------------------------------------ items 5-12: files that lie


def item_5(lab: Lab) -> Thunks:
    def lock(resumable: bool, dangling: bool) -> list[Trial]:
        base = lab.scratch("item5")
        run = lab.copy_run(base / "runs", resumable=resumable)
        victim = base / ("not-there" if dangling else "precious.txt")
        if not dangling:
            victim.write_text("the user's file\n")
        (run / ".lock").unlink(missing_ok=True)
        (run / ".lock").symlink_to(victim)
        outcome = lab.run_cli(["--headless", "--resume", str(run)], base / "cwd")
        if dangling:
            intact, seen = not victim.exists(), "target created" if victim.exists() else "target not created"
        else:
            intact = victim.read_text() == "the user's file\n"
            seen = "target untouched" if intact else f"target now {victim.read_text()[:20]!r}"
        kind = "dangling symlink" if dangling else "symlink to the user's file"
        done = f"--resume of a {'resumable' if resumable else 'finished'} run whose .lock is a {kind}"
        return [
            check(
                5,
                done,
                "target untouched, refused (exit 2)",
                outcome,
                intact and outcome.code == 2,
                f"{seen}; {outcome.brief()}",
            )
        ]

    cases = [(True, False), (False, False), (True, True)]
    return [partial(lock, r, d) for r, d in cases[: 1 if lab.quick else 3]]


def item_6(lab: Lab) -> Thunks:
    def record(name: str, kind: str) -> list[Trial]:
        base = lab.scratch("item6")
        run = lab.copy_run(base / "runs")
        (run / name).unlink(missing_ok=True)
        if kind == "FIFO":
            os.mkfifo(run / name)
        else:
            (run / name).symlink_to("/dev/zero")
        outcome = lab.run_cli(["--headless", "--resume", str(run)], base / "cwd", timeout=20)
        done = f"--resume with {name} a {kind}{'' if kind == 'FIFO' else ' symlink'}"
        return [
            check(
                6,
                done,
                "ends within 20 s under 2 GiB, no traceback",
                outcome,
                outcome.code is not None and not _traceback(outcome),
            )
        ]

    def console_fifo() -> list[Trial]:
        base = lab.scratch("item6-console")
        run = lab.copy_run(base / "runs")
        other = lab.copy_run(base / "runs", name="other")
        (run / "status.json").unlink()
        os.mkfifo(run / "status.json")
        result = lab.console([str(other)], base / "cwd", keys=["ctrl+l"], timeout=30)
        return [
            check(
                6,
                "console: the runs screen over a run whose status.json is a FIFO, then quit",
                "the screen opens and the console quits within 30 s",
                result,
                result.report is not None and not result.crashed,
            )
        ]

    def images(kind: str) -> list[Trial]:
        base = lab.scratch("item6-predict")
        run = lab.copy_run(base / "runs")
        photos = base / "photos"
        write_png(photos / "a.png")
        if kind == "FIFO":
            os.mkfifo(photos / "b.png")
        else:
            (photos / "b.png").symlink_to("/dev/zero")
        outcome = lab.run_cli(["--predict", str(run), str(photos)], base / "cwd", timeout=20)
        return [
            check(
                6,
                f"--predict on a folder with a {kind} b.png among the images",
                "a.png predicted, b.png an error line, within 20 s under 2 GiB",
                outcome,
                outcome.code is not None and "a.png" in outcome.out and "b.png" in outcome.err,
            )
        ]

    names = ("metrics.jsonl", "status.json", "progress.json")
    thunks: Thunks = [partial(record, n, k) for n in names for k in ("/dev/zero", "FIFO")]
    thunks += [console_fifo, partial(images, "FIFO"), partial(images, "/dev/zero")]
    return [thunks[0], thunks[3], thunks[7]] if lab.quick else thunks


def _raw(outcome: Outcome) -> str:
    found = sorted({ascii(c) for c in CONTROL_CHARS.findall(outcome.out + outcome.err)})
    return f"raw {', '.join(found)} in the output; {outcome.brief()}" if found else ""


def item_7(lab: Lab) -> Thunks:
    def predict(broken: bool) -> list[Trial]:
        base = lab.scratch("item7")
        run = lab.copy_run(base / "runs")
        image = base / "photos" / (HOSTILE_NAME + ".png")
        if broken:
            image.parent.mkdir()
            image.write_bytes(b"not an image at all")
        else:
            write_png(image)
        outcome = lab.run_cli(["--predict", str(run), str(image.parent)], base / "cwd")
        done = f"--predict on a {'damaged' if broken else 'good'} image whose name holds escape sequences"
        return [
            check(
                7,
                done,
                "no raw control characters in the CSV or the error lines",
                outcome,
                outcome.code is not None and not _raw(outcome),
                _raw(outcome),
            )
        ]

    def evaluate(in_class: bool) -> list[Trial]:
        base = lab.scratch("item7-eval")
        run = lab.copy_run(base / "runs")
        data = base / "data"
        write_png(data / "circle" / "good.png")
        if in_class:
            write_png(data / (HOSTILE_NAME + "class") / "x.png")
        else:
            (data / "square").mkdir()
            (data / "square" / (HOSTILE_NAME + ".png")).write_bytes(b"not an image at all")
        outcome = lab.run_cli(["--eval", str(run), "--data", str(data)], base / "cwd")
        done = f"--eval --data with {'a class folder' if in_class else 'a damaged image'} named with escapes"
        return [
            check(
                7,
                done,
                "no raw control characters in the output",
                outcome,
                outcome.code is not None and not _raw(outcome),
                _raw(outcome),
            )
        ]

    cases = [partial(predict, False), partial(predict, True), partial(evaluate, False), partial(evaluate, True)]
    return cases[:2] if lab.quick else cases


def _nested(depth: int = DEPTH) -> str:
    return "[" * depth + "1" + "]" * depth


DEEP_PRESET = f'name = "deep"\n[augment]\ncrop_scale = {_nested()}\n'
DIVERGED = {
    "val_loss 1e308": {"val_loss": 1e308},
    "train_loss inf": {"train_loss": float("inf")},
    "losses -1e308 and 1e308": {"train_loss": -1e308, "val_loss": 1e308},
}
"""What a diverged run writes into metrics.jsonl, on every epoch."""


def item_8(lab: Lab) -> Thunks:
    def metrics(label: str) -> list[Trial]:
        base = lab.scratch("item8-metrics")
        run = lab.copy_run(base / "runs", resumable=False)
        records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        text = "".join(json.dumps({**record, **DIVERGED[label]}) + "\n" for record in records)
        (run / "metrics.jsonl").write_text(text)
        result = lab.console([str(run)], base / "cwd", keys=["ctrl+l", "escape"], timeout=60)
        return [
            check(
                8,
                f"console opens a run whose metrics.jsonl holds {label} (charts), then its runs screen",
                "no crash",
                result,
                result.report is not None and not result.crashed,
            )
        ]

    def deep_cli(where: str) -> list[Trial]:
        base = lab.scratch("item8-deep")
        cwd = base / "cwd"
        if where == "a preset":
            (cwd / "deep.toml").write_text(DEEP_PRESET)
            args = ["--check", "deep.toml"]
        elif where == "--set":
            args = ["--check", "smoke", "--set", f"augment.crop_scale={_nested()}"]
        else:
            (cwd / "presets").mkdir()
            (cwd / "presets" / "deep.toml").write_text(DEEP_PRESET)
            args = ["--list-presets"]
        outcome = lab.run_cli(args, cwd)
        return [
            check(
                8,
                f"arrays nested {DEPTH} deep in {where}: {args[0]}",
                "a one-line error (exit 2) or the list, no traceback",
                outcome,
                outcome.code in (0, 2) and not _traceback(outcome),
            )
        ]

    def deep_console(where: str) -> list[Trial]:
        base = lab.scratch("item8-deep-console")
        cwd, env = base / "cwd", {}
        if where == "the settings file":
            settings = base / "config.toml"
            settings.write_text(f"theme = {_nested()}\n")
            env = {"TUI_TRAINER_CONFIG": str(settings)}
        else:
            (cwd / "presets").mkdir()
            (cwd / "presets" / "deep.toml").write_text(DEEP_PRESET)
        result = lab.console([], cwd, timeout=60, env=env)
        return [
            check(
                8,
                f"the console starts with arrays nested {DEPTH} deep in {where}",
                "it starts and shows the problem, no crash",
                result,
                result.report is not None and not result.crashed,
            )
        ]

    thunks: Thunks = [partial(metrics, label) for label in DIVERGED]
    thunks += [partial(deep_cli, w) for w in ("a preset", "--set", "./presets/")]
    thunks += [partial(deep_console, w) for w in ("the settings file", "./presets/")]
    return [thunks[0], thunks[3], thunks[6]] if lab.quick else thunks


def _imagefolder(root: Path, per_class: int = 8) -> None:
    for c, name in enumerate(("a", "b")):
        for i in range(per_class):
            write_png(root / "train" / name / f"{i}.png", seed=c * 100 + i)


def _folder_args(root: Path, runs: Path) -> list[str]:
    sets = [o for o in TINY if not o.startswith(("data.dataset", "data.synthetic", "data.batch_size"))]
    sets += ['data.dataset="imagefolder"', f"data.root={json.dumps(str(root))}", "data.batch_size=8"]
    return ["--headless", "smoke", "--runs-dir", str(runs), *[a for o in sets for a in ("--set", o)]]


def item_9(lab: Lab) -> Thunks:
    def zero_npy() -> list[Trial]:
        base = lab.scratch("item9")
        _imagefolder(base / "images")
        cache = {"TUI_TRAINER_CACHE": str(base / "cache")}
        first = lab.run_cli(_folder_args(base / "images", base / "runs"), base / "cwd", **cache)
        emptied = list((base / "cache").rglob("*.npy"))
        for path in emptied:
            path.write_bytes(b"")
        second = lab.run_cli(_folder_args(base / "images", base / "runs"), base / "cwd", **cache)
        done = (
            f"a start after the cache's {len(emptied)} .npy files were cut to zero bytes (first start: {first.brief()})"
        )
        return [
            check(
                9, done, "the cache is rebuilt, exit 0", second, first.code == 0 and bool(emptied) and second.code == 0
            )
        ]

    return [zero_npy]


def item_10(lab: Lab) -> Thunks:
    def unwritable(use: str) -> list[Trial]:
        base = lab.scratch("item10")
        run = lab.copy_run(base / "runs", resumable=False)
        if os.geteuid() == 0:  # root writes through permissions: a file where the folder would go
            place = run / {"--eval": "evals", "--export": "export"}[use]
            place.write_text("in the way\n")
            how = f"{place.name} is a file (as root, permissions do not stop a write)"
        else:
            os.chmod(run, 0o555)
            how = "the run folder is read-only"
        outcome = lab.run_cli([use, str(run)], base / "cwd")
        os.chmod(run, 0o755)
        return [
            check(
                10,
                f"{use} when {how}",
                "a one-line error, no traceback",
                outcome,
                outcome.code not in (0, None) and not _traceback(outcome),
            )
        ]

    def bad_out() -> list[Trial]:
        base = lab.scratch("item10-out")
        run = lab.copy_run(base / "runs", resumable=False)
        (base / "afile").write_text("a file\n")
        args = ["--export", str(run), "--format", "safetensors", "--out", str(base / "afile" / "m.safetensors")]
        outcome = lab.run_cli(args, base / "cwd")
        return [
            check(
                10,
                "--export --out under a regular file (an unwritable place)",
                "a one-line error, no traceback",
                outcome,
                outcome.code not in (0, None) and not _traceback(outcome),
            )
        ]

    def no_module(use: str, trust: bool) -> list[Trial]:
        base = lab.scratch("item10-target")
        run = lab.copy_run(base / "runs", resumable=False)
        set_target(run, "no_such_module_here:factory")
        outcome = lab.run_cli(_use_args(use, run, base) + (["--trust-code"] if trust else []), base / "cwd")
        done = f"{use}{' --trust-code' if trust else ''} on a run whose model.target cannot be imported"
        ok = outcome.code == 2 and not _traceback(outcome) and "no_such_module_here" in outcome.err
        return [check(10, done, "a one-line error naming it (exit 2), no traceback", outcome, ok)]

    thunks: Thunks = [partial(unwritable, "--eval"), partial(unwritable, "--export"), bad_out]
    thunks += [partial(no_module, u, t) for u in ("--eval", "--predict", "--export") for t in (False, True)]
    return [thunks[0], thunks[3]] if lab.quick else thunks


DECOY = """
import signal, sys, time
from pathlib import Path
signal.signal(signal.SIGINT, lambda *_: Path(sys.argv[1]).write_text("SIGINT"))
time.sleep(120)
"""
"""An unrelated process with tui-trainer in its command line; it records a SIGINT in the file argv[1]."""


@contextlib.contextmanager
def _decoyed_run(lab: Lab, where: str) -> Iterator[tuple[Path, Path]]:
    """A resumable run whose status says running, pid = a live decoy's, with no pid_started; (run, marker)."""
    base = lab.scratch(where)
    run = lab.copy_run(base / "runs")
    marker = base / "SIGINT"
    argv = [sys.executable, "-c", DECOY, str(marker), "tui-trainer", "--headless"]
    decoy = subprocess.Popen(argv, start_new_session=True)
    try:
        status = json.loads((run / "status.json").read_text())
        status.update(state="running", pid=decoy.pid, host=socket.gethostname())
        status.pop("pid_started", None)
        (run / "status.json").write_text(json.dumps(status, indent=2))
        time.sleep(0.5)  # its signal handler in place
        yield run, marker
    finally:
        decoy.kill()
        decoy.wait()


def item_11(lab: Lab) -> Thunks:
    def resume() -> list[Trial]:
        with _decoyed_run(lab, "item11") as (run, _):
            outcome = lab.run_cli(["--headless", "--resume", str(run)], run.parent.parent / "cwd")
        done = "--resume of a run whose status (no pid_started) names an unrelated live process"
        return [check(11, done, "the folder lock is free: it resumes, exit 0", outcome, outcome.code == 0)]

    def stop() -> list[Trial]:
        with _decoyed_run(lab, "item11-console") as (run, marker):
            keys = ["ctrl+l", "x"]
            result = lab.console([str(run)], run.parent.parent / "cwd", keys=keys, markers=[marker], confirm=True)
            time.sleep(0.5)
            hit = marker.exists()
        done = "console x on that run (the decoy has tui-trainer in its command line)"
        observed = f"{'the decoy got SIGINT, ' if hit else ''}{result.brief()}"
        return [check(11, done, "no signal to the decoy", result, not hit and result.report is not None, observed)]

    return [resume] if lab.quick else [resume, stop]


def item_12(lab: Lab) -> Thunks:
    def train() -> list[Trial]:
        base = lab.scratch("item12")
        _imagefolder(base / "images")
        (base / "images" / "train" / "a" / "notes.pdf").write_bytes(b"%PDF-1.4\n%notes of the lab\n")
        outcome = lab.run_cli(_folder_args(base / "images", base / "runs"), base / "cwd")
        return [
            check(
                12,
                "--headless on an image folder with notes.pdf in a class folder",
                "notes.pdf is not an image: the run finishes, exit 0",
                outcome,
                outcome.code == 0,
            )
        ]

    def predict() -> list[Trial]:
        base = lab.scratch("item12-predict")
        run = lab.copy_run(base / "runs", resumable=False)
        write_png(base / "photos" / "a.png")
        (base / "photos" / "notes.pdf").write_bytes(b"%PDF-1.4\n%notes\n")
        outcome = lab.run_cli(["--predict", str(run), str(base / "photos")], base / "cwd")
        # --predict names every file it could not classify (exit 1); a PDF is one it skips as not an image,
        # not one it tried to decode.
        reported = "notes.pdf: not an image file (skipped)" in outcome.err
        ok = outcome.code == 1 and "a.png" in outcome.out and "notes.pdf" not in outcome.out and reported
        return [
            check(
                12,
                "--predict on a folder with a.png and notes.pdf",
                "a.png predicted, notes.pdf named as not an image (not decoded), exit 1",
                outcome,
                ok,
            )
        ]

    return [train] if lab.quick else [train, predict]


ITEMS: dict[int, Callable[[Lab], list[Callable[[], list[Trial]]]]] = {
    1: item_1,
    2: item_2,
    3: item_3,
    4: item_4,
    5: item_5,
    6: item_6,
    7: item_7,
    8: item_8,
    9: item_9,
    10: item_10,
    11: item_11,
    12: item_12,
}
TITLES = {
    1: "a run folder's model.target",
    2: "implicit import paths",
    3: "a received sweep folder",
    4: "--serve: token, Host, Origin",
    5: "symlinked .lock",
    6: "/dev/zero and FIFOs",
    7: "escape sequences in names",
    8: "inf metrics, nesting 500 deep",
    9: "zero-byte cache .npy",
    10: "unwritable places, bad target",
    11: "pid reuse without pid_started",
    12: "notes.pdf among images",
}


# ------------------------------------------------------------------------------------ running and reporting


def _guarded(item: int, thunk: Callable[[], list[Trial]]) -> list[Trial]:
    """A trial whose own set-up broke is a failed trial with the reason, not the end of the loop."""
    started = time.monotonic()
    try:
        return thunk()
    except Exception as exc:  # noqa: BLE001 - the figure is what broke
        return [
            Trial(
                item,
                "a trial",
                "runs",
                f"the trial broke: {type(exc).__name__}: {exc}"[:200],
                False,
                seconds=time.monotonic() - started,
            )
        ]


def summarise(trials: Sequence[Trial]) -> dict[str, dict]:
    table: dict[str, dict] = {}
    for trial in trials:
        row = table.setdefault(
            str(trial.item), {"trials": 0, "failures": 0, "executions": 0, "controls": 0, "controls_ran": 0}
        )
        if trial.control:
            row["controls"] += 1
            row["controls_ran"] += int(trial.passed)
        else:
            row["trials"] += 1
            row["failures"] += int(not trial.passed)
            row["executions"] += trial.executions
    return table


def print_report(trials: Sequence[Trial], items: Sequence[int]) -> None:
    for item in items:
        mine = [t for t in trials if t.item == item]
        print(f"\n## item {item}: {TITLES[item]}")
        for t in mine:
            mark = ("ok  " if t.passed else "FAIL") if not t.control else ("ran " if t.passed else "NOT ")
            print(f"  {mark} {t.done}\n         expected: {t.expected}\n         observed: {t.observed}")
    table = summarise(trials)
    print(f"\n{'item':<5} {'what':<31} {'trials':>6} {'failures':>8} {'executions':>10} {'controls ran':>12}")
    for item in items:
        row = table.get(str(item), {"trials": 0, "failures": 0, "executions": 0, "controls": 0, "controls_ran": 0})
        controls = f"{row['controls_ran']}/{row['controls']}" if row["controls"] else "-"
        print(
            f"{item:<5} {TITLES[item]:<31} {row['trials']:>6} {row['failures']:>8} {row['executions']:>10} "
            f"{controls:>12}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", metavar="ITEMS", help="comma-separated item numbers (default: 1-12)")
    parser.add_argument("--quick", action="store_true", help="a few trials per item")
    parser.add_argument("--strict", action="store_true", help="exit 1 when any trial fails")
    parser.add_argument("--jobs", type=int, default=2, metavar="N", help="trials at once (default 2)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder and print its path")
    args = parser.parse_args(argv)
    try:
        items = sorted({int(x) for x in args.only.split(",")}) if args.only else list(ITEMS)
    except ValueError:
        parser.error("--only takes item numbers, e.g. --only 1,4,7")
    if not set(items) <= set(ITEMS):
        parser.error(f"--only: items are 1 to {len(ITEMS)}")

    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="hostile-"))
    try:
        lab = Lab(root, args.quick)
        lab.make_base_run()
        if 3 in items:
            try:
                make_base_sweep(lab)
            except RuntimeError as exc:
                print(f"item 3 skipped: {exc}", file=sys.stderr)
                items.remove(3)
        jobs = [(item, thunk) for item in items for thunk in ITEMS[item](lab)]
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            results = list(pool.map(lambda job: _guarded(*job), jobs))
        trials = [trial for result in results for trial in result]
    finally:
        _kill_strays(root)
        if args.keep:
            print(f"kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    print_report(trials, items)
    table = summarise(trials)
    failures = sum(row["failures"] for row in table.values())
    summary = {
        "items": table,
        "trials": sum(row["trials"] for row in table.values()),
        "failures": failures,
        "executions": sum(row["executions"] for row in table.values()),
        "controls_not_run": sum(row["controls"] - row["controls_ran"] for row in table.values()),
        "seconds": round(time.monotonic() - started, 1),
        "quick": args.quick,
        "failed": [asdict(t) for t in trials if not t.passed and not t.control][:40],
    }
    print(json.dumps(summary))
    return 1 if args.strict and (failures or summary["controls_not_run"]) else 0


if __name__ == "__main__":
    sys.exit(main())
