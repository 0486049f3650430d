"""`tui-trainer --eval / --predict / --export RUN_DIR`: use a trained run's model from the shell.

Each returns the process exit code: 0 done, 1 a job that failed (an unreadable image for
--predict, a failed parity check for --export, a run folder or disk that cannot be written),
2 unusable input (no such run, wrong classes, a missing optional extra, an --out that cannot be
written, a `model.target` without --trust-code or that is not allowed). Paths and names are printed
through `printable`: a file name may hold escape sequences.
"""

from __future__ import annotations

import csv
import errno
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from ..config import PresetError
from ..config.code_trust import trusted_access
from ..models import ModelTargetError
from ..runs.outcome import ExitCode
from ..text import command_line, printable, setup_text


def _usage_error(exc: Exception, err: TextIO) -> int:
    problems = exc.problems if isinstance(exc, PresetError) else [str(exc)]
    for problem in problems:
        _error(problem, err)
    return ExitCode.USAGE


def _error(message: object, err: TextIO) -> None:
    print(printable(f"error: {message}"), file=err, flush=True)


def _progress(err: TextIO):
    last = [""]

    def report(stage: str, done: int, total: int) -> None:
        if stage != last[0] or (total and done == total):
            last[0] = stage
            print(setup_text(stage, done, total), file=err, flush=True)

    return report


def run_eval(
    run_dir: Path,
    data: Path | None,
    checkpoint: str,
    tta: bool,
    out: TextIO | None = None,
    err: TextIO | None = None,
    trust_code: bool = False,
) -> int:
    from ..data import DataError
    from ..runs.evaluate import EvalWriteError, evaluate_run, format_report
    from ..runs.folder import RunFolderError

    out, err = out or sys.stdout, err or sys.stderr
    try:
        evaluation = evaluate_run(
            run_dir,
            data,
            checkpoint,  # type: ignore[arg-type]
            tta,
            progress=_progress(err),
            code=trusted_access(trust_code),
        )
    except (RunFolderError, PresetError, DataError, ModelTargetError) as exc:
        return _usage_error(exc, err)
    except EvalWriteError as exc:
        _error(exc, err)
        return ExitCode.FAILED
    written = evaluation.folder.path
    print(format_report(evaluation.report), file=out)
    print(f"\nwritten: {printable(written)} (open it with: {command_line('tui-trainer', written)})", file=out)
    return ExitCode.OK


def run_predict(
    run_dir: Path,
    paths: Sequence[Path],
    top_k: int,
    checkpoint: str,
    out: TextIO | None = None,
    err: TextIO | None = None,
    trust_code: bool = False,
) -> int:
    from ..data.eval_images import collect_files
    from ..runs.folder import RunFolderError
    from ..runs.predict import csv_header, csv_row, predict_files
    from ..runs.trained_model import load_run_model

    out, err = out or sys.stdout, err or sys.stderr
    if top_k < 1:
        print("error: --top-k must be at least 1", file=err)
        return ExitCode.USAGE
    try:
        run = load_run_model(run_dir, checkpoint, code=trusted_access(trust_code))  # type: ignore[arg-type]
    except (RunFolderError, PresetError, ModelTargetError) as exc:
        return _usage_error(exc, err)
    files, problems = collect_files(paths)
    for problem in problems:
        _error(problem, err)
    failures = len(problems)

    def failed(message: str) -> None:
        nonlocal failures
        failures += 1
        _error(f"{message} (skipped)", err)

    k = min(top_k, len(run.classes))
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(csv_header(k))
    started, done = time.perf_counter(), 0
    for prediction in predict_files(run, files, k, failed):
        writer.writerow(csv_row(prediction))
        done += 1
    seconds = time.perf_counter() - started
    rate = f", {done / seconds:,.0f} images/s" if seconds > 0 and done else ""
    print(f"predicted {done} image{'' if done == 1 else 's'} on {run.device}{rate}; {failures} failed", file=err)
    return ExitCode.FAILED if failures else ExitCode.OK


def run_export(
    run_dir: Path,
    fmt: str,
    out_path: Path | None,
    checkpoint: str,
    out: TextIO | None = None,
    err: TextIO | None = None,
    trust_code: bool = False,
) -> int:
    from ..data import DataError
    from ..runs.export import ExportMismatch, ExportUnavailable, ExportWriteError, default_out, export_run
    from ..runs.folder import RunFolderError

    out, err = out or sys.stdout, err or sys.stderr
    if out_path is not None and out_path.exists():
        _error(f"{out_path} exists; delete it or give another --out", err)
        return ExitCode.USAGE
    replaces = out_path is None and default_out(run_dir, checkpoint, fmt).exists()  # type: ignore[arg-type]
    try:
        result = export_run(run_dir, fmt, out_path, checkpoint, code=trusted_access(trust_code))  # type: ignore[arg-type]
    except (ExportUnavailable, RunFolderError, PresetError, DataError, ModelTargetError) as exc:
        return _usage_error(exc, err)
    except ExportWriteError as exc:
        _error(exc, err)
        return (
            ExitCode.USAGE
            if out_path is not None and exc.errno not in (errno.ENOSPC, errno.EDQUOT)
            else ExitCode.FAILED
        )
    except ExportMismatch as exc:
        _error(exc, err)
        return ExitCode.FAILED
    print(
        f"exported {printable(result.path)} ({fmt}{', replacing the previous export' if replaces else ''}); "
        f"parity on {result.images} validation images: max |logit difference| {result.max_abs_error:.2e}\n"
        f"how to use it: {printable(result.sidecar)}",
        file=out,
    )
    return ExitCode.OK
