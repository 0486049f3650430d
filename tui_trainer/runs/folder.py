"""The run folder: where a run's preset, status, metrics, checkpoints and predictions live.

Writers replace whole files atomically; `metrics.jsonl` is appended one flushed line at a time.
Readers never trust a file to be complete: a run may be writing it right now, or may have been
killed halfway, so a truncated last line or a missing file is expected, not an error. Nor do they
trust it to be a file: every record is read through `regular_file` (no links, no FIFOs or devices,
at most MAX_RECORD_BYTES), and one that is not a regular file of that size is damage.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import socket
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import DiskFullError, append_line, atomic_write_text
from ..config import Preset, load_preset
from ..config.code_trust import TARGET_RULE, TargetAccess, module_problem, untrusted_target_message
from ..process import process_alive
from ..regular_file import UnsafeFile, open_fd, read_bytes
from ..text import printable
from .predictions_file import load_checked_arrays, write_predictions_file
from .records import (
    FORMAT,
    PAUSED_SINCE,
    DamagedRecord,
    EpochRecord,
    RunFolderError,
    RunStatus,
    as_run_status,
    parse_metrics_line,
    parse_progress,
    parse_status,
)
from .state import RunState, advance
from .thumbnails import open_thumbnails, thumbnails_file, write_thumbnails
from .timing import hold_ended

STATES = tuple(state.value for state in RunState)
GONE = "stopped (process gone)"
"""How a run whose status says running, but whose process has ended (kill -9, a crash), is shown."""
PRESET_KEYS_ADDED = {"data.resize": '"squash"'}
"""Keys a run's preset.toml lacks when the run is older than them -> what the run did without them."""
STATUS_KEPT_WHEN_FULL = ("format", "state", "pid", "pid_started", "host", "error", "ended_at", "epochs_done")
"""The status.json keys a failure written over the old status on a full disk keeps (others go if they must)."""
TRAIN_OOF_NAME = "predictions-train-oof.npz"
"""The training set's out-of-fold predictions, in a run folder or the folder `review --out` names."""
STALE_TEMP_SECONDS = 60.0
"""A temporary file of an atomic write older than this, in a folder this process holds, is a leftover."""


def now_iso(precise: bool = False) -> str:
    """Now, in this machine's zone, to the second; `precise`: to the millisecond, as status.json's times
    of a run's start, resume, pause and end are written, so a short run's training time reads true."""
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="milliseconds" if precise else "seconds")


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name).strip("-") or "run"


