"""A run's state, as status.json records it, and the one rule for how it may change.

Every writer of a run's state goes through `advance`, so a run cannot read `finished` and then
`running` without a resume having taken it, and a state no one meant to write is refused where it
is written instead of puzzling whoever reads the runs list later.
"""

from __future__ import annotations

from enum import Enum


class RunState(str, Enum):
    PENDING = "pending"  # submitted to SLURM (`tui-trainer submit`), its job not started yet
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # stopped by the user or a signal, last.pt written: resumable
    PRUNED = "pruned"  # a sweep stopped it early: its trial is over

    def __str__(self) -> str:
        return self.value


ENDED = (RunState.FINISHED, RunState.FAILED, RunState.INTERRUPTED, RunState.PRUNED)

_NEXT: dict[RunState | None, frozenset[RunState]] = {
    None: frozenset({RunState.RUNNING, RunState.PENDING}),  # a new folder starts running, or waits for its job
    RunState.PENDING: frozenset({RunState.RUNNING, RunState.PENDING, RunState.FAILED}),  # failed: sbatch refused it
    RunState.RUNNING: frozenset(RunState) - {RunState.PENDING},  # it runs on (a resume reports again) or ends
    RunState.INTERRUPTED: frozenset({RunState.RUNNING, RunState.INTERRUPTED, RunState.FAILED, RunState.PRUNED}),
    RunState.FAILED: frozenset({RunState.RUNNING, RunState.FAILED}),  # resumed from last.pt, or failed again
    RunState.FINISHED: frozenset({RunState.RUNNING, RunState.FINISHED}),  # a finished run extended by more epochs
    RunState.PRUNED: frozenset({RunState.PRUNED}),
}


class IllegalTransition(ValueError):
    """A state change no part of tui-trainer makes: a bug in the writer, not the user's problem."""


def advance(current: object, new: RunState | str) -> RunState:
    """`new` as a RunState when a run in `current` may go there; IllegalTransition otherwise.

    `current` is what status.json holds: None for a new folder; a word tui-trainer never writes (a
    hand-edited file) constrains nothing, since the folder is not in a state this rule knows.
    """
    target = RunState(new)
    if current is not None and current not in {state.value for state in RunState}:
        return target
    before = RunState(current) if current is not None else None
    if target not in _NEXT[before]:
        raise IllegalTransition(f"a run cannot go from {before or 'nothing'} to {target}")
    return target
