"""`tui-trainer --eval / --predict / --export RUN_DIR`: use a trained run's model from the shell.

Each returns the process exit code: 0 done, 1 a job that failed (an unreadable image for
--predict, a failed parity check for --export), 2 unusable input (no such run, wrong classes,
a missing optional extra, a `model.target` without --trust-code or that is not allowed).
"""

from __future__ import annotations

import csv
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from .config import PresetError
from .config.code_trust import trusted_access
from .models import ModelTargetError
from .setup_text import setup_text

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _usage_error(exc: Exception, err: TextIO) -> int:
    problems = exc.problems if isinstance(exc, PresetError) else [str(exc)]
    for problem in problems:
        print(f"error: {problem}", file=err)
    return EXIT_USAGE


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
    from .data import DataError
    from .runs.evaluate import evaluate_run, format_report
    from .runs.folder import RunFolderError

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
    print(format_report(evaluation.report), file=out)
    print(f"\nwritten: {evaluation.folder.path} (open it with: tui-trainer {evaluation.folder.path})", file=out)
    return EXIT_OK


def run_predict(
    run_dir: Path,
    paths: Sequence[Path],
    top_k: int,
    checkpoint: str,
    out: TextIO | None = None,
    err: TextIO | None = None,
    trust_code: bool = False,
) -> int:
    from .data.eval_images import collect_files
    from .runs.folder import RunFolderError
    from .runs.predict import csv_header, csv_row, predict_files
    from .runs.trained_model import load_run_model

    out, err = out or sys.stdout, err or sys.stderr
    if top_k < 1:
        print("error: --top-k must be at least 1", file=err)
        return EXIT_USAGE
    try:
        run = load_run_model(run_dir, checkpoint, code=trusted_access(trust_code))  # type: ignore[arg-type]
    except (RunFolderError, PresetError, ModelTargetError) as exc:
        return _usage_error(exc, err)
    files, problems = collect_files(paths)
    for problem in problems:
        print(f"error: {problem}", file=err)
    failures = len(problems)

    def failed(message: str) -> None:
        nonlocal failures
        failures += 1
        print(f"error: {message} (skipped)", file=err, flush=True)

    k = min(top_k, len(run.classes))
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(csv_header(k))
    started, done = time.perf_counter(), 0
    for prediction in predict_files(run, files, k, failed):
        writer.writerow(csv_row(prediction))
        done += 1
    seconds = time.perf_counter() - started
    rate = f", {done / seconds:,.0f} images/s" if seconds > 0 and done else ""
    print(f"predicted {done} images on {run.device}{rate}; {failures} failed", file=err)
    return EXIT_FAILED if failures else EXIT_OK


def run_export(
    run_dir: Path,
    fmt: str,
    out_path: Path | None,
    checkpoint: str,
    out: TextIO | None = None,
    err: TextIO | None = None,
    trust_code: bool = False,
) -> int:
    from .data import DataError
    from .runs.export import ExportMismatch, ExportUnavailable, export_run
    from .runs.folder import RunFolderError

    out, err = out or sys.stdout, err or sys.stderr
    if out_path is not None and out_path.exists():
        print(f"error: {out_path} exists; delete it or give another --out", file=err)
        return EXIT_USAGE
    try:
        result = export_run(run_dir, fmt, out_path, checkpoint, code=trusted_access(trust_code))  # type: ignore[arg-type]
    except (ExportUnavailable, RunFolderError, PresetError, DataError, ModelTargetError) as exc:
        return _usage_error(exc, err)
    except ExportMismatch as exc:
        print(f"error: {exc}", file=err)
        return EXIT_FAILED
    print(
        f"exported {result.path} ({fmt}); parity on {result.images} validation images: "
        f"max |logit difference| {result.max_abs_error:.2e}\nhow to use it: {result.sidecar}",
        file=out,
    )
    return EXIT_OK