@dataclass(frozen=True)
class RunFolder:
    path: Path

    # --------------------------------------------------------------- file names
    @property
    def preset_file(self) -> Path:
        return self.path / "preset.toml"

    def read_preset(self, overrides: Sequence[str] = ()) -> Preset:
        """The run's resolved preset; a key added since the run was made reads as what the run did.
        `overrides`: `--set` changes on top (a fork of this run)."""
        return load_preset(self.preset_file, overrides, when_absent=PRESET_KEYS_ADDED, follow_links=False)

    def read_preset_to_build(self, code: TargetAccess | None, overrides: Sequence[str] = ()) -> Preset:
        """`read_preset` for building its model: refused (RunFolderError) when its `model.target` would
        import code and the user has not trusted it (`code` None: no --trust-code, no yes in the console),
        or names a module no target may come from (checked here too, so nothing is locked or written)."""
        preset = self.read_preset(overrides)
        target = preset.model.target
        if target and code is None:
            raise RunFolderError(untrusted_target_message(self.preset_file, target))
        problem = module_problem(target.partition(":")[0]) if target else None
        if problem:
            raise RunFolderError(f"{printable(self.preset_file)}: model.target = {target!r}: {problem}; {TARGET_RULE}")
        return preset

    @property
    def status_file(self) -> Path:
        return self.path / "status.json"

    @property
    def metrics_file(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def last_checkpoint(self) -> Path:
        return self.path / "last.pt"

    @property
    def best_checkpoint(self) -> Path:
        return self.path / "best.pt"

    @property
    def val_images_file(self) -> Path:
        return thumbnails_file(self.path)

    @property
    def val_paths_file(self) -> Path:
        return self.path / "val_paths.json"

    @property
    def log_file(self) -> Path:
        return self.path / "log.txt"

    @property
    def progress_file(self) -> Path:
        return self.path / "progress.json"

    @property
    def bad_images_file(self) -> Path:
        return self.path / "bad_images.txt"

    @property
    def review_file(self) -> Path:
        """Label review decisions, where the data folder cannot be written (`runs/review_session.py`)."""
        return self.path / "review.toml"

    @property
    def command_file(self) -> Path:
        return self.path / "command.txt"

    @property
    def jobs_file(self) -> Path:
        """Under SLURM: one line per job start and end (`runs/slurm.py`)."""
        return self.path / "jobs.jsonl"

    @property
    def submit_script_file(self) -> Path:
        """The sbatch script `tui-trainer submit` wrote for this run (`runs/slurm_submit.py`)."""
        return self.path / "submit.sbatch"

    def predictions_file(self, which: str) -> Path:
        if which not in ("last", "best"):
            raise ValueError(f"predictions are kept for 'last' and 'best', not {which!r}")
        return self.path / f"predictions-{which}.npz"

    @property
    def train_oof_file(self) -> Path:
        """Out-of-fold predictions of the training set (`tui-trainer review RUN --train`, `runs/out_of_fold.py`)."""
        return self.path / TRAIN_OOF_NAME

    # --------------------------------------------------------------- creating
    @classmethod
    def create(cls, runs_dir: Path, preset_name: str) -> RunFolder:
        """A new, empty folder `<runs_dir>/<YYYYmmdd-HHMMSS>-<name>` (suffixed if taken)."""
        runs_dir.mkdir(parents=True, exist_ok=True)
        stem = f"{time.strftime('%Y%m%d-%H%M%S')}-{_slug(preset_name)}"
        for attempt in range(1, 1000):
            path = runs_dir / (stem if attempt == 1 else f"{stem}-{attempt}")
            try:
                path.mkdir()
            except FileExistsError:
                continue
            return cls(path)
        raise RunFolderError(f"{runs_dir}: could not create a run folder named {stem}")

    @classmethod
    def create_at(cls, path: Path) -> RunFolder:
        """The folder `path` for a new run (`--run-dir`): made if absent; an earlier start's files are replaced."""
        path.mkdir(parents=True, exist_ok=True)
        return cls(path)

    # --------------------------------------------------------------- writing
    def write_preset(self, text: str) -> None:
        atomic_write_text(self.preset_file, text)

    def write_status(self, **fields: Any) -> dict[str, Any]:
        """Merge `fields` into status.json and write it atomically; returns the new status. A new state
        ends a pause: the loop that held is ending, or another process has taken the run over."""
        return self._update_status(fields, forget=(PAUSED_SINCE,) if "state" in fields else ())

    def _update_status(self, fields: Mapping[str, Any], forget: Iterable[str] = ()) -> dict[str, Any]:
        try:
            status = self.read_status()
        except RunFolderError:
            status = {}
        if PAUSED_SINCE in forget:  # a hold that ends: its time joins paused_seconds (unless `fields` set them)
            status.update(hold_ended(status, datetime.now(timezone.utc)))
        status.update(fields)
        for key in forget:
            status.pop(key, None)
        status["format"] = FORMAT
        status.setdefault("pid", os.getpid())
        status.setdefault("host", socket.gethostname())
        if status.get("pid") != os.getpid():  # a start time belongs to one pid only
            status.pop("pid_started", None)
        atomic_write_text(self.status_file, json.dumps(status, indent=2, sort_keys=True) + "\n")
        return status

    def change_state(self, state: RunState | str, **fields: Any) -> dict[str, Any]:
        """Move the run to `state` and merge `fields` into status.json: the one way tui-trainer changes
        a run's state (IllegalTransition, from `runs.state.advance`, for a change no run makes)."""
        return self.write_status(state=self._next_state(state).value, **fields)

    def _next_state(self, state: RunState | str) -> RunState:
        try:
            current = self.read_status().get("state")
        except RunFolderError:
            current = None
        # A failure is recorded even where the old status cannot be read (a damaged or missing file).
        return advance(current, state) if current is not None or state != RunState.FAILED else RunState.FAILED

    def record_pause(self, since: datetime | None) -> None:
        """Say in status.json that the run's loop holds between batches since `since`, or (None) no longer."""
        if since is None:
            self._update_status({}, forget=(PAUSED_SINCE,))
        else:
            self._update_status({PAUSED_SINCE: since.astimezone().isoformat(timespec="milliseconds")})

    def record_abort(self) -> None:
        """A second ctrl+c ended the process: a run still marked running must not keep saying so (the
        last epoch's last.pt stays, so it can be resumed); one that has already ended keeps its end."""
        with contextlib.suppress(RunFolderError):
            if self.read_status().get("state") == RunState.RUNNING:
                self.change_state(RunState.INTERRUPTED, ended_at=now_iso(precise=True))

    def record_crash(self, error: str, details: str) -> Path:
        """A crash's traceback, appended to log.txt (where a detached run's output goes); returns the log."""
        append_line(self.log_file, f"{now_iso()} the run failed: {error}\n{details.rstrip()}\n")
        return self.log_file

    def write_failure(self, **fields: Any) -> None:
        """Record that the run failed. On a full disk, where even a small new file cannot be made,
        the status is written over the old one's own bytes (fields that do not fit are left out),
        so a failed run never stays "running"; DiskFullError when not even that fits."""
        fields["state"] = self._next_state(RunState.FAILED).value
        try:
            self.write_status(**fields)
        except DiskFullError:
            self._overwrite_status(fields)

    def _overwrite_status(self, fields: dict[str, Any]) -> None:
        try:
            status = self.read_status()
        except RunFolderError:
            status = {}
        status.update(fields, format=FORMAT)
        status.pop(PAUSED_SINCE, None)  # a failure ends a pause
        fd = open_fd(self.status_file, flags=os.O_WRONLY)
        try:
            room = os.fstat(fd).st_size
            optional = [key for key in status if key not in STATUS_KEPT_WHEN_FULL]
            text = json.dumps(status, separators=(",", ":")).encode()
            while len(text) > room and optional:
                status.pop(optional.pop())
                text = json.dumps(status, separators=(",", ":")).encode()
            error = status.get("error")
            if len(text) > room and isinstance(error, str):  # a long path in the message: keep its start
                status["error"] = error[: max(0, len(error) - (len(text) - room) - 3)] + "..."
                text = json.dumps(status, separators=(",", ":")).encode()
            if len(text) > room:
                raise DiskFullError(self.status_file)
            os.pwrite(fd, text.ljust(room), 0)  # JSON allows the trailing spaces: no new block is needed
            os.fsync(fd)
        finally:
            os.close(fd)

    def append_metrics(self, record: dict[str, Any]) -> None:
        append_line(self.metrics_file, json.dumps(record, separators=(",", ":")) + "\n")

    def write_submit_script(self, text: str) -> None:
        atomic_write_text(self.submit_script_file, text)

    def append_job(self, record: dict[str, Any]) -> None:
        append_line(self.jobs_file, json.dumps(record, separators=(",", ":")) + "\n")

    def rewrite_metrics(self, records: list[dict[str, Any]]) -> None:
        """Replace metrics.jsonl (on resume, with the history the checkpoint holds)."""
        atomic_write_text(self.metrics_file, "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records))

    def write_predictions(
        self, which: str, epoch: int, arrays: dict[str, np.ndarray], classes: tuple[str, ...]
    ) -> None:
        write_predictions_file(self.predictions_file(which), arrays, classes, epoch=epoch)

    def write_progress(self, record: dict[str, Any]) -> None:
        """Replace progress.json (the latest batch of the epoch in flight) atomically."""
        atomic_write_text(self.progress_file, json.dumps({"format": FORMAT, **record}, separators=(",", ":")) + "\n")

    def clear_progress(self) -> None:
        """Drop the progress of an earlier process (a resumed run starts its epoch over)."""
        self.progress_file.unlink(missing_ok=True)

    def remove_stale_temporaries(self, older_than: float = STALE_TEMP_SECONDS) -> list[Path]:
        """Delete the temporary files of atomic writes a killed process left (`.status.json.*.tmp`, ...).

        Call it only while holding the folder's lock: then no other process is writing here, and
        the age limit spares a file this process may be writing in another thread right now.
        """
        removed = []
        cutoff = time.time() - older_than
        with contextlib.suppress(OSError):
            for entry in os.scandir(self.path):
                if not (entry.name.startswith(".") and entry.name.endswith(".tmp")):
                    continue
                with contextlib.suppress(OSError):
                    if entry.is_file(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_mtime < cutoff:
                        os.unlink(entry.path)
                        removed.append(Path(entry.path))
        return removed

    def write_bad_images(self, text: str) -> None:
        """The image files a `data.bad_images = "skip"` run left out, one `path<TAB>reason` line each."""
        atomic_write_text(self.bad_images_file, text)

    def write_command(self, args: Sequence[str]) -> None:
        """The command line that runs this run again (a detached start records it), shell-quoted."""
        atomic_write_text(self.command_file, shlex.join(args) + "\n")

    def write_val_images(self, shape: tuple[int, ...], chunks: Iterable[np.ndarray]) -> None:
        """The validation thumbnails (uint8 N×H×W×C), written from chunks so a large set is never whole in memory."""
        write_thumbnails(self.val_images_file, shape, chunks)

    def write_val_paths(self, paths: tuple[str, ...] | list[str]) -> None:
        """The source file of each validation image, in order; a set with no files (synthetic) removes it.

        Written at every start, so a resumed run never shows the file names of an earlier data folder.
        """
        if not paths:
            self.val_paths_file.unlink(missing_ok=True)
            return
        atomic_write_text(self.val_paths_file, json.dumps({"format": FORMAT, "paths": list(paths)}) + "\n")

    # --------------------------------------------------------------- reading
    def read_status(self) -> dict[str, Any]:
        """status.json, checked by `records.parse_status` (a damaged one raises DamagedRecord)."""
        try:
            data = read_bytes(self.status_file)
        except FileNotFoundError:
            raise RunFolderError(f"{self.path}: no status.json (not a run folder, or not started yet)") from None
        except UnsafeFile as exc:
            raise DamagedRecord(self.status_file, exc.problem) from None
        except OSError as exc:
            raise RunFolderError(f"{self.status_file}: unreadable ({exc})") from None
        return parse_status(data, self.status_file)

    def read_run_status(self) -> RunStatus:
        """status.json as a typed record (raises like `read_status`)."""
        return RunStatus.from_record(self.read_status())

    def read_metrics(self) -> list[dict[str, Any]]:
        """Every complete epoch record, checked; a torn last line (a run being written) is skipped.

        A complete line that is not an epoch record raises DamagedRecord with its line number:
        lines are appended whole, so only damage makes one.
        """
        try:
            data = read_bytes(self.metrics_file)
        except FileNotFoundError:
            return []
        except UnsafeFile as exc:
            raise DamagedRecord(self.metrics_file, exc.problem) from None
        except OSError as exc:
            raise RunFolderError(f"{self.metrics_file}: unreadable ({exc})") from None
        records = []
        for number, line in enumerate(data.splitlines(keepends=True), start=1):
            if not line.endswith(b"\n"):
                break  # still being written
            if line.strip():
                records.append(parse_metrics_line(line, self.metrics_file, number))
        return records

    def read_epochs(self) -> list[EpochRecord]:
        """Every complete epoch record as a typed record (raises like `read_metrics`)."""
        return [EpochRecord.from_record(record, i) for i, record in enumerate(self.read_metrics())]

    def read_jobs(self) -> list[dict[str, Any]]:
        """The SLURM jobs the run went through, oldest first; a line that is not a job record is skipped."""
        try:
            lines = self.jobs_file.read_text(encoding="utf-8").splitlines(keepends=True)
        except (OSError, ValueError):
            return []
        records = []
        for line in lines:
            with contextlib.suppress(ValueError):
                record = json.loads(line) if line.endswith("\n") else None
                if isinstance(record, dict) and isinstance(record.get("job_id"), str):
                    records.append(record)
        return records

    def read_predictions(self, which: str = "last") -> dict[str, Any] | None:
        """The arrays of `predictions-<which>.npz`, checked as the console's screens read them (None
        before the first finished epoch); ValueError when they do not fit together."""
        path = self.predictions_file(which)
        return load_checked_arrays(path) if path.exists() else None

    def read_progress(self) -> dict[str, Any] | None:
        """The latest batch progress; None when there is none (yet), it is not JSON or from a newer format.

        A JSON record of the wrong shape, or a file that is no record at all (a FIFO, a link, too large),
        raises DamagedRecord.
        """
        try:
            data = read_bytes(self.progress_file)
        except UnsafeFile as exc:
            raise DamagedRecord(self.progress_file, exc.problem) from None
        except OSError:
            return None
        try:
            return parse_progress(data, self.progress_file)
        except DamagedRecord as exc:
            if exc.problem.startswith("unreadable"):
                return None
            raise
        except RunFolderError:
            return None  # newer format

    def read_val_paths(self) -> tuple[str, ...] | None:
        """The validation images' source files; None when there are none (synthetic, older runs) or it is damaged."""
        try:
            record = json.loads(read_bytes(self.val_paths_file).decode("utf-8"))
        except (OSError, ValueError):
            return None
        paths = record.get("paths") if isinstance(record, dict) else None
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            return None
        return tuple(paths)

    def read_command(self) -> str | None:
        """The recorded command line, or None when the run was not started detached (or it is unreadable)."""
        try:
            return read_bytes(self.command_file).decode("utf-8").strip() or None
        except (OSError, ValueError):
            return None

    def read_val_images(self) -> np.ndarray | None:
        try:
            return open_thumbnails(self.val_images_file, mmap=False)
        except (FileNotFoundError, ValueError):
            return None


def is_run_folder(path: Path) -> bool:
    """Whether `path` is a run folder (it has a status), as opposed to a preset, a sweep or an evaluation."""
    return RunFolder(Path(path)).status_file.is_file()


def pid_alive(pid: Any, host: Any = None, started: Any = None) -> bool:
    """Whether the process that wrote a status is still running (only knowable on its host).

    `started` is the process start time status.json records beside the pid: a pid now held by
    another process (the kernel reuses them) does not count as the run's.
    """
    if host and host != socket.gethostname():
        return True  # other host: assume alive
    return process_alive(pid, host, started)


def status_alive(status: RunStatus | Mapping[str, Any]) -> bool:
    """Whether the process a status names (pid, start time, host) is still running."""
    status = as_run_status(status)
    return pid_alive(status.pid, status.host or None, status.pid_started)


def effective_state(status: RunStatus | Mapping[str, Any]) -> str:
    """The status's state, except that a "running" run whose process is gone was interrupted."""
    status = as_run_status(status)
    if status.state == RunState.RUNNING and not status_alive(status):
        return RunState.INTERRUPTED
    return status.state


def state_label(status: RunStatus | Mapping[str, Any]) -> str:
    """The state in words for a list or a message: a killed run reads "stopped (process gone)"."""
    status = as_run_status(status)
    if status.state == RunState.RUNNING and not status_alive(status):
        return GONE
    return status.state
