"""The one reader of run-folder records: status.json, each metrics.jsonl line, progress.json.

Files are written by tui-trainer, but a folder may have been edited by hand, copied half-way or
written by a buggy version, and a record that parses as JSON can still hold the wrong shapes (a
list where an object belongs, an epoch count as a string, a number too large for any widget).
Every record is checked here, once, against what the writer writes; a record that does not fit
raises `DamagedRecord`, which names the file, the line (for metrics.jsonl), the key and what was
expected. Everything downstream can then trust the types: a front end shows the message and stays
up, `--resume` refuses the folder.

Keys this version does not know are kept untouched (a newer writer may add some).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config.choices import BEST_METRICS

FORMAT = 1
MAX_COUNT = 10**9
"""The largest epoch, batch or class count a record may hold (beyond it: damage, not a real run)."""
MAX_PID = 2**31


class RunFolderError(ValueError):
    """A folder that is not a readable run (missing, half-written, or from a newer format)."""


class DamagedRecord(RunFolderError):
    """A record of a run folder that parses but does not hold what tui-trainer writes there."""

    def __init__(self, file: Path, problem: str, line: int | None = None) -> None:
        self.file = Path(file)
        self.line = line
        self.problem = problem
        where = f"{file}:{line}" if line is not None else str(file)
        super().__init__(f"{where}: damaged: {problem}")


Check = Callable[[Any], str | None]
"""Returns None when a value fits, else what was expected, in words."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def whole(low: int = 0, high: int = MAX_COUNT) -> Check:
    def check(value: Any) -> str | None:
        return None if _is_int(value) and low <= value <= high else f"a whole number from {low} to {high}"

    return check


MAX_INT_NUMBER = 2**53
"""An integer beyond this is no metric (and overflows a float in the widgets that format it)."""


def number(value: Any) -> str | None:
    """Any float (NaN and infinities included: a diverged metric is still a metric) or a float-sized int."""
    if isinstance(value, float) or (_is_int(value) and abs(value) <= MAX_INT_NUMBER):
        return None
    return "a number" if not _is_int(value) else f"a number of at most {MAX_INT_NUMBER} in size"


def finite(value: Any) -> str | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return None if ok else "a finite number"


def text(value: Any) -> str | None:
    return None if isinstance(value, str) else "a string"


def optional(check: Check) -> Check:
    def inner(value: Any) -> str | None:
        expected = None if value is None else check(value)
        return None if expected is None else f"{expected} or null"

    return inner


def list_of(check: Check, what: str) -> Check:
    def inner(value: Any) -> str | None:
        if isinstance(value, list) and len(value) <= MAX_COUNT and all(check(v) is None for v in value):
            return None
        return f"a list of {what}"

    return inner


PAUSED_SINCE = "paused_since"
"""The status.json key of a run's pause: written as its loop starts to hold, removed as it goes on or ends."""
PAUSED_SECONDS = "paused_seconds"
"""The status.json key of the time this process's loop was held, added as each hold ends (runs.timing)."""

STATUS_FIELDS: dict[str, Check] = {
    "format": whole(0, 1000),
    "state": text,
    "pid": optional(whole(0, MAX_PID)),
    "pid_started": optional(finite),
    "host": optional(text),
    "started_at": optional(text),
    "resumed_at": optional(text),  # set by a resume; started_at stays the first start
    "earlier_seconds": optional(finite),  # training time of the processes before the resume
    "ended_at": optional(text),
    "updated_at": optional(text),
    "preset_name": optional(text),
    "epochs_planned": optional(whole()),
    "epochs_done": optional(whole()),
    "best_val_acc": optional(number),
    "best_epoch": optional(whole()),
    "error": optional(text),
    "hint": optional(text),
    "device": optional(text),
    "precision": optional(text),
    "classes": optional(list_of(text, "class names")),
    "sweep": optional(text),  # a sweep's trial: its sweep's name, trial number and folder
    "trial": optional(whole()),
    "sweep_dir": optional(text),
    "slurm_job_id": optional(text),  # under SLURM: the latest job (recorded at submit, before it starts)
    PAUSED_SINCE: optional(text),  # a running run held between batches since then (absent: not paused)
    PAUSED_SECONDS: optional(finite),  # this process's ended holds, in seconds (not training time)
}
STATUS_REQUIRED = ("state",)

METRICS_FIELDS: dict[str, Check] = {
    "epoch": whole(1),
    "train_loss": number,
    "train_acc": number,
    "val_loss": number,
    "val_acc": number,
    "lr": number,
    "epoch_seconds": number,
    "train_images_per_second": number,
    "per_class_acc": list_of(number, "numbers"),
    "macro_f1": number,
    "balanced_acc": number,
    "val_ece": optional(number),  # expected calibration error, 15 bins (engine.calibration)
    "val_roc_auc": optional(number),  # macro one-vs-rest ROC AUC; null when no class has a curve
    "val_average_precision": optional(number),
    "best_metric": text,
    "skipped_steps": whole(0, MAX_INT_NUMBER),
}
METRICS_REQUIRED = ("epoch",)

