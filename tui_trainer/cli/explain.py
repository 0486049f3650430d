"""`tui-trainer explain RUN --sample INDEX`: a PNG of where the run's model looked in one validation image
(or, given an evaluation folder, in one of the evaluation's images).

Exit codes as for eval/predict/export: 0 written, 1 the PNG could not be written, 2 unusable input
(no such run or sample, the image gone, a model without a usable layer, the `cam` extra missing,
a `model.target` without --trust-code).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from ..config import PresetError
from ..config.code_trust import trusted_access
from ..engine.cam_methods import DEFAULT_METHOD
from ..models import ModelTargetError
from ..runs.outcome import ExitCode
from ..text import printable, source_path


def default_out(sample: int) -> Path:
    """Where the PNG goes without --out: the current folder (a run folder may belong to someone else)."""
    return Path(f"cam-{sample}.png")


def run_explain(
    run_dir: Path,
    sample: int,
    out_path: Path | None,
    *,
    layer: str | None = None,
    method: str = DEFAULT_METHOD,
    trust_code: bool = False,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    from ..engine.cam import CamError, CamUnavailable
    from ..runs.explain import explain_sample, explanation_png
    from ..runs.folder import RunFolderError

    out, err = out or sys.stdout, err or sys.stderr
    try:
        explanation = explain_sample(run_dir, sample, code=trusted_access(trust_code), layer=layer, method=method)
    except (RunFolderError, PresetError, CamError, CamUnavailable, ModelTargetError) as exc:
        problems = exc.problems if isinstance(exc, PresetError) else [str(exc)]
        for problem in problems:
            print(printable(f"error: {problem}"), file=err)
        return ExitCode.USAGE
    path = out_path or default_out(sample)
    try:
        explanation_png(explanation, path)
    except OSError as exc:
        print(printable(f"error: cannot write {path}: {exc.strerror or exc}"), file=err)
        return ExitCode.FAILED
    rows, columns = explanation.grid
    print(
        printable(
            f"sample {sample} ({source_path(explanation.source)}): {explanation.caption(1)}, {explanation.caption(0)}; "
            f"{explanation.method} on layer {explanation.layer} ({rows}×{columns}) of {explanation.checkpoint}.pt "
            f"-> {path}"
        ),
        file=out,
    )
    return ExitCode.OK
