"""A sweep's folder and its Optuna study: opening it, and reading its trials as table rows.

The sweep folder is `<sweeps dir>/<sweep name>/`: `study.db` (the Optuna study, SQLite),
`sweep.toml` (the sweep file as last started, so the console can start it again), `trials/` (one
ordinary run folder per trial) and `.lock` (processes on one machine take turns asking for a
trial). Optuna is an optional extra; `require_optuna` says how to install it.
"""

from __future__ import annotations

import math
import os
import socket
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..atomic import atomic_write_text
from ..config.code_trust import TargetAccess, trusted_access, untrusted_target_message
from ..config.sweep_file import SweepSpec
from .folder import RunFolder, RunFolderError, effective_state, pid_alive

INSTALL_HINT = 'sweeps need Optuna: pip install "tui-trainer[sweep]"'
HEARTBEAT_SECONDS = 60
"""How often a trial tells the study it is alive (seen by processes on other machines)."""
GRACE_SECONDS = 300
"""A trial silent this long, on another machine, is taken as dead and run again."""


class SweepError(RuntimeError):
    """A sweep that cannot run or be read: the message says why and what to do."""


def require_optuna():
    """The optuna module, or a SweepError naming the extra to install."""
    try:
        import optuna
    except ImportError:
        raise SweepError(INSTALL_HINT) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    # Trials here are asked and told by hand, beating the heartbeat themselves (see runs/sweep.py).
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")
    return optuna


@dataclass(frozen=True)
class SweepFolder:
    path: Path

    @classmethod
    def for_spec(cls, sweeps_dir: Path, spec: SweepSpec) -> SweepFolder:
        return cls(Path(sweeps_dir) / spec.name)

    @property
    def database(self) -> Path:
        return self.path / "study.db"

    @property
    def sweep_file(self) -> Path:
        return self.path / "sweep.toml"

    @property
    def trials_dir(self) -> Path:
        return self.path / "trials"

    @property
    def lock_file(self) -> Path:
        return self.path / ".lock"

    @property
    def log_file(self) -> Path:
        return self.path / "log.txt"

    @property
    def storage_url(self) -> str:
        return f"sqlite:///{self.database.resolve()}"

    def exists(self) -> bool:
        return self.database.exists()

    def prepare(self, spec: SweepSpec) -> None:
        self.trials_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.sweep_file, spec.source.read_text(encoding="utf-8"))


def in_sweep_folder(sweep_file: Path) -> bool:
    """Whether `sweep_file` is a sweep folder's own copy (received data), not a sweep file the user wrote."""
    return SweepFolder(Path(sweep_file).resolve().parent).exists()


def sweep_access(spec: SweepSpec, trust_code: bool) -> TargetAccess | None:
    """Where the trials' `model.target` may be imported from (config.code_trust): a sweep file the user
    wrote is run directly (its base preset's folder); a sweep folder's copy only with `trust_code`."""
    if in_sweep_folder(spec.source):
        return trusted_access(trust_code)
    return TargetAccess.beside(spec.preset_path)


def untrusted_sweep_problem(spec: SweepSpec, code: TargetAccess | None) -> str | None:
    """The refusal for a sweep whose trials would import code the user has not trusted, or None."""
    if code is not None or not spec.targets:
        return None
    return untrusted_target_message(spec.preset_path, spec.targets[0])


def open_storage(folder: SweepFolder, on_stale: Callable[[Any, Any], None] | None = None):
    """The study's SQLite storage; several processes may open it at once (they wait on its lock)."""
    optuna = require_optuna()
    return optuna.storages.RDBStorage(
        folder.storage_url,
        engine_kwargs={"connect_args": {"timeout": 120}},
        heartbeat_interval=HEARTBEAT_SECONDS,
        grace_period=GRACE_SECONDS,
        heartbeat_stale_trial_callback=on_stale,
    )


def load_study(folder: SweepFolder, on_stale: Callable[[Any, Any], None] | None = None):
    """The existing study of a sweep folder (for reading)."""
    optuna = require_optuna()
    if not folder.exists():
        raise SweepError(f"{folder.path}: no study.db (not a sweep folder, or the sweep never started)")
    storage = open_storage(folder, on_stale)
    names = optuna.get_all_study_names(storage)
    if not names:
        raise SweepError(f"{folder.database}: holds no study")
    return optuna.load_study(study_name=names[0], storage=storage)


def sweep_file_of(folder: SweepFolder, study: Any) -> Path:
    """The sweep file a study was last started from (or the folder's copy, once that file is gone)."""
    source = study.user_attrs.get("sweep_file")
    return Path(source) if source and Path(source).is_file() else folder.sweep_file