PROGRESS_FIELDS: dict[str, Check] = {
    "format": whole(0, 1000),
    "epoch": whole(),
    "batch": whole(),
    "batches": whole(),
    "loss": number,
    "accuracy": number,
    "images_per_second": number,
    "lr": number,
    "seconds": number,
    "updated_at": text,
    # Health (engine.health.Health): step timing, gradient norm, machine figures; null where unknown.
    "data_seconds": number,
    "step_seconds": number,
    "grad_norm": optional(number),
    "cpu_percent": optional(number),
    "rss_bytes": optional(whole(0, MAX_INT_NUMBER)),
    "device_memory_used": optional(whole(0, MAX_INT_NUMBER)),
    "device_memory_total": optional(whole(0, MAX_INT_NUMBER)),
    "gpu_utilization": optional(number),
    "gpu_temperature": optional(number),
    "loss_scale": optional(number),
    "skipped_steps": optional(whole(0, MAX_INT_NUMBER)),
}
PROGRESS_REQUIRED = ("epoch", "batch", "batches")


def _short(value: Any) -> str:
    shown = json.dumps(value) if not isinstance(value, float) or math.isfinite(value) else str(value)
    return shown if len(shown) <= 40 else shown[:37] + "..."


def check_record(
    record: Any,
    fields: dict[str, Check],
    required: tuple[str, ...],
    file: Path,
    line: int | None = None,
) -> dict[str, Any]:
    """`record` itself when it is an object whose known keys hold what `fields` expects."""
    if not isinstance(record, dict):
        raise DamagedRecord(file, f"expected a JSON object, got {type(record).__name__} {_short(record)}", line)
    for key in required:
        if key not in record:
            raise DamagedRecord(file, f"{key}: missing (expected {fields[key](None) or 'a value'})", line)
    for key, check in fields.items():
        if key in record:
            expected = check(record[key])
            if expected is not None:
                raise DamagedRecord(file, f"{key}: expected {expected}, got {_short(record[key])}", line)
    return record


def _loads(data: str | bytes, file: Path, line: int | None = None) -> Any:
    try:
        return json.loads(data)
    except RecursionError:
        raise DamagedRecord(file, "unreadable, not JSON (nested too deeply)", line) from None
    except ValueError as exc:  # JSONDecodeError, a bad UTF-8 byte, a 5000-digit integer
        raise DamagedRecord(file, f"unreadable, not JSON ({exc})", line) from None


def _check_format(record: Any, file: Path) -> None:
    """A record of a newer format is not damaged, only unknown: it asks for an upgrade, before any shape check."""
    if isinstance(record, dict) and _is_int(record.get("format")) and record["format"] > FORMAT:
        raise RunFolderError(
            f"{file.parent}: written by a newer tui-trainer (format {record['format']}); upgrade to read it"
        )


def parse_status(data: str | bytes, file: Path) -> dict[str, Any]:
    """A status.json's record, checked (its format first, so a newer one asks for an upgrade)."""
    record = _loads(data, file)
    _check_format(record, file)
    return check_record(record, STATUS_FIELDS, STATUS_REQUIRED, file)


def parse_metrics_line(data: str | bytes, file: Path, line: int | None) -> dict[str, Any]:
    """One complete line of metrics.jsonl, checked; `line` is its 1-based number (None if unknown)."""
    return check_record(_loads(data, file, line), METRICS_FIELDS, METRICS_REQUIRED, file, line)


def parse_progress(data: str | bytes, file: Path) -> dict[str, Any]:
    """progress.json's record, checked (a newer format raises RunFolderError, not DamagedRecord)."""
    record = _loads(data, file)
    _check_format(record, file)
    return check_record(record, PROGRESS_FIELDS, PROGRESS_REQUIRED, file)


# --------------------------------------------------------------------------- typed records
# What the readers use: the checked JSON record as attributes with one type each, so a reader
# never spells a key or guesses what a missing one means. Keys this version does not know
# stay in `extra`.


