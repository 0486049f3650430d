"""Sweep files: a base preset, a search space keyed by preset paths, an objective, a sampler.

Loaded with the same file:line: key: messages as presets. Every value the space can produce is
checked against the preset schema when the file is loaded (each choice, each range's ends), and
every sampled trial is validated again as a whole preset before it runs (`trial_preset`), through
the same code path as `--set`, so a trial can never train a preset `--check` would refuse.

This module knows nothing of Optuna: the runs layer turns a `SweepSpec` into a study.
"""

from __future__ import annotations

import copy
import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .choices import best_metric
from .fields import field_by_path
from .loading import PresetError, Problem, apply_overrides, loads_or_none, parse_toml, validate
from .locate import key_lines, line_of
from .schema import BestMetricName, Preset

Value = bool | int | float | str

STORAGES = ("sqlite", "journal")
"""Storages kept in the sweep folder; any other is a database URL (DATABASE_URL)."""
DATABASE_URL = re.compile(r"(postgresql|mysql)(\+\w+)?://\S+")
MYSQL_OPTIONS = frozenset(
    {"charset", "password", "connect_timeout", "read_timeout", "write_timeout", "ssl_ca", "ssl_cert", "ssl_key"}
    | {"ssl_check_hostname", "ssl_verify_cert", "ssl_verify_identity"}
)
"""The options a mysql URL may carry. The driver's others would let a sweep file someone else wrote have the
server read the user's files (local_infile, client_flag), send the password of the user's ~/.my.cnf to its
host (read_default_file) or run SQL of its choosing (init_command)."""
POSTGRESQL_OPTIONS = frozenset(
    {"sslmode", "sslrootcert", "connect_timeout", "application_name", "target_session_attrs", "password"}
    | {"keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count"}
)
"""The options a postgresql URL may carry. libpq's others would let a sweep file someone else wrote hand its
host the user's Kerberos credentials (gssdelegation), read the user's password or service files (passfile,
service, servicefile), or log in with the user's client certificate (sslcert, sslkey)."""
URL_OPTIONS = {"mysql": MYSQL_OPTIONS, "postgresql": POSTGRESQL_OPTIONS}


def masked(url: str) -> str:
    """`url` with its password (in the user part or a `password=` query) shown as ***: safe to print."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<a storage URL that does not parse>"
    netloc = parts.netloc
    user, at, host = netloc.rpartition("@")
    if at and ":" in user:
        netloc = f"{user.split(':', 1)[0]}:***@{host}"
    query = urlencode([(k, "***" if k.lower() == "password" else v) for k, v in parse_qsl(parts.query)], safe="*")
    return urlunsplit(parts._replace(netloc=netloc, query=query))


class FloatRange(BaseModel):
    """A number between `low` and `high` (both included); integers when both ends are integers."""

    model_config = ConfigDict(extra="forbid")
    low: float | int = Field(description="Smallest value tried.")
    high: float | int = Field(description="Largest value tried.")
    log: bool = Field(False, description="Sample evenly on a log scale (learning rates, weight decay).")
    step: float | int | None = Field(None, gt=0, description="Only values low + k*step.")

    @property
    def is_int(self) -> bool:
        return (
            isinstance(self.low, int)
            and isinstance(self.high, int)
            and (self.step is None or isinstance(self.step, int))
        )

    def grid_points(self) -> list[Value] | None:
        """The values a grid visits, or None when the range is continuous."""
        if not self.is_int or self.log:
            return None
        return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))


class ObjectiveSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    metric: BestMetricName | None = Field(
        None,
        description="val_acc, macro_f1 or balanced_acc (maximised) or val_loss (minimised); "
        "default: the base preset's train.best_metric.",
    )
    epoch: Literal["best", "last"] = Field("best", description="Score a trial by its best epoch or its last.")

    @property
    def direction(self) -> str:
        return "maximize" if best_metric(self.metric or "val_acc").maximise else "minimize"

    def score(self, history: Sequence[dict[str, Any]]) -> float | None:
        """The trial's objective from its epoch records (None without a finished epoch)."""
        values = [float(r[self.metric]) for r in history if self.metric in r]
        if not values:
            return None
        if self.epoch == "last":
            return values[-1]
        return max(values) if self.direction == "maximize" else min(values)


class PrunerSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Literal["median", "none"] = Field(
        "median", description="median: stop a trial whose epoch metric is worse than the median of earlier trials."
    )
    startup_trials: int = Field(3, ge=0, description="Trials that run to the end before any is pruned.")
    warmup_epochs: int = Field(1, ge=0, description="Epochs of a trial before it may be pruned.")


