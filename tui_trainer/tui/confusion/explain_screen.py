"""Where it looked: one validation (or evaluation) image beside the class-activation maps of its predicted and
its true class.

The maps are computed by `tui_trainer.runs.explain` in a thread worker (a second or two on a CPU);
the screen says what it is doing meanwhile and every key keeps working. Each image is a `Picture`:
the pixels themselves where the terminal shows them, half blocks elsewhere, as large as its panel allows.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual.worker import Worker, WorkerState

from ...config import PresetError
from ...config.code_trust import TargetAccess
from ...engine.cam import CamError, CamUnavailable
from ...models import ModelTargetError
from ...runs import explain as run_explain
from ...runs.eval_folder import is_eval_folder
from ...runs.explain import Explanation
from ...runs.folder import RunFolderError
from ...runs.view import RunView
from ...text import printable, source_path
from ..common.code_prompt import ask_about_run
from .picture import Picture

PANELS = 3
USER_ERRORS = (RunFolderError, PresetError, CamError, CamUnavailable, ModelTargetError)
"""What a run folder, its preset or a missing extra can cause: shown as the message alone."""


def show_where_it_looked(
    screen: Screen, view: RunView, sample: int | None, trust_code: bool, *, training: bool = False
) -> None:
    """Open the maps of `sample` of `view`, a run's validation or an evaluation (after the question about the
    run's model code, if any); a notice says why not when there is no image or no folder. `trust_code`:
    --trust-code; `training`: `sample` numbers the run's training images (the review list's out-of-fold
    ranking), not its validation images."""
    run_dir = view.run_dir
    if sample is None:
        screen.notify("No image here to explain.", severity="warning")
        return
    if run_dir is None or not (view.scope == "val" or is_eval_folder(Path(run_dir))):
        screen.notify(
            "Where it looked works on a run folder's validation images and on an evaluation's.", severity="warning"
        )
        return
    path = Path(run_dir)
    try:
        owner = run_explain.model_folder(path)  # an evaluation's model is its run's: that run's code is asked about
    except RunFolderError as exc:
        screen.notify(printable(str(exc)), severity="warning", markup=False)
        return

    def explain(code: TargetAccess | None) -> None:
        screen.app.push_screen(ExplainScreen(path, sample, code, training=training))

    ask_about_run(screen.app, owner, trust_code, explain)


class ExplainScreen(Screen):
    """The sample's image | predicted-class map | true-class map, each captioned; escape goes back."""

    HELP_TITLE = "where it looked"

    DEFAULT_CSS = """
    ExplainScreen #explain-title {
        height: auto;
        padding: 0 1;
        background: $boost;
    }
    ExplainScreen #explain-status {
        height: auto;
        padding: 0 1;
    }
    ExplainScreen #explain-status.-error {
        color: $warning;
    }
    ExplainScreen #explain-panels {
        height: 1fr;
        padding: 0 1;
    }
    ExplainScreen .explain-panel {
        width: 1fr;
        height: 1fr;
    }
    ExplainScreen .explain-panel Picture {
        /* A row below: a Sixel image's last band moves the cursor below it (see SampleViewScreen). */
        padding: 0 1 1 0;
    }
    ExplainScreen .explain-caption {
        height: 1;
        text-style: bold;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="explain.back"),
    ]

    def __init__(self, run_dir: Path, sample: int, code: TargetAccess | None = None, *, training: bool = False) -> None:
        """`code`: where the run's `model.target` may be imported from (the user was asked before); `training`:
        `sample` is one of the run's training images."""
        super().__init__()
        self.run_dir = Path(run_dir)
        self.sample = sample
        self.code = code
        self.training = training
        self.explanation: Explanation | None = None

    def compose(self) -> ComposeResult:
        images = "evaluation" if is_eval_folder(self.run_dir) else "training" if self.training else "validation"
        yield Static(Text(f"Where it looked · {images} image #{self.sample}", "bold"), id="explain-title")
        yield Static(id="explain-status")
        with Horizontal(id="explain-panels"):
            for i in range(PANELS):
                with Vertical(classes="explain-panel"):
                    yield Picture(id=f"explain-image-{i}")
                    yield Static(classes="explain-caption", id=f"explain-caption-{i}", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#explain-status", Static).update(
            f"Computing the class-activation maps of #{self.sample} from {printable(self.run_dir.name)}… "
            "(the first time also loads the grad-cam library: several seconds)"
        )
        self.compute()

    @work(thread=True, exclusive=True, exit_on_error=False, name="explain")
    def compute(self) -> Explanation:
        return run_explain.explain_sample(self.run_dir, self.sample, code=self.code, training=self.training)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        status = self.query_one("#explain-status", Static)
        if event.state == WorkerState.SUCCESS and isinstance(event.worker.result, Explanation):
            self.explanation = event.worker.result
            status.update(self._summary(self.explanation))
            self._draw()
        elif event.state == WorkerState.ERROR:
            error = event.worker.error
            known = isinstance(error, USER_ERRORS)
            message = str(error) if known else f"{type(error).__name__}: {error} (a bug in tui-trainer or the model)"
            status.update(Text(printable(f"Cannot show where it looked: {message}", lines=True)))
            status.add_class("-error")

    @staticmethod
    def _summary(explanation: Explanation) -> Text:
        rows, columns = explanation.grid
        return Text.assemble(
            printable(source_path(explanation.source)),
            (
                f"\n{explanation.method} of {explanation.checkpoint}.pt at layer {printable(explanation.layer)} "
                f"({rows}×{columns}); red: where the class's evidence is strongest",
                "dim",
            ),
        )

    def _draw(self) -> None:
        explanation = self.explanation
        if explanation is None:
            return
        images = (explanation.image, *explanation.overlays)
        captions = (f"#{explanation.sample} as the model sees it", explanation.caption(0), explanation.caption(1))
        for i, (image, caption) in enumerate(zip(images, captions, strict=True)):
            self.query_one(f"#explain-image-{i}", Picture).image = image
            self.query_one(f"#explain-caption-{i}", Static).update(printable(caption))

    def action_back(self) -> None:
        self.dismiss()
