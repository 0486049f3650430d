"""What `train --resume RUN --set ...` and `train --fork RUN@K` ask for, checked before any training.

A resumed run may change only its length (`train.epochs`, to extend a finished run) and, with
`--schedule`, what the added epochs' learning rate does; everything else made the run what it is,
so changing it is a new run (or a fork).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..config.loading import PresetError, Problem, parse_override

RESUME_KEYS = ("train.epochs",)
"""The only keys `--set` may change on `--resume`."""


def extension_epochs(overrides: Sequence[str]) -> int | None:
    """The new total of epochs a `--resume` asks for (None: none asked); PresetError naming a key it may not set."""
    epochs = None
    for assignment in overrides:
        parts, value = parse_override(assignment)
        key = ".".join(parts)
        if key not in RESUME_KEYS:
            raise PresetError(
                [
                    Problem(
                        f"--set {assignment}",
                        f"a resumed run may change only {', '.join(RESUME_KEYS)} (to extend it); "
                        "to change the rest, start a new run or fork this one (--fork RUN_DIR@EPOCH)",
                        key=key,
                    )
                ]
            )
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise PresetError([Problem(f"--set {assignment}", "must be a whole number of epochs, 1 or more", key=key)])
        epochs = value
    return epochs
