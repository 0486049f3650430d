"""Write a run's events into its folder: status, metrics and predictions as they happen."""

from __future__ import annotations

from ..engine.events import EpochFinished, Event, RunFailed, RunFinished, RunStarted
from .folder import RunFolder, now_iso


class RunRecorder:
    """An event listener that keeps the run folder up to date (rank 0 only)."""

    def __init__(self, folder: RunFolder) -> None:
        self.folder = folder

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.folder.write_status(
                state="running",
                preset_name=event.preset_name,
                epochs_planned=event.epochs,
                device=event.device,
                precision=event.precision,
                classes=list(event.classes),
                ended_at=None,
                error=None,
                hint=None,
            )
        elif isinstance(event, EpochFinished):
            self.folder.append_metrics(event.metrics)
            p = event.predictions
            arrays = {
                "labels": p.labels,
                "predictions": p.predictions,
                "confidences": p.confidences,
                "losses": p.losses,
                "confusion": event.confusion,
            }
            self.folder.write_predictions("last", event.epoch, arrays, p.classes)
            if event.is_best:
                self.folder.write_predictions("best", event.epoch, arrays, p.classes)
            fields = {"epochs_done": event.epoch, "updated_at": now_iso()}
            if event.is_best:
                fields.update(best_val_acc=event.metrics["val_acc"], best_epoch=event.epoch)
            self.folder.write_status(**fields)
        elif isinstance(event, RunFinished):
            self.folder.write_status(state=event.state, ended_at=now_iso(), epochs_done=event.epochs_done)
        elif isinstance(event, RunFailed):
            self.folder.write_status(state="failed", ended_at=now_iso(), error=event.error, hint=event.hint)
