"""What a training run tells the world: small frozen records, sent to any number of listeners.

The engine knows nothing of Textual or rich. The headless CLI prints these events, the console
turns them into Textual messages, tests collect them in a list. Values are plain Python and
numpy, never tensors, so a listener on another thread cannot touch device memory.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np

from .health import Health


@dataclass(frozen=True)
class RunStarted:
    run_dir: str
    preset_name: str
    epochs: int  # planned total
    start_epoch: int  # 1 on a fresh run, k + 1 when resuming after epoch k
    batches_per_epoch: int
    train_images: int
    val_images: int
    classes: tuple[str, ...]
    device: str
    precision: str
    storage: str = ""  # "device" | "stream": where batches come from
    storage_reason: str = ""
    threads: int = 0  # CPU intra-op threads
    threads_reason: str = ""
    start_batch: int = 0  # batches of start_epoch already trained (a run resumed inside an epoch)


@dataclass(frozen=True)
class SetupProgress:
    """Work before the first batch that can take a while (decoding a dataset, compiling)."""

    stage: str  # e.g. "decoding train images"
    done: int
    total: int  # 0 when unknown
    rate: float = 0.0  # items per second so far (decoding: images/s), 0 when unknown
    eta: float = 0.0  # seconds left at that rate, 0 when unknown


@dataclass(frozen=True)
class BatchProgress:
    """Sent at most ~10 times a second, and after the last batch of an epoch."""

    epoch: int
    batch: int  # 1-based, batches done in this epoch
    batches: int
    loss: float  # mean training loss over this epoch so far
    accuracy: float  # training accuracy over this epoch so far (0-1)
    images_per_second: float
    lr: float
    seconds: float  # since the epoch started
    health: Health | None = None  # step timing, gradient norm, CPU/GPU figures (None: not measured)


@dataclass(frozen=True)
class Predictions:
    """Every validation sample's outcome, in validation order (what the confusion screen reads)."""

    labels: np.ndarray  # int64 [N]
    predictions: np.ndarray  # int64 [N]
    confidences: np.ndarray  # float32 [N], softmax probability of the predicted class
    losses: np.ndarray  # float32 [N], per-sample loss
    classes: tuple[str, ...]
    probabilities: np.ndarray | None = None
    """float16 [N, K]: each sample's softmax, columns in class order; None in files written before
    runs kept them (what ROC, precision-recall and calibration need)."""


@dataclass(frozen=True)
class EpochFinished:
    epoch: int  # 1-based
    epochs: int
    metrics: dict[str, float]  # the metrics.jsonl record: train_loss, val_acc, lr, ...
    confusion: np.ndarray  # int64 [K, K], rows = true class, columns = predicted
    predictions: Predictions
    is_best: bool


@dataclass(frozen=True)
class RunFinished:
    run_dir: str
    state: str  # "finished" or "interrupted"
    epochs_done: int
    best_val_acc: float | None
    best_epoch: int | None
    seconds: float
    """Training time. From the trainer: its running clock (pauses and set-up left out); the listeners
    of a run with a folder get the folder's figure instead (`runs.timing`: set-up in, pauses out), the
    one every front end tells. A stop during set-up: the set-up's time."""
    setup_stage: str = ""  # the set-up stage a stop ended ("decode train"); "" once training began


@dataclass(frozen=True)
class RunFailed:
    run_dir: str
    error: str  # one line, for the user
    hint: str  # what to try, may be ""
    details: str = ""  # traceback, for the log
    user_error: bool = False
    """True: the preset, the data or the machine is at fault and `error` and `hint` say what to change;
    False: an exception nobody anticipated (a bug), whose traceback in `details` is what matters."""


@dataclass(frozen=True)
class RunPaused:
    """The loop has finished its batch and now holds between batches (after `RunControl.pause`), not
    when `p` was pressed: the run folder and every follower say "paused" from here on."""

    since: float | None
    """Wall time (`time.time()`) the hold began; None: not known (a follower's, of a stopped process)."""


@dataclass(frozen=True)
class RunResumed:
    """The loop leaves its hold: resumed, or woken to stop (then `RunFinished` follows)."""


Event = Union[SetupProgress, RunStarted, BatchProgress, EpochFinished, RunPaused, RunResumed, RunFinished, RunFailed]  # noqa: UP007 - runtime alias on 3.10
Listener = Callable[[Event], None]


@dataclass
class RunControl:
    """How a front end steers a running loop: checked between batches, safe from any thread.

    `running_clock` is `clock` standing still while the run is held, so the loop's timings
    (img/s, epoch seconds, ETA) measure training, never the minutes it spent paused.
    """

    stop_requested: threading.Event = field(default_factory=threading.Event)
    resume_allowed: threading.Event = field(default_factory=threading.Event)
    clock: Callable[[], float] = time.perf_counter
    paused_seconds: float = field(default=0.0, init=False)  # written by the loop's thread only

    def __post_init__(self) -> None:
        self.resume_allowed.set()  # not paused

    def stop(self) -> None:
        self.stop_requested.set()
        self.resume_allowed.set()  # a paused run must wake up to stop

    def pause(self) -> None:
        self.resume_allowed.clear()

    def resume(self) -> None:
        self.resume_allowed.set()

    @property
    def paused(self) -> bool:
        return not self.resume_allowed.is_set()

    def wait_if_paused(self, listeners: Sequence[Listener] = ()) -> None:
        """Block while paused; returns at once when running or when a stop was asked.

        `listeners` hear `RunPaused` as the hold begins and `RunResumed` as it ends: the loop's
        own moments, so whoever reads the run folder sees "paused" only once the batch is done.
        """
        if self.resume_allowed.is_set():
            return
        held_from = self.clock()
        emit(listeners, RunPaused(since=time.time()))
        try:
            while not self.resume_allowed.wait(timeout=0.2):
                if self.stop_requested.is_set():
                    break
        finally:
            self.paused_seconds += self.clock() - held_from
        emit(listeners, RunResumed())

    def running_clock(self) -> float:
        """Seconds on `clock` less the time spent in `wait_if_paused`: a clock of training time."""
        return self.clock() - self.paused_seconds


def emit(listeners: Sequence[Listener], event: Event) -> None:
    """Send an event to every listener; one listener's error does not stop the others or the run.

    Except a listener marked `essential = True` (the run folder's recorder): its error is the
    run's, so it is raised once every listener has had the event.
    """
    essential_error: Exception | None = None
    for listener in listeners:
        try:
            listener(event)
        except Exception as exc:
            if getattr(listener, "essential", False):
                essential_error = essential_error or exc
                continue
            import logging

            logging.getLogger(__name__).exception("event listener failed on %s", type(event).__name__)
    if essential_error is not None:
        raise essential_error


__all__: list[Any] = [
    "BatchProgress",
    "EpochFinished",
    "Event",
    "Health",
    "Listener",
    "Predictions",
    "RunControl",
    "RunFailed",
    "RunFinished",
    "RunPaused",
    "RunResumed",
    "RunStarted",
    "SetupProgress",
    "emit",
]
