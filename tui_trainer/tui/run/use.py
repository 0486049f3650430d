"""Evaluate and export a run from the console: the App's actions and the thread workers behind them.

The work is `tui_trainer.runs.evaluate` / `tui_trainer.runs.export`, the same as `--eval` and
`--export`; it runs on a worker thread, and its outcome comes back to the UI thread as a
notification, the confusion screen of the new evaluation, or an error screen. A run whose preset
has a `model.target` is used only after a yes in `code_prompt`'s dialog (or with --trust-code).
"""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work

from ...config.code_trust import TargetAccess
from ...runs.eval_folder import list_evals
from ..common.code_prompt import ask_about_run
from ..common.error_screen import ErrorScreen

if TYPE_CHECKING:
    from ...runs.evaluate import Evaluation
    from ...runs.export import ExportResult
    from ...runs.view import RunView


class RunUseActions:
    """Mixed into the App: `evaluate_run(path)`, `export_run(path)`, and actions on the current run."""

    history: RunView | None
    trust_code: bool

    def _current_run_dir(self) -> Path | None:
        history = self.history
        if history is None or history.run_dir is None:
            self.notify("Open a run first (ctrl+l: runs)", severity="warning")  # type: ignore[attr-defined]
            return None
        return Path(history.run_dir)

    def use_run_available(self) -> bool:
        """Whether the current run has a checkpoint to evaluate or export."""
        history = self.history
        return history is not None and history.run_dir is not None and bool(history.epochs)

    # ---- evaluate ------------------------------------------------------------------------------

    def action_evaluate(self) -> None:
        path = self._current_run_dir()
        if path is not None:
            self.evaluate_run(path)

    def evaluate_run(self, path: Path) -> None:
        """Score the run's best checkpoint on its test/ split (else validation), then show the matrix."""

        def evaluate(code: TargetAccess | None) -> None:
            self.notify(f"Evaluating {Path(path).name}…")  # type: ignore[attr-defined]
            self._evaluate_worker(Path(path), code)

        ask_about_run(self, Path(path), self.trust_code, evaluate)  # type: ignore[arg-type]

    @work(thread=True, exit_on_error=False, group="use-run", name="evaluate")
    def _evaluate_worker(self, path: Path, code: TargetAccess | None) -> None:
        from ...runs.evaluate import evaluate_run

        try:
            evaluation = evaluate_run(path, code=code)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a screen the user can read
            self.call_from_thread(self._failed, "Cannot evaluate", exc)  # type: ignore[attr-defined]
            return
        self.call_from_thread(self._evaluated, evaluation)  # type: ignore[attr-defined]

    def _evaluated(self, evaluation: Evaluation) -> None:
        report = evaluation.report
        self.notify(  # type: ignore[attr-defined]
            f"{report['accuracy'] * 100:.2f}% on {report['images']} images of {report['data']}; "
            f"saved in {evaluation.folder.path}",
            title="Evaluation",
            timeout=10,
        )
        self.open_evaluation(evaluation.folder.path)

    def action_open_evaluation(self) -> None:
        path = self._current_run_dir()
        if path is None:
            return
        evals = list_evals(path)
        if not evals:
            self.notify("This run has no evaluation yet: evaluate it first", severity="warning")  # type: ignore[attr-defined]
            return
        self.open_evaluation(evals[-1].path)

    def open_evaluation(self, path: Path) -> None:
        """An evaluation folder in the confusion screen (drill-down into its images included)."""
        from ..confusion.screen import ConfusionScreen

        try:
            screen = ConfusionScreen.from_eval_dir(path)
        except (OSError, ValueError, KeyError) as exc:
            self.push_screen(ErrorScreen("Cannot open the evaluation", str(exc)))  # type: ignore[attr-defined]
            return
        self.push_screen(screen)  # type: ignore[attr-defined]

    # ---- export --------------------------------------------------------------------------------

    def action_export(self) -> None:
        path = self._current_run_dir()
        if path is not None:
            self.export_run(path)

    def export_run(self, path: Path, fmt: str = "onnx") -> None:
        """Export the run's best checkpoint to RUN_DIR/export/, checked against PyTorch."""

        def export(code: TargetAccess | None) -> None:
            self.notify(f"Exporting {Path(path).name} to {fmt}…")  # type: ignore[attr-defined]
            self._export_worker(Path(path), fmt, code)

        ask_about_run(self, Path(path), self.trust_code, export)  # type: ignore[arg-type]

    @work(thread=True, exit_on_error=False, group="use-run", name="export")
    def _export_worker(self, path: Path, fmt: str, code: TargetAccess | None) -> None:
        from ...runs.export import export_run

        try:
            result = export_run(path, fmt, code=code)
        except Exception as exc:  # noqa: BLE001
            self.call_from_thread(self._failed, "Export failed", exc)  # type: ignore[attr-defined]
            return
        self.call_from_thread(self._exported, result)  # type: ignore[attr-defined]

    def _exported(self, result: ExportResult) -> None:
        self.notify(  # type: ignore[attr-defined]
            f"{result.path} (parity on {result.images} images: max error {result.max_abs_error:.1e}); "
            f"how to use it: {result.sidecar.name}",
            title="Exported",
            timeout=10,
        )

    def _failed(self, title: str, exc: Exception) -> None:
        details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self.push_screen(ErrorScreen(title, str(exc), details=details))  # type: ignore[attr-defined]