def _text_or_empty(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _int_or_none(value: Any) -> int | None:
    return value if _is_int(value) else None


def _float_or_none(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class RunStatus:
    """A run's status.json: who runs it, how it stands, how it ended. Missing text reads "", a missing count 0."""

    state: str
    pid: int | None = None
    pid_started: float | None = None  # the process's start time: a reused pid is not the run's
    host: str = ""
    started_at: str = ""  # ISO 8601, the first start
    resumed_at: str = ""  # the latest resume, if any
    earlier_seconds: float | None = None  # training time of the processes before the resume
    ended_at: str = ""
    updated_at: str = ""
    preset_name: str = ""
    epochs_planned: int = 0
    epochs_done: int = 0
    best_val_acc: float | None = None
    best_epoch: int | None = None
    error: str = ""
    hint: str = ""
    device: str = ""
    precision: str = ""
    classes: tuple[str, ...] | None = None  # None until the data is loaded
    sweep: str = ""  # a sweep's trial: its sweep's name, trial number and folder
    trial: int | None = None
    sweep_dir: str = ""
    slurm_job_id: str = ""  # the latest SLURM job that runs it, or will
    paused_since: str = ""  # ISO 8601: when its loop began to hold between batches; "" when not paused
    paused_seconds: float | None = None  # this process's ended holds (since its start or resume)
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> RunStatus:
        """The typed status of a status.json record (checked by `parse_status`, or one a test wrote by hand)."""
        classes = record.get("classes")
        return cls(
            state=str(record.get("state", "unknown")),
            pid=_int_or_none(record.get("pid")),
            pid_started=_float_or_none(record.get("pid_started")),
            host=_text_or_empty(record.get("host")),
            started_at=_text_or_empty(record.get("started_at")),
            resumed_at=_text_or_empty(record.get("resumed_at")),
            earlier_seconds=_float_or_none(record.get("earlier_seconds")),
            ended_at=_text_or_empty(record.get("ended_at")),
            updated_at=_text_or_empty(record.get("updated_at")),
            preset_name=_text_or_empty(record.get("preset_name")),
            epochs_planned=max(0, _int_or_none(record.get("epochs_planned")) or 0),
            epochs_done=max(0, _int_or_none(record.get("epochs_done")) or 0),
            best_val_acc=_float_or_none(record.get("best_val_acc")),
            best_epoch=_int_or_none(record.get("best_epoch")),
            error=_text_or_empty(record.get("error")),
            hint=_text_or_empty(record.get("hint")),
            device=_text_or_empty(record.get("device")),
            precision=_text_or_empty(record.get("precision")),
            classes=tuple(str(c) for c in classes) if isinstance(classes, list) else None,
            sweep=_text_or_empty(record.get("sweep")),
            trial=_int_or_none(record.get("trial")),
            sweep_dir=_text_or_empty(record.get("sweep_dir")),
            slurm_job_id=_text_or_empty(record.get("slurm_job_id")),
            paused_since=_text_or_empty(record.get(PAUSED_SINCE)),
            paused_seconds=_float_or_none(record.get(PAUSED_SECONDS)),
            extra={k: v for k, v in record.items() if k not in STATUS_FIELDS},
        )


@dataclass(frozen=True)
class EpochRecord:
    """One line of metrics.jsonl: a finished epoch's figures (fractions 0-1; None where the writer had none)."""

    epoch: int
    train_loss: float | None = None
    train_acc: float | None = None
    val_loss: float | None = None
    val_acc: float | None = None
    lr: float | None = None
    epoch_seconds: float | None = None
    train_images_per_second: float | None = None
    per_class_acc: tuple[float, ...] = ()  # each class's validation accuracy (recall), class order
    macro_f1: float | None = None
    balanced_acc: float | None = None
    best_metric: str = "val_acc"  # the figure that picked best.pt (older writers: val_acc)
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def best_value(self) -> float | None:
        """This epoch's value of the figure that picks the best epoch (None when the record lacks it)."""
        return getattr(self, self.best_metric)

    @classmethod
    def from_record(cls, record: Mapping[str, Any], position: int = 0) -> EpochRecord:
        """The typed epoch of a metrics record; `position` (0-based) numbers a record that lacks its epoch."""
        per_class = record.get("per_class_acc")
        metric = record.get("best_metric")
        return cls(
            epoch=_int_or_none(record.get("epoch")) or position + 1,
            train_loss=_float_or_none(record.get("train_loss")),
            train_acc=_float_or_none(record.get("train_acc")),
            val_loss=_float_or_none(record.get("val_loss")),
            val_acc=_float_or_none(record.get("val_acc")),
            lr=_float_or_none(record.get("lr")),
            epoch_seconds=_float_or_none(record.get("epoch_seconds")),
            train_images_per_second=_float_or_none(record.get("train_images_per_second")),
            per_class_acc=tuple(float(v) for v in per_class) if isinstance(per_class, list) else (),
            macro_f1=_float_or_none(record.get("macro_f1")),
            balanced_acc=_float_or_none(record.get("balanced_acc")),
            best_metric=metric if metric in BEST_METRICS.names else "val_acc",
            extra={k: v for k, v in record.items() if k not in METRICS_FIELDS},
        )


def as_run_status(status: RunStatus | Mapping[str, Any]) -> RunStatus:
    """A typed status, from a typed one or from a status.json record as `RunFolder.read_status` returns it."""
    return status if isinstance(status, RunStatus) else RunStatus.from_record(status)
