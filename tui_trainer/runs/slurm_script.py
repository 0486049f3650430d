"""The sbatch script `tui-trainer submit` writes: one line that trains a preset into its run folder.

The script is meant to be kept and edited, so it reads like one a user would write (README, "On a
cluster"): the job's resources as `#SBATCH` lines, then `exec` of one command. Everything a user or
a preset wrote that reaches the shell (the preset's path or name, the run folder, `--set` values)
is quoted with `shlex.quote`; what reaches an `#SBATCH` line is checked in `config.slurm_settings`
(or here, for the run folder), since sbatch reads those lines itself.

One machine without GPUs, or with one: a single `tui-trainer train` process, which SLURM's warning
signal reaches as the batch shell (`B:USR1`). More: `srun` starts one torchrun on each machine
(`--ntasks-per-node=1`), which meet at the first machine of the job; SLURM signals every process of
that step, and torchrun passes SIGUSR1 on to its workers instead of dying of it.
"""

from __future__ import annotations

import re
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..config.slurm_settings import SlurmSettings

WARNING_SECONDS = 90
"""SLURM's warning signal comes this long before the time limit: room for one checkpoint."""
OUTPUT_NAME = "slurm-%j.out"
"""The job's output, in the run folder (%j: the job id; a requeued job appends to the same file)."""
PORT_BASE = 20000
"""torchrun's rendezvous port is PORT_BASE + job id % 10000, so two jobs on one machine do not collide."""
HANDLED_SIGNALS = "SIGTERM,SIGINT,SIGHUP,SIGQUIT,SIGUSR1"
"""What torchrun passes on to its workers: its defaults and SLURM's warning."""
UNSAFE_IN_DIRECTIVE = re.compile(r'[\x00-\x1f\x7f"%\\]')
"""What an `#SBATCH --output=` path may not hold: sbatch reads the line itself, and % starts its patterns."""


@dataclass(frozen=True)
class JobScript:
    """What the script runs: `preset` as given to `train` (a built-in's name or an absolute path)."""

    preset: str
    run_dir: Path  # absolute
    overrides: tuple[str, ...] = ()
    job_name: str = "tui-trainer"
    settings: SlurmSettings = field(default_factory=SlurmSettings)

    @property
    def distributed(self) -> bool:
        """Whether the job runs torchrun (several machines, or several GPUs on one)."""
        return self.settings.nodes > 1 or self.settings.gpus_per_node > 1


def run_dir_problem(run_dir: Path) -> str:
    """Why `run_dir` cannot be named on an `#SBATCH --output=` line ("" when it can)."""
    if UNSAFE_IN_DIRECTIVE.search(str(run_dir)):
        return "a run folder for a SLURM job may not hold control characters, double quotes, % or backslashes"
    return ""


def executable(name: str) -> str:
    """`name` beside this Python (the same installation in the job), else as found on the job's PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else name


def sbatch_script(job: JobScript) -> str:
    """The whole script, ending in a newline."""
    s = job.settings
    output = job.run_dir / OUTPUT_NAME
    directives = [
        f"--job-name={job.job_name}",
        f"--nodes={s.nodes}",
        *(["--ntasks-per-node=1"] if job.distributed else []),
        *([f"--gpus-per-node={s.gpus_per_node}"] if s.gpus_per_node else []),
        *([f"--time={s.time}"] if s.time else []),
        *([f"--partition={s.partition}"] if s.partition else []),
        *([f"--account={s.account}"] if s.account else []),
        "--requeue",
        # The batch shell alone (B:) when tui-trainer is that shell; every process of the step under srun.
        f"--signal={'' if job.distributed else 'B:'}USR1@{WARNING_SECONDS}",
        "--open-mode=append",
        f'--output="{output}"' if " " in str(output) else f"--output={output}",
    ]
    train = ["train", job.preset, "--run-dir", str(job.run_dir)]
    for override in job.overrides:
        train += ["--set", override]
    lines = [
        "#!/bin/bash",
        "# Written by `tui-trainer submit`: keep it, edit it, `sbatch` it again. The same line starts the run",
        "# in its folder, resumes it after a requeue or a cancel, and does nothing once it has finished.",
        *(f"#SBATCH {d}" for d in directives),
        *job.settings.extra,
    ]
    if not job.distributed:
        lines.append(f"exec {shlex.join([executable('tui-trainer'), *train])}")
        return "\n".join(lines) + "\n"
    torchrun = [  # one line each, joined with backslashes
        [executable("torchrun"), "--nnodes", "$SLURM_NNODES", "--nproc-per-node", str(max(1, s.gpus_per_node))],
        ["--rdzv-backend", "c10d", "--rdzv-endpoint", "$head_node:$port", "--rdzv-id", "$SLURM_JOB_ID"],
        ["--signals-to-handle", HANDLED_SIGNALS, "-m", "tui_trainer"],
    ]
    lines += [
        "set -eu",
        'head_node=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)',
        f"port=$(({PORT_BASE} + SLURM_JOB_ID % 10000))",
        "exec srun " + " \\\n    ".join([*map(_shell_words, torchrun), shlex.join(train)]),
    ]
    return "\n".join(lines) + "\n"


def _shell_words(words: Sequence[str]) -> str:
    """Words for the shell: quoted, except that a `$variable` of the script is left for it to expand."""
    return " ".join(f'"{w}"' if w.startswith("$") else shlex.quote(w) for w in words)
