"""The run pinned as the baseline: kept in the user's settings file (never in a run folder), drawn
beside the current run by every compare and by the training screen's charts.

A pinned run whose folder has gone is unpinned the first time it is looked up, and the caller is
told its name once, so it can say so in one notice.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...config.loading import PresetError
from ...runs.folder import RunFolder, RunFolderError
from .user_config import config_path, load_user_config, save_setting

SETTING = "baseline"


@dataclass(frozen=True)
class Baseline:
    """The pinned run (None: none), and the name of one that was pinned but has gone ("" if none)."""

    path: Path | None = None
    dropped: str = ""
    metrics: list[dict[str, Any]] = field(default_factory=list, compare=False)

    @property
    def label(self) -> str:
        return f"baseline {self.path.name}" if self.path is not None else ""


def read_baseline(settings: Path | None = None, *, with_metrics: bool = False) -> Baseline:
    """The pinned baseline; one whose folder is gone is unpinned here (its name in `dropped`)."""
    settings = settings or config_path()
    pinned = load_user_config(settings)[0].baseline
    if not pinned:
        return Baseline()
    path = Path(pinned)
    if not RunFolder(path).status_file.is_file():
        with suppress(OSError, PresetError):  # the notice still comes; the next look-up tries again
            save_setting(SETTING, None, settings)
        return Baseline(dropped=path.name)
    metrics: list[dict[str, Any]] = []
    if with_metrics:
        with suppress(RunFolderError):  # a damaged baseline draws no curve; its compare line says why
            metrics = RunFolder(path).read_metrics()
    return Baseline(path, metrics=metrics)


def pin_baseline(run: Path | None, settings: Path | None = None) -> None:
    """Pin `run` as the baseline (None: unpin). Raises OSError or PresetError as `save_setting` does."""
    save_setting(SETTING, str(run.absolute()) if run is not None else None, settings or config_path())
