"""A sweep's folder and its Optuna study: opening it, and reading its trials as table rows.

The sweep folder is `<sweeps dir>/<sweep name>/`: the Optuna study (`study.db` for SQLite,
`study.journal` for the journal file; a database URL keeps it in the database), `sweep.toml` (the
sweep file as last started, so the console can start it again, and whose `storage` says where the
study is), `trials/` (one ordinary run folder per trial) and `.lock` (processes take turns asking
for a trial; runs/sweep_storage.py). Optuna is an optional extra; `require_optuna` says how to install it.
"""

from __future__ import annotations

import math
import os
import socket
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..atomic import atomic_write_text
from ..config.code_trust import TargetAccess, trusted_access, untrusted_target_message
from ..config.loading import loads_or_none
from ..config.sweep_file import DATABASE_URL, STORAGES, SweepSpec, masked
from .folder import RunFolder, RunFolderError, effective_state, pid_alive
from .sweep_storage import SweepError, hide_password, retried_numbers, storage_for

INSTALL_HINT = 'sweeps need Optuna: pip install "tui-trainer[sweep]"'
__all__ = ["SweepError"]


def require_optuna():
    """The optuna module, or a SweepError naming the extra to install."""
    try:
        import optuna
    except ImportError:
        raise SweepError(INSTALL_HINT) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    # Trials here are asked and told by hand, each beating Optuna's heartbeat as Study.optimize would.
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
    def journal(self) -> Path:
        return self.path / "study.journal"

    @property
    def storage(self) -> str:
        """Where the study is: the `storage` of the folder's sweep.toml ("sqlite" when it names none)."""
        try:
            raw = loads_or_none(self.sweep_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            raw = None
        found = raw.get("storage", "sqlite") if raw is not None else "sqlite"
        ok = isinstance(found, str) and (found in STORAGES or DATABASE_URL.fullmatch(found))
        return found if ok else "sqlite"

    @property
    def where(self) -> str:
        """The study's place as it may be printed: its file, or its database URL with the password masked."""
        storage = self.storage
        if storage in STORAGES:
            return str(self.journal if storage == "journal" else self.database)
        return masked(storage)

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

    def exists(self) -> bool:
        """Whether a study was started here (a database study: its sweep.toml names the database)."""
        storage = self.storage
        if storage in STORAGES:
            return (self.journal if storage == "journal" else self.database).exists()
        return self.sweep_file.is_file()

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


def open_storage(folder: SweepFolder, *, heartbeat_seconds: int | None = None, grace_seconds: int | None = None):
    """The Optuna storage of a sweep folder's study, as its sweep.toml names it."""
    require_optuna()
    return storage_for(folder.path, folder.storage, heartbeat_seconds=heartbeat_seconds, grace_seconds=grace_seconds)


def load_study(folder: SweepFolder):
    """The existing study of a sweep folder (for reading), from wherever its sweep.toml says it is."""
    optuna = require_optuna()
    if not folder.exists():
        raise SweepError(f"{folder.path}: no study here (not a sweep folder, or the sweep never started)")
    storage = open_storage(folder)
    name = folder.path.name
    try:
        if name in optuna.get_all_study_names(storage):
            return optuna.load_study(study_name=name, storage=storage)
        names = optuna.get_all_study_names(storage) if folder.storage in STORAGES else []
    except Exception as exc:  # noqa: BLE001 - a database's error, told with its password masked
        raise SweepError(
            f"cannot read the study in {folder.where}: {hide_password(str(exc), folder.storage)}"
        ) from None
    if not names:  # a database holds many studies: only this folder's own name is read there
        raise SweepError(f"{folder.where}: holds no study named {name}")
    return optuna.load_study(study_name=names[0], storage=storage)


def sweep_file_of(folder: SweepFolder, study: Any) -> Path:
    """The sweep file a study was last started from (or the folder's copy, once that file is gone)."""
    source = study.user_attrs.get("sweep_file")
    return Path(source) if source and Path(source).is_file() else folder.sweep_file


def list_sweeps(sweeps_dir: Path) -> list[SweepFolder]:
    """Sweep folders under `sweeps_dir`, newest first."""
    try:
        found = [SweepFolder(p) for p in Path(sweeps_dir).iterdir() if SweepFolder(p).exists()]
    except OSError:
        return []
    return sorted(found, key=lambda f: f.sweep_file.stat().st_mtime if f.sweep_file.exists() else 0, reverse=True)


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
    scored = [(r.value, r) for r in rows if r.state == "finished" and r.value is not None]
    if not scored:
        return None
    pick = max if direction == "maximize" else min
    return pick(scored, key=lambda scored_row: scored_row[0])[1]


def trial_rows(study: Any) -> list[TrialRow]:
    """Every trial of `study`, with epochs and time read from its run folder."""
    optuna = require_optuna()
    states = optuna.trial.TrialState
    trials = study.get_trials(deepcopy=False)
    requeued = retried_numbers(trials)
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