class SweepFile(BaseModel):
    """A whole sweep file."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field("", max_length=80, description="The study's name and folder; default: the file's stem.")
    description: str = Field("", description="What this sweep is for (shown in the console's list).")
    preset: str = Field(min_length=1, description="The base preset, relative to the sweep file.")
    set: list[str] = Field(default_factory=list, description="`--set` overrides applied to every trial.")
    trials: int | None = Field(None, ge=1, description="Finished or pruned trials the study ends with.")
    sampler: Literal["grid", "random", "tpe"] = Field("tpe", description="How the next trial's values are chosen.")
    seed: int | None = Field(None, description="Seed of the sampler (one process); none: different every run.")
    objective: ObjectiveSpec = Field(default_factory=ObjectiveSpec)
    pruner: PrunerSpec = Field(default_factory=PrunerSpec)
    space: dict[str, FloatRange | list[Value]] = Field(description="Preset path -> range or list of values.")
    storage: str = Field(
        "sqlite",
        description='Where the study lives: "sqlite" (study.db, one machine), "journal" (study.journal, a shared '
        'filesystem) or a database URL "postgresql://user@host/db", "mysql+pymysql://user@host/db" (many machines).',
    )

    @field_validator("storage")
    @classmethod
    def _known_storage(cls, v: str) -> str:
        if v not in STORAGES and not DATABASE_URL.fullmatch(v):
            raise ValueError('allowed: "sqlite", "journal", or a URL postgresql://... or mysql+pymysql://...')
        kind = "mysql" if v.startswith("mysql") else "postgresql"
        options = URL_OPTIONS[kind] if v not in STORAGES else frozenset()
        refused = sorted({k for k, _ in parse_qsl(urlsplit(v).query)} - options) if v not in STORAGES else []
        if refused:
            allowed = ", ".join(sorted(options))
            raise ValueError(f"a {kind} URL may set only {allowed}; not {', '.join(map(repr, refused))}")
        return v

    @field_validator("name")
    @classmethod
    def _name_fits_folder(cls, v: str) -> str:
        if any(c in v for c in '/\\:*?"<>|') or v.strip() != v:
            raise ValueError('must not contain / \\ : * ? " < > | or leading/trailing spaces')
        return v


@dataclass(frozen=True)
class SweepSpec:
    """A loaded, checked sweep: what the runs layer needs to run it."""

    source: Path
    name: str
    preset_path: Path
    base_raw: dict[str, Any]  # the base preset's TOML, with the sweep's `set` applied
    base_text: str
    file: SweepFile

    @property
    def space(self) -> dict[str, FloatRange | list[Value]]:
        return self.file.space

    @property
    def trials(self) -> int:
        """The study's total: `trials`, or the grid's size when a grid leaves it out."""
        grid = self.grid()
        if self.file.trials is None:
            return len(grid) if grid is not None else 20
        return min(self.file.trials, len(grid)) if grid is not None else self.file.trials

    def grid(self) -> list[dict[str, Value]] | None:
        """Every point of a grid sweep, in a fixed order; None for other samplers."""
        if self.file.sampler != "grid":
            return None
        names = list(self.space)
        axes = [spec if isinstance(spec, list) else spec.grid_points() or [] for spec in self.space.values()]
        return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*axes)]

    @property
    def targets(self) -> list[str]:
        """Every `model.target` a trial may import: the base preset's and those the space chooses from."""
        model = self.base_raw.get("model")
        base = model.get("target") if isinstance(model, dict) else None
        chosen = self.space.get("model.target")
        found = [base, *(chosen if isinstance(chosen, list) else [])]
        return list(dict.fromkeys(t for t in found if isinstance(t, str) and t))

    def trial_preset(self, params: dict[str, Any], name: str) -> Preset:
        """The full preset of one trial, validated; a PresetError names the parameter at fault."""
        raw = copy.deepcopy(self.base_raw)
        origins = {}
        for path, value in params.items():
            _set_path(raw, path, value)
            origins[path] = f"{self.source}: space {path} = {value!r}"
        raw["name"] = name
        return validate(raw, str(self.preset_path), self.base_text, origins)

    def spec_record(self) -> dict[str, Any]:
        """What must not change between runs of one study (kept in the study, compared on resume)."""
        return {
            "space": {k: v.model_dump() if isinstance(v, FloatRange) else v for k, v in self.space.items()},
            "objective": self.file.objective.model_dump(),
            "sampler": self.file.sampler,
        }


