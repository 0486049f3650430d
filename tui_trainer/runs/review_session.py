"""Where a run's label review decisions go, and keeping them: what the review list on the confusion screen edits.

The file is the run's `data.review` when its preset sets one, else `review.toml` in the data folder;
when that folder cannot be written, the run folder's `review.toml` (and the user is told to point
`data.review` at it). Each decision is written at once, atomically, with the file's hash, so a
console that dies loses nothing. A review file that exists but cannot be read is never overwritten:
the decisions cannot be saved until it is fixed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..config import PresetError
from ..config.schema import DataConfig
from ..data.listing import LayoutError
from ..data.review_file import (
    REVIEWABLE,
    Decision,
    ReviewEntry,
    data_folder,
    default_review_path,
    file_hash,
    folder_writable,
    merged,
    read_review,
    write_review,
)
from ..text import printable
from .folder import RunFolder


@dataclass
class ReviewSession:
    """The decisions of one review file, keyed by path relative to the data folder."""

    file: Path | None  # None: decisions cannot be saved (`problem` says why)
    folder: Path | None  # the data folder the keys are relative to
    entries: dict[str, ReviewEntry] = field(default_factory=dict)
    problem: str = ""  # why nothing can be saved
    note: str = ""  # where the decisions go, when it is not where the user would look

    @classmethod
    def for_run(cls, run_dir: Path | None) -> ReviewSession:
        """The review of the data a run folder's preset names (the file is only read here)."""
        if run_dir is None:
            return cls(None, None, problem="no run folder: decisions cannot be saved")
        folder = RunFolder(Path(run_dir))
        try:
            data = folder.read_preset().data
        except (PresetError, OSError) as exc:  # an unreadable preset only costs saving decisions
            return cls(None, None, problem=f"cannot read the run's preset: {printable(exc)}")
        return cls.for_data(data, folder.review_file)

    @classmethod
    def for_data(cls, data: DataConfig, fallback: Path) -> ReviewSession:
        """The review of `data`'s images; `fallback` is used when the data folder cannot be written."""
        if data.dataset not in REVIEWABLE or not data.root:
            return cls(
                None, None, problem=f'the run\'s data ("{data.dataset}") has no image files: decisions cannot be saved'
            )
        root, file, note = data_folder(data), default_review_path(data), ""
        if not file.exists() and not folder_writable(file.parent):
            note = (
                f"{printable(file.parent)} is not writable: decisions go to {printable(fallback)} "
                f'(set data.review = "{printable(fallback)}" to apply them)'
            )
            file = fallback
        entries: dict[str, ReviewEntry] = {}
        if file.exists():
            try:
                entries = read_review(file)
            except LayoutError as exc:
                return cls(None, root, problem=f"{exc.problems[0]}: fix or move it to save decisions")
        return cls(file, root, entries, note=note)

    def key(self, path: str | None) -> str | None:
        """`path` relative to the data folder, or None when it is not a file inside it."""
        if path is None or self.folder is None:
            return None
        for folder in (self.folder, self.folder.resolve()):
            try:
                return Path(path).relative_to(folder).as_posix()
            except ValueError:
                continue
        return None

    def decision(self, path: str | None) -> ReviewEntry | None:
        key = self.key(path)
        return self.entries.get(key) if key is not None else None

    def decide(self, path: str, decision: Decision, *, label: str = "", given: str = "") -> None:
        """Record a decision about the image at `path` and write the file; OSError when it cannot be written."""
        key = self._writable_key(path)
        entry = ReviewEntry(key, decision, label if decision == "relabel" else "", given, file_hash(Path(path)))
        self._save(merged(self.entries, entry))

    def undo(self, path: str) -> None:
        """Take back the decision about `path` (the file is rewritten without it)."""
        self._save(merged(self.entries, self._writable_key(path)))

    def counts(self) -> Counter[str]:
        """Decisions made, by kind ("relabel", "exclude", "fine")."""
        return Counter(entry.decision for entry in self.entries.values())

    def _writable_key(self, path: str) -> str:
        key = self.key(path)
        if self.file is None or key is None:
            raise OSError(self.problem or f"{printable(path)} is not inside the data folder")
        return key

    def _save(self, entries: dict[str, ReviewEntry]) -> None:
        assert self.file is not None
        write_review(self.file, entries.values())
        self.entries = entries
