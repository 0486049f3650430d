"""The run folder: where a run's preset, status, metrics, checkpoints and predictions live.

Writers replace whole files atomically; `metrics.jsonl` is appended one flushed line at a time.
Readers never trust a file to be complete: a run may be writing it right now, or may have been
killed halfway, so a truncated last line or a missing file is expected, not an error.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_write_text, atomic_write_with

FORMAT = 1
STATES = ("running", "finished", "failed", "interrupted", "pruned")  # pruned: a sweep stopped it early


class RunFolderError(ValueError):
    """A folder that is not a readable run (missing, half-written, or from a newer format)."""


def now_iso() -> str:
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name).strip("-") or "run"


@dataclass(frozen=True)
class RunFolder:
    path: Path

    # --------------------------------------------------------------- file names
    @property
    def preset_file(self) -> Path:
        return self.path / "preset.toml"

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
        return self.path / "val_images.npy"

    @property
    def log_file(self) -> Path:
        return self.path / "log.txt"

    @property
    def progress_file(self) -> Path:
        return self.path / "progress.json"

    def predictions_file(self, which: str) -> Path:
        if which not in ("last", "best"):
            raise ValueError(f"predictions are kept for 'last' and 'best', not {which!r}")
        return self.path / f"predictions-{which}.npz"

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

    # --------------------------------------------------------------- writing
    def write_preset(self, text: str) -> None:
        atomic_write_text(self.preset_file, text)

    def write_status(self, **fields: Any) -> dict[str, Any]:
        """Merge `fields` into status.json and write it atomically; returns the new status."""
        try:
            status = self.read_status()
        except RunFolderError:
            status = {}
        status.update(fields)
        status["format"] = FORMAT
        status.setdefault("pid", os.getpid())
        status.setdefault("host", socket.gethostname())
        atomic_write_text(self.status_file, json.dumps(status, indent=2, sort_keys=True) + "\n")
        return status

    def append_metrics(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, separators=(",", ":")) + "\n"
        with open(self.metrics_file, "a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())

    def rewrite_metrics(self, records: list[dict[str, Any]]) -> None:
        """Replace metrics.jsonl (on resume, with the history the checkpoint holds)."""
        atomic_write_text(self.metrics_file, "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records))

    def write_predictions(
        self, which: str, epoch: int, arrays: dict[str, np.ndarray], classes: tuple[str, ...]
    ) -> None:
        payload = {**arrays, "classes": np.array(classes, dtype=str), "epoch": np.array(epoch)}
        atomic_write_with(self.predictions_file(which), lambda handle: np.savez(handle, **payload))

    def write_progress(self, record: dict[str, Any]) -> None:
        """Replace progress.json (the latest batch of the epoch in flight) atomically."""
        atomic_write_text(self.progress_file, json.dumps({"format": FORMAT, **record}, separators=(",", ":")) + "\n")

    def clear_progress(self) -> None:
        """Drop the progress of an earlier process (a resumed run starts its epoch over)."""
        self.progress_file.unlink(missing_ok=True)

    def write_val_images(self, images_nhwc: np.ndarray) -> None:
        atomic_write_with(self.val_images_file, lambda handle: np.save(handle, images_nhwc, allow_pickle=False))

    # --------------------------------------------------------------- reading
    def read_status(self) -> dict[str, Any]:
        try:
            status = json.loads(self.status_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RunFolderError(f"{self.path}: no status.json (not a run folder, or not started yet)") from None
        except (OSError, ValueError) as exc:
            raise RunFolderError(f"{self.status_file}: unreadable ({exc})") from None
        if not isinstance(status, dict):
            raise RunFolderError(f"{self.status_file}: not a JSON object")
        if int(status.get("format", 0)) > FORMAT:
            raise RunFolderError(
                f"{self.path}: written by a newer tui-trainer (format {status.get('format')}); upgrade to read it"
            )
        return status

    def read_metrics(self) -> list[dict[str, Any]]:
        """Every complete epoch record; a torn last line (a run being written) is skipped."""
        try:
            text = self.metrics_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        records = []
        for line in text.splitlines(keepends=True):
            if not line.endswith("\n"):
                break  # still being written
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and "epoch" in record:
                records.append(record)
        return records

    def read_predictions(self, which: str = "last") -> dict[str, Any] | None:
        path = self.predictions_file(which)
        if not path.exists():
            return None
        with np.load(path, allow_pickle=False) as data:
            out: dict[str, Any] = {key: data[key] for key in data.files}
        out["classes"] = tuple(str(c) for c in out["classes"])
        out["epoch"] = int(out["epoch"])
        return out

    def read_progress(self) -> dict[str, Any] | None:
        """The latest batch progress, or None when there is none (yet) or it cannot be read."""
        try:
            record = json.loads(self.progress_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        fmt = record.get("format", 0) if isinstance(record, dict) else None
        if not isinstance(fmt, int) or fmt > FORMAT:
            return None
        return record

    def read_val_images(self) -> np.ndarray | None:
        try:
            return np.load(self.val_images_file, allow_pickle=False)
        except (FileNotFoundError, ValueError):
            return None


def pid_alive(pid: int | None, host: str | None = None) -> bool:
    """Whether the process that wrote a status is still running (only knowable on its host)."""
    if not pid or (host and host != socket.gethostname()):
        return host is not None and host != socket.gethostname()  # other host: assume alive
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def effective_state(status: dict[str, Any]) -> str:
    """The status's state, except that a "running" run whose process is gone was interrupted."""
    state = str(status.get("state", "unknown"))
    if state == "running" and not pid_alive(status.get("pid"), status.get("host")):
        return "interrupted"
    return state
