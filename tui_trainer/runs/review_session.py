"""Where a run's label review decisions go, and keeping them: what the review list on the confusion screen edits.

The file is the run's `data.review` when its preset sets one, else `review.toml` in the data folder
(the image folder, the CSV file's, the shards'); when that folder cannot be written, or the data is
a Hugging Face dataset (no folder of the user's), the run folder's `review.toml` (and the user is
told to point `data.review` at it). A shard member or dataset row is found, by the name the run
recorded, in the data's own listing, which also gives the bytes its hash is made of. Each decision
is written at once, atomically, with the image's hash, so a console that dies loses nothing. A review file that
exists but cannot be read is never overwritten: the decisions cannot be saved until it is fixed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..config import PresetError
from ..config.schema import DataConfig
from ..data.listers import LISTERS
from ..data.listing import LayoutError
from ..data.member import Member
from ..data.review_file import (
    BESIDE_THE_DATA,
    REVIEWABLE,
    Decision,
    ReviewEntry,
    data_folder,
    default_review_path,
    file_hash,
    folder_writable,
    member_entry,
    member_ident,
    merged,
    read_review,
    write_review,
)
from ..text import printable
from .folder import RunFolder


@dataclass
class ReviewSession:
    """The decisions of one review file, keyed by path relative to the data folder (`ReviewEntry.ident`)."""

    file: Path | None  # None: decisions cannot be saved (`problem` says why)
    folder: Path | None  # the data folder the keys are relative to
    entries: dict[str, ReviewEntry] = field(default_factory=dict)
    problem: str = ""  # why nothing can be saved
    note: str = ""  # where the decisions go, when it is not where the user would look
    data: DataConfig | None = None  # shards or a Hugging Face dataset: listed to find its members
    _members: dict[str, Member] | None = field(default=None, repr=False)  # by the name the run recorded

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
        apply = f'(set data.review = "{printable(fallback)}" to apply them)'
        if not data.review and data.dataset not in BESIDE_THE_DATA:
            note = f"a Hugging Face dataset has no folder of yours: decisions go to {printable(fallback)} {apply}"
            file = fallback
        elif not file.exists() and not folder_writable(file.parent):
            note = f"{printable(file.parent)} is not writable: decisions go to {printable(fallback)} {apply}"
            file = fallback
        entries: dict[str, ReviewEntry] = {}
        if file.exists():
            try:
                entries = read_review(file)
            except LayoutError as exc:
                return cls(None, root, problem=f"{exc.problems[0]}: fix or move it to save decisions")
        members = data if data.dataset not in ("imagefolder", "csv") else None
        return cls(file, root, entries, note=note, data=members)

    def key(self, path: str | None) -> str | None:
        """The key of the decision on the image the run names `path`: a file relative to the data folder, a
        shard member or dataset row (`member_ident`); None when it is not an image of the data."""
        if path is None or self.folder is None:
            return None
        if self.data is not None:
            member = self.member(path)
            return member_ident(member) if member is not None else None
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
        label = label if decision == "relabel" else ""
        member = self.member(path) if self.data is not None else None
        if member is not None:
            entry = member_entry(member, decision, label, given)
        else:
            entry = ReviewEntry(key, decision, label, given, file_hash(Path(path)))
        self._save(merged(self.entries, entry))

    def undo(self, path: str) -> None:
        """Take back the decision about `path` (the file is rewritten without it)."""
        self._save(merged(self.entries, self._writable_key(path)))

    def prepare(self) -> ReviewSession:
        """List a shard set's or a dataset's samples now (the decisions' lookups read that listing): from a
        worker thread, so a large set's tar headers are never read on the console's thread. Returns self."""
        if self.data is not None:
            self.member("")
        return self

    def member(self, name: str) -> Member | None:
        """The shard member or dataset row the run names `name`, from the data's listing (made once)."""
        if self._members is None:
            assert self.data is not None
            try:
                listing = LISTERS[self.data.dataset](self.data)
            except LayoutError as exc:
                self.problem = f"cannot list the data: {printable(exc.problems[0])}"
                listing = None
            files = listing.files() if listing is not None else []
            self._members = {str(item): item for item in files if isinstance(item, Member)}
        return self._members.get(name)

    def counts(self) -> Counter[str]:
        """Decisions made, by kind ("relabel", "exclude", "fine")."""
        return Counter(entry.decision for entry in self.entries.values())

    def _writable_key(self, path: str) -> str:
        key = self.key(path)
        if self.file is None or key is None:
            where = "an image of the data's listing" if self.data is not None else "inside the data folder"
            raise OSError(self.problem or f"{printable(path)} is not {where}")
        return key

    def _save(self, entries: dict[str, ReviewEntry]) -> None:
        assert self.file is not None
        write_review(self.file, entries.values())
        self.entries = entries
