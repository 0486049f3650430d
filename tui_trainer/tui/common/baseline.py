"""The run pinned as the baseline: kept in the user's settings file (never in a run folder), drawn
beside the current run by every compare and by the training screen's charts, where it compares:
only beside a run of the same class names in the same order (a curve over other classes means nothing).

A pinned run whose folder has gone is unpinned the first time it is looked up, and the caller is
told its name once, so it can say so in one notice.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    classes: tuple[str, ...] | None = None
    """Its class names in order, as its status.json records them (None: not recorded)."""

    @property
    def label(self) -> str:
        return f"baseline {self.path.name}" if self.path is not None else ""

    def why_apart(self, classes: Sequence[str] | None) -> str:
        """Why its curves do not compare with those of a run of `classes` ("" when they do), in a few words."""
        if self.classes is None:
            return "its classes are not recorded"
        if classes is None:
            return "the run's classes are not recorded"
        return "" if tuple(classes) == self.classes else "other classes"

    def beside(self, run: Path | None, classes: Sequence[str]) -> tuple[bool, str]:
        """(drawn, why not) beside the run in folder `run` of `classes` (empty while its data loads): never
        beside itself, nor before the run's classes are known; a run of other classes hears why."""
        if self.path is None or not classes or (run is not None and run.absolute() == self.path.absolute()):
            return False, ""
        why = self.why_apart(classes)
        return not why, why

    def why_not_compared(self, runs: Sequence[Path]) -> str:
        """Why it is left out of a compare of `runs` ("" when it is drawn): it must share one run's classes."""
        reasons = [self.why_apart(run_classes(run)) for run in runs]
        return "" if not reasons or "" in reasons else reasons[0]


def run_classes(run: Path) -> tuple[str, ...] | None:
    """The class names a run folder's status.json records (None: none, or the folder is damaged)."""
    with suppress(RunFolderError):
        return RunFolder(run).read_run_status().classes
    return None


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
    return Baseline(path, metrics=metrics, classes=run_classes(path))


def pin_baseline(run: Path | None, settings: Path | None = None) -> None:
    """Pin `run` as the baseline (None: unpin). Raises OSError or PresetError as `save_setting` does."""
    save_setting(SETTING, str(run.absolute()) if run is not None else None, settings or config_path())
