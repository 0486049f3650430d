"""The `[slurm]` table of the user's settings file: the defaults of `tui-trainer submit`.

    [slurm]
    nodes = 2
    gpus_per_node = 4
    time = "04:00:00"
    partition = "gpu"
    account = "proj42"
    extra = ["#SBATCH --qos=normal", "#SBATCH --cpus-per-task=16"]

A value written into the job script must not change what the script does beyond its own option:
names and times are checked against the characters SLURM uses for them, and an extra line must be
one `#SBATCH` line (a comment to the shell). A bad value is a `Problem` with file, line and key,
and that setting falls back to its default, as the console's own settings do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .loading import Problem
from .locate import line_of
from .settings_file import read_settings_file

NAME = re.compile(r"[A-Za-z0-9_.+-]+(,[A-Za-z0-9_.+-]+)*")
"""A partition or account (several partitions: comma-separated), as SLURM spells them."""
TIME = re.compile(r"(\d+-)?\d+(:\d+){0,2}|\d+-\d+|UNLIMITED|INFINITE", re.IGNORECASE)
"""sbatch --time: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS, or unlimited."""
EXTRA_LINE = re.compile(r"#SBATCH[ \t]+-[^\n\r]*")


@dataclass(frozen=True)
class SlurmSettings:
    """What a submitted job asks SLURM for; None: left to SLURM (its default partition, account, time)."""

    nodes: int = 1
    """Machines; one torchrun on each."""
    gpus_per_node: int = 0
    """Processes (one per GPU) on each machine; 0: a single process without torchrun (CPU or one GPU)."""
    time: str | None = None
    """The job's time limit, as sbatch --time takes it ("04:00:00", "2-00:00:00")."""
    partition: str | None = None
    account: str | None = None
    extra: tuple[str, ...] = ()
    """Further `#SBATCH ...` lines, copied into the script as written."""


KEYS = tuple(f.name for f in fields(SlurmSettings))


def value_problem(key: str, value: Any) -> str:
    """What is wrong with `value` for `key` ("" when nothing): the one check for the file and the command line."""
    if key in ("nodes", "gpus_per_node"):
        least = 1 if key == "nodes" else 0
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            return f"must be a whole number of at least {least}, not {value!r}"
    elif key == "time":
        if not isinstance(value, str) or not TIME.fullmatch(value):
            return f'must be a time limit as sbatch takes it ("04:00:00", "2-00:00:00", "90"), not {value!r}'
    elif key in ("partition", "account"):
        if not isinstance(value, str) or not NAME.fullmatch(value):
            return f"must be a SLURM {key} name (letters, digits, _ . + -), not {value!r}"
    elif key == "extra":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return 'must be a list of lines in quotes: ["#SBATCH --qos=normal"]'
        wrong = next((v for v in value if not EXTRA_LINE.fullmatch(v)), None)
        if wrong is not None:
            return f'each line must be one "#SBATCH --option" line, not {wrong!r}'
    return ""


def check_slurm_table(table: Any, source: str, lines: dict[str, int]) -> tuple[SlurmSettings, list[Problem]]:
    """The settings of a `[slurm]` table, and what is wrong with it (bad keys fall back to their defaults)."""
    if table is None:
        return SlurmSettings(), []
    if not isinstance(table, dict):
        return SlurmSettings(), [Problem(source, "must be a table: [slurm] then lines like nodes = 2", "slurm")]
    problems: list[Problem] = []
    good: dict[str, Any] = {}
    for key, value in table.items():
        where = f"slurm.{key}"
        if key not in KEYS:
            problems.append(
                Problem(source, f"unknown setting; [slurm] takes {', '.join(KEYS)}", where, line_of(lines, where))
            )
            continue
        wrong = value_problem(key, value)
        if wrong:
            problems.append(Problem(source, wrong, where, line_of(lines, where)))
            continue
        good[key] = tuple(value) if key == "extra" else value
    return SlurmSettings(**good), problems


def load_slurm_settings(path: Path | None = None) -> tuple[SlurmSettings, list[Problem]]:
    """The `[slurm]` table of the user's settings file (default `config_path()`), and its problems."""
    read = read_settings_file(path)
    if read.problems:
        return SlurmSettings(), list(read.problems)
    return check_slurm_table(read.table.get("slurm"), read.source, read.lines)