def list_sweeps(sweeps_dir: Path) -> list[SweepFolder]:
    """Sweep folders under `sweeps_dir`, newest first."""
    try:
        found = [SweepFolder(p) for p in Path(sweeps_dir).iterdir() if (p / "study.db").exists()]
    except OSError:
        return []
    return sorted(found, key=lambda f: f.database.stat().st_mtime, reverse=True)


# ------------------------------------------------------------------ trials as rows


@dataclass(frozen=True)
class TrialRow:
    """One trial as the table shows it."""

    number: int
    state: str  # finished | pruned | running | waiting | failed | requeued
    value: float | None
    params: dict[str, Any] = field(default_factory=dict)
    epochs: int | None = None
    seconds: float | None = None
    run_dir: Path | None = None
    error: str = ""

    def cell(self, column: str) -> Any:
        """The value a column sorts by."""
        if column.startswith("param:"):
            return self.params.get(column[len("param:") :])
        return {
            "trial": self.number,
            "state": self.state,
            "objective": self.value,
            "epochs": self.epochs,
            "time": self.seconds,
        }[column]

    def matches(self, text: str) -> bool:
        """Whether every word of `text` appears in the trial's state, number, params or folder."""
        haystack = " ".join(
            [str(self.number), self.state, self.run_dir.name if self.run_dir else "", self.error]
            + [f"{k}={v}" for k, v in self.params.items()]
        ).lower()
        return all(word in haystack for word in text.lower().split())


def sort_rows(rows: Sequence[TrialRow], column: str, descending: bool = False) -> list[TrialRow]:
    """Rows ordered by `column`; trials without a value in it go last either way."""
    present = [r for r in rows if _sortable(r.cell(column)) is not None]
    missing = [r for r in rows if _sortable(r.cell(column)) is None]
    present.sort(key=lambda r: r.number)
    present.sort(key=lambda r: _sortable(r.cell(column)), reverse=descending)  # stable: ties keep trial order
    return present + sorted(missing, key=lambda r: r.number)


def _sortable(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool):
        return (0, int(value), "")
    if isinstance(value, (int, float)):
        return (0, float(value), "")
    return (1, 0.0, str(value))


def best_row(rows: Sequence[TrialRow], direction: str) -> TrialRow | None:
    scored = [r for r in rows if r.state == "finished" and r.value is not None]
    if not scored:
        return None
    pick = max if direction == "maximize" else min
    return pick(scored, key=lambda r: r.value)


def requeued_numbers(trials: Sequence[Any]) -> set[int]:
    """Numbers of failed trials that were put back in the queue (killed or stopped, not failed)."""
    return {int(t.user_attrs["retry_of"]) for t in trials if "retry_of" in t.user_attrs}


def trial_rows(study: Any) -> list[TrialRow]:
    """Every trial of `study`, with epochs and time read from its run folder."""
    optuna = require_optuna()
    states = optuna.trial.TrialState
    trials = study.get_trials(deepcopy=False)
    requeued = requeued_numbers(trials)
    rows = []
    for t in trials:
        run_dir = Path(t.user_attrs["run_dir"]) if "run_dir" in t.user_attrs else None
        epochs = seconds = None
        state = {
            states.COMPLETE: "finished",
            states.PRUNED: "pruned",
            states.RUNNING: "running",
            states.WAITING: "waiting",
            states.FAIL: "requeued" if t.number in requeued else "failed",
        }[t.state]
        if run_dir is not None:
            folder = RunFolder(run_dir)
            records = folder.read_epochs()
            epochs = len(records)
            seconds = sum(r.epoch_seconds or 0.0 for r in records) if records else None
            if state == "running":
                try:
                    if effective_state(folder.read_status()) != "running":
                        state = "stale"
                except RunFolderError:
                    pass
        elif state == "running" and not _owner_alive(t):
            state = "stale"
        value = t.value if t.state == states.COMPLETE else _last_intermediate(t)
        rows.append(
            TrialRow(
                number=t.number,
                state=state,
                value=value,
                params=dict(t.params) or dict(t.system_attrs.get("fixed_params", {})),
                epochs=epochs,
                seconds=seconds,
                run_dir=run_dir,
                error=str(t.user_attrs.get("error", "")),
            )
        )
    return rows


def _last_intermediate(trial: Any) -> float | None:
    if not trial.intermediate_values:
        return None
    return float(trial.intermediate_values[max(trial.intermediate_values)])


def _owner_alive(trial: Any) -> bool:
    host = trial.user_attrs.get("host")
    pid = trial.user_attrs.get("pid")
    if host != socket.gethostname():
        return True  # another machine: only its heartbeat can tell
    return pid == os.getpid() or pid_alive(pid, host)