def is_sweep_file(path: Path) -> bool:
    """A TOML file with a `preset` key and a [space] table: a sweep, not a preset (it has neither)."""
    if path.suffix != ".toml" or not path.is_file():
        return False
    try:
        raw = loads_or_none(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return False
    return raw is not None and isinstance(raw.get("space"), dict) and isinstance(raw.get("preset"), str)


def _set_path(raw: dict[str, Any], path: str, value: Any) -> None:
    node = raw
    parts = path.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def _describe(error: dict[str, Any]) -> tuple[str, str]:
    loc = [str(p) for p in error["loc"]]
    # A space entry fails both union members; report it once, at the entry.
    if loc and loc[0] == "space" and len(loc) >= 2:
        return f"space.{loc[1]}", "expected { low = ..., high = ... [, log = true] [, step = ...] } or a list of values"
    path = ".".join(p for p in loc if not p.isdigit())
    if error["type"] == "extra_forbidden":
        known = ", ".join(SweepFile.model_fields) if "." not in path else ""
        return path, "unknown key" + (f"; known keys: {known}" if known else "")
    message = error["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if path == "storage" and isinstance(error.get("input"), str):
        error = {**error, "input": masked(error["input"])}  # a URL's password is never printed
    return path, f"got {error.get('input')!r}: {message}" if error["type"] != "missing" else "is required"


def load_sweep(path: str | Path, overrides: Sequence[str] = ()) -> SweepSpec:
    """Read and check a sweep file; raises PresetError with every problem (file:line: key: ...)."""
    path = Path(path)
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PresetError([Problem(source, "no such file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PresetError([Problem(source, f"cannot read: {exc}")]) from None
    raw = parse_toml(text, source)
    lines = key_lines(text)

    def problem(key: str, message: str) -> Problem:
        return Problem(source, message, key=key, line=line_of(lines, key))

    try:
        sweep = SweepFile.model_validate(raw)
    except ValidationError as exc:
        seen: list[Problem] = []
        for error in exc.errors():
            found = problem(*_describe(error))  # type: ignore[arg-type]
            if found not in seen:
                seen.append(found)
        raise PresetError(seen) from None

    preset_path = (path.parent / sweep.preset).resolve() if not Path(sweep.preset).is_absolute() else Path(sweep.preset)
    try:
        base_text = preset_path.read_text(encoding="utf-8")
    except OSError:
        raise PresetError(
            [problem("preset", f"no preset at {preset_path} (the path is relative to the sweep file)")]
        ) from None
    base_raw = parse_toml(base_text, str(preset_path))
    apply_overrides(base_raw, [*sweep.set, *overrides])
    try:
        base = validate(copy.deepcopy(base_raw), str(preset_path), base_text)
    except PresetError as exc:
        raise PresetError([*exc.problems]) from None
    if sweep.objective.metric is None:  # the metric that picks each trial's best.pt ranks the trials too
        objective = sweep.objective.model_copy(update={"metric": base.train.best_metric})
        sweep = sweep.model_copy(update={"objective": objective})

    spec = SweepSpec(
        source=path,
        name=sweep.name or path.stem,
        preset_path=preset_path,
        base_raw=base_raw,
        base_text=base_text,
        file=sweep,
    )
    problems = _space_problems(spec, problem)
    if problems:
        raise PresetError(problems)
    return spec


def _space_problems(spec: SweepSpec, problem) -> list[Problem]:
    """Every space entry names a preset key and every value it can take is a valid preset."""
    problems: list[Problem] = []
    if not spec.space:
        return [
            problem(
                "space", 'needs at least one parameter, e.g. "optimizer.lr" = { low = 1e-4, high = 1e-1, log = true }'
            )
        ]
    for key, entry in spec.space.items():
        where = f"space.{key}"
        field = field_by_path(key)
        if field is None or field.kind == "table":
            problems.append(problem(where, 'not a preset key (write it as section.key, e.g. "optimizer.lr")'))
            continue
        if isinstance(entry, FloatRange):
            if entry.low >= entry.high:
                problems.append(problem(where, f"low ({entry.low:g}) must be below high ({entry.high:g})"))
                continue
            if entry.log and entry.low <= 0:
                problems.append(problem(where, "a log range needs low > 0"))
                continue
            if entry.log and entry.step is not None:
                problems.append(problem(where, "give either log = true or step, not both"))
                continue
            if field.kind not in ("int", "float"):
                problems.append(problem(where, f"a range needs a numeric key; {key} is {field.allowed()}: use a list"))
                continue
            if field.kind == "int" and not entry.is_int:
                problems.append(problem(where, f"{key} is an integer: give integer low, high (and step)"))
                continue
            if spec.file.sampler == "grid" and entry.grid_points() is None:
                problems.append(problem(where, "a grid needs a list of values or an integer range (no log, no floats)"))
                continue
            candidates: list[Any] = [entry.low, entry.high]
        else:
            if not entry:
                problems.append(problem(where, "an empty list: give at least one value"))
                continue
            candidates = list(entry)
        for value in candidates:
            if isinstance(value, float) and not math.isfinite(value):
                problems.append(problem(where, f"{value!r} is not a finite number"))
                continue
            try:
                spec.trial_preset({key: value}, name=spec.name or "sweep")
            except PresetError as exc:
                for inner in exc.problems:
                    problems.append(problem(where, f"{value!r}: {inner.message}"))
    return problems
