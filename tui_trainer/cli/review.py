"""`tui-trainer review RUN --train`: out-of-fold predictions of a run's training set, for its label review.

Exit codes as for eval: 0 written, 1 the file could not be written, 2 unusable input (no such run,
a bad preset or data, a `model.target` without --trust-code, a run folder that is not the user's
without --out), 130 interrupted (nothing written).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from ..config import PresetError
from ..config.code_trust import trusted_access
from ..models import ModelTargetError
from ..runs.outcome import ExitCode
from ..text import printable
from .model_commands import _error, _progress, _usage_error


def run_review(
    run_dir: Path,
    *,
    folds: int,
    epochs: int | None,
    out_dir: Path | None,
    trust_code: bool = False,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    from ..data import DataError
    from ..engine.device import DeviceError
    from ..runs.folder import RunFolderError
    from ..runs.label_review import find_label_issues
    from ..runs.out_of_fold import FoldEpoch, FoldsStopped, FoldStarted, review_training_set

    out, err = out or sys.stdout, err or sys.stderr
    where = ["before the first fold"]

    def report(event: FoldStarted | FoldEpoch) -> None:
        if isinstance(event, FoldStarted):
            where[0] = f"in fold {event.fold}/{event.folds} ({event.fold - 1} done)"
            line = (
                f"fold {event.fold}/{event.folds}: training on {event.train_images} images, "
                f"predicting the {event.held_out_images} held out"
            )
        else:
            line = (
                f"fold {event.fold}/{event.folds} · epoch {event.epoch}/{event.epochs} · "
                f"loss {event.train_loss:.4f} · held-out acc {event.held_out_acc * 100:.1f}%"
            )
        print(line, file=out, flush=True)

    try:
        result = review_training_set(
            run_dir,
            folds=folds,
            epochs=epochs,
            out_dir=out_dir,
            code=trusted_access(trust_code),
            listener=report,
            data_progress=_progress(err),
        )
    except (RunFolderError, PresetError, DataError, DeviceError, ModelTargetError) as exc:
        return _usage_error(exc, err)
    except (KeyboardInterrupt, FoldsStopped):
        _error(f"interrupted {where[0]}: nothing written (an earlier file, if any, is unchanged)", err)
        return ExitCode.INTERRUPTED
    except OSError as exc:
        _error(f"cannot write the out-of-fold predictions: {exc.strerror or exc}", err)
        return ExitCode.FAILED
    p = result.predictions
    assert p.probabilities is not None
    issues = find_label_issues(p.labels, p.probabilities)
    where_shown = (
        "`l` on the run's confusion screen, then `t`, lists them"
        if out_dir is None
        else "the console lists them once the file is in the run folder"
    )
    print(
        printable(
            f"{result.file}: {len(issues)} likely label errors among {len(p.labels)} training images, ranked on "
            f"out-of-fold predictions ({result.folds} folds, {result.epochs} epochs each); {where_shown}"
        ),
        file=out,
    )
    return ExitCode.OK
