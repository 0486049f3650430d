"""Where a run came from and how it grew: its parent (a fork of another run's epoch), its extensions,
and the epoch checkpoints kept for forks. This module alone spells those status.json keys.

status.json holds `parent` ({"run", "epoch"}), `continuation` (the schedule of the epochs after the
latest extension or fork, read back when such a run is resumed) and `extensions` (one record per
extension: epochs before and after, the schedule chosen, when). A folder someone else wrote may hold
anything there: what does not fit is ignored, never trusted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..engine.continuation import SCHEDULE_POLICIES, Continuation
from ..text import printable
from .folder import RunFolder, now_iso
from .records import RunFolderError

EPOCH_FILE = re.compile(r"epoch-(\d{1,6})\.pt")


@dataclass(frozen=True)
class Parent:
    """The run and epoch a fork started from."""

    run: Path
    epoch: int

    def to_record(self, child: RunFolder) -> dict[str, Any]:
        """The parent's folder is kept relative to the child's runs folder when it lies in it, so both
        can move together; otherwise absolute."""
        run = self.run.absolute()
        try:
            where = str(run.relative_to(child.path.absolute().parent))
        except ValueError:
            where = str(run)
        return {"run": where, "epoch": self.epoch}


def _whole(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def read_parent(folder: RunFolder, status: dict[str, Any]) -> Parent | None:
    """The run `folder` was forked from, as its status.json records it (None: not a fork)."""
    record = status.get("parent")
    if not isinstance(record, dict) or not isinstance(record.get("run"), str) or _whole(record.get("epoch")) is None:
        return None
    return Parent(folder.path.parent / record["run"], record["epoch"])


MAX_ANCESTORS = 32
"""How many forks back a lead-in goes: a fork of a fork draws its grandparent's epochs too; a chain
longer than this (or a cycle in folders someone else wrote) ends there."""


@dataclass(frozen=True)
class LeadIn:
    """A fork's history before its own first epoch: its parent's epoch records 1..K (and, for a fork
    of a fork, the grandparent's before them), read-only, so its screens draw the whole run."""

    parent: Parent | None = None
    """None: not a fork (or its status.json cannot say)."""
    epochs: list[dict[str, Any]] = field(default_factory=list)
    problem: str = ""
    """Why the parent's epochs are missing ("" when they are there): its folder is gone or unreadable."""


def read_lead_in(run_dir: Path) -> LeadIn:
    """The parent's epochs up to the fork of the run in `run_dir`; a parent that is gone or damaged
    gives no epochs and a `problem`, never an error. Nothing is written."""
    folder = RunFolder(run_dir)
    try:
        parent = read_parent(folder, folder.read_status())
    except RunFolderError:
        return LeadIn()
    if parent is None:
        return LeadIn()
    epochs: list[dict[str, Any]] = []
    until = parent.epoch  # the latest epoch still to be found, in the fork's numbering
    ancestor: Parent | None = parent
    seen = {folder.path.resolve()}
    while ancestor is not None and until >= 1 and len(seen) <= MAX_ANCESTORS and ancestor.run.resolve() not in seen:
        seen.add(ancestor.run.resolve())
        source = RunFolder(ancestor.run)
        try:
            status, records = source.read_status(), source.read_metrics()
        except RunFolderError:
            if ancestor is not parent:
                break  # a grandparent gone: the parent's own epochs are still drawn
            return LeadIn(parent, problem="cannot be read" if source.path.exists() else "is gone")
        taken = [r for r in records if _whole(r.get("epoch")) is not None and r["epoch"] <= until]
        epochs[:0] = taken
        until = min((r["epoch"] for r in taken), default=until + 1) - 1
        ancestor = read_parent(source, status)  # a fork of a fork: the epochs before the parent's first
        if ancestor is not None:
            until = min(until, ancestor.epoch)
    return LeadIn(parent, epochs)


def read_continuation(status: dict[str, Any]) -> Continuation | None:
    record = status.get("continuation")
    if not isinstance(record, dict) or record.get("schedule") not in SCHEDULE_POLICIES:
        return None
    start = _whole(record.get("from_epoch"))
    return Continuation(start, record["schedule"]) if start is not None else None


def read_extensions(status: dict[str, Any]) -> list[dict[str, Any]]:
    records = status.get("extensions")
    return [r for r in records if isinstance(r, dict)] if isinstance(records, list) else []


def extension_fields(status: dict[str, Any], continuation: Continuation, epochs: int) -> dict[str, Any]:
    """The status.json fields that record extending a run from `continuation.from_epoch` to `epochs` epochs."""
    record = {"from_epochs": continuation.from_epoch, "to_epochs": epochs, "schedule": continuation.policy}
    return {
        "continuation": continuation.to_record(),
        "extensions": [*read_extensions(status), {**record, "at": now_iso()}],
    }


def fork_fields(parent: Parent, child: RunFolder) -> dict[str, Any]:
    """The status.json fields of the new run `child` forked from `parent` (its schedule restarts at the fork)."""
    return {"parent": parent.to_record(child), "continuation": Continuation(parent.epoch, "restart").to_record()}


# --------------------------------------------------------------------------- epoch checkpoints


def epoch_checkpoint(folder: RunFolder, epoch: int) -> Path:
    """Where `train.keep_every` keeps epoch `epoch`'s checkpoint."""
    return folder.path / f"epoch-{epoch}.pt"


def kept_epochs(folder: RunFolder) -> list[int]:
    """The epochs whose checkpoint `train.keep_every` kept, in order."""
    try:
        names = [entry.name for entry in folder.path.iterdir() if entry.is_file() and not entry.is_symlink()]
    except OSError:
        return []
    return sorted(int(m.group(1)) for name in names if (m := EPOCH_FILE.fullmatch(name)))


def fork_checkpoints(folder: RunFolder) -> dict[int, Path]:
    """Epoch -> a checkpoint of the run at the end of it: the kept ones, then last.pt and best.pt."""
    from ..engine.checkpoint import saved_epoch  # torch: only when a fork is asked for

    found = {epoch: epoch_checkpoint(folder, epoch) for epoch in kept_epochs(folder)}
    for path in (folder.best_checkpoint, folder.last_checkpoint):
        epoch = saved_epoch(path) if path.is_file() and not path.is_symlink() else None
        if epoch:
            found.setdefault(epoch, path)
    return found


def fork_checkpoint(run: Path, epoch: int) -> Path:
    """The checkpoint of `run` at the end of `epoch`; RunFolderError saying which epochs there are."""
    folder = RunFolder(run)
    if not folder.status_file.exists():
        raise RunFolderError(f"{printable(run)}: not a run folder (no status.json)")
    found = fork_checkpoints(folder)
    if epoch in found:
        return found[epoch]
    names = {folder.last_checkpoint: " (last.pt)", folder.best_checkpoint: " (best.pt)"}
    available = ", ".join(f"{k}{names.get(found[k], '')}" for k in sorted(found)) or "none"
    raise RunFolderError(
        f"{printable(run)}: no checkpoint of epoch {epoch}; epochs that can be forked: {available} "
        "(train.keep_every = N keeps one every N epochs)"
    )


def parse_fork(text: str) -> tuple[Path, int]:
    """`RUN@K` -> (RUN, K); ValueError saying the form."""
    run, at, epoch = text.rpartition("@")
    if not at or not run or not epoch.isdigit() or int(epoch) < 1:
        raise ValueError(f"--fork {text!r}: give RUN_DIR@EPOCH, e.g. runs/20261128-101500-seed@10")
    return Path(run), int(epoch)
