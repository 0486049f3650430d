"""Where a run came from and how it grew: its parent (a fork of another run's epoch), its extensions,
and the epoch checkpoints kept for forks. This module alone spells those status.json keys.

status.json holds `parent` ({"run", "epoch"}), `continuation` (the schedule of the epochs after the
latest extension or fork, read back when such a run is resumed) and `extensions` (one record per
extension: epochs before and after, the schedule chosen, when). A folder someone else wrote may hold
anything there: what does not fit is ignored, never trusted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
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
