"""A whole training run: build everything from a preset, loop over epochs, checkpoint, report.

The Trainer owns the model, optimiser, schedule and batches; it raises on failure and leaves the
run folder, signals and error wording to the layer above (`tui_trainer.runs.launch`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from ..config import Preset, resolved_toml
from ..config.choices import best_metric
from ..config.code_trust import TargetAccess
from ..data import BatchAugment, DataSplits, TrainBatches, val_batches
from ..data.batches import derive_seed
from ..data.mix import BatchMix, mixed_batches
from ..data.storage import StorageChoice
from ..models.hub import is_hub_name
from . import distributed
from .builders import build_loss, build_model, build_optimizer, build_scheduler, class_weights
from .calibration import honesty
from .checkpoint import load_checkpoint, restore_rng_state, rng_state, save_checkpoint, unwrap
from .class_figures import class_report
from .continuation import Continuation, continued_schedule, fast_forward, reset_learning_rates
from .cpu_threads import ThreadChoice, apply_threads
from .device import Numerics
from .ema import WeightEMA, checkpoint_weights, restore_weights
from .events import (
    BatchProgress,
    EpochFinished,
    Listener,
    Predictions,
    RunControl,
    RunFinished,
    RunStarted,
    emit,
)
from .finetune import BackboneFreeze, parameter_groups
from .grad_scaling import GradScaling
from .health import GRAD_NORM_EVERY, Health
from .health_probe import SystemProbe
from .loops import EpochPosition, EpochStats, ValidationResult, train_epoch, validate


class Trainer:
    """Trains `preset` on `splits` (on the training device, or on the CPU when streaming)."""

    def __init__(
        self,
        preset: Preset,
        splits: DataSplits,
        numerics: Numerics,
        *,
        run_dir: str = "",
        last_checkpoint: Path | None = None,
        best_checkpoint: Path | None = None,
        listeners: Sequence[Listener] = (),
        control: RunControl | None = None,
        load_pretrained: bool = True,
        storage: StorageChoice | None = None,
        threads: ThreadChoice | None = None,
        code: TargetAccess | None = None,
        continuation: Continuation | None = None,
        epoch_checkpoint: Callable[[int], Path] | None = None,
    ) -> None:
        """`last_checkpoint`, `best_checkpoint`: where to save the latest epoch and the best validated one
        (the run folder names them; None saves nothing, as in the LR finder).
        `storage`: "stream" when `splits` stay on the CPU (the cache file) and batches are read
        ahead per batch; otherwise `splits` are already on the training device.
        `code`: where `model.target` may be imported from (config.code_trust; None: nowhere).
        `continuation`: the run goes on past an earlier end (an extension, a fork): the schedule of
        its new epochs. `epoch_checkpoint(k)`: where epoch k is kept every `train.keep_every` epochs."""
        self.preset = preset
        self.storage = storage or StorageChoice("device", "")
        self.threads = threads
        self.streaming = self.storage.mode == "stream"
        self.splits = splits
        self.numerics = numerics
        self.run_dir = run_dir
        self.last_checkpoint, self.best_checkpoint = last_checkpoint, best_checkpoint
        self.listeners = list(listeners)
        self.control = control or RunControl()
        self.classes = splits.classes
        self.rank, self.world_size = distributed.rank(), distributed.world_size()
        cfg = preset

        torch.manual_seed(cfg.train.seed)  # same seed, same initial weights
        model = build_model(
            cfg.model,
            num_classes=len(self.classes),
            in_channels=splits.train.images.shape[1],
            load_pretrained=load_pretrained,  # False on resume: the checkpoint holds the weights
            code=code,
        )
        model = model.to(numerics.device)
        if numerics.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model  # the plain module: checkpoints and the optimiser see these parameters
        self._wrap_forward_model()

        counts = torch.bincount(splits.train.labels.cpu(), minlength=len(self.classes)).tolist()
        weights = class_weights(cfg.loss, counts, self.classes)
        self.criterion = build_loss(cfg.loss, len(self.classes), weights=weights)
        # Validation is unweighted: val_loss means the same in a weighted and an unweighted run.
        self.per_sample_criterion = build_loss(cfg.loss, len(self.classes), reduction="none")
        self.heads = _head_prefixes(self.model, cfg, len(self.classes))
        self.freeze = BackboneFreeze(self.model, self.heads) if self.heads else None
        params = (
            parameter_groups(self.model, self.heads, cfg.optimizer.lr, cfg.optimizer.backbone_lr_scale)
            if self.heads
            else self.model.parameters()
        )
        self.optimizer = build_optimizer(cfg.optimizer, params)
        self.grad_scaling = GradScaling(self.optimizer, numerics.device) if numerics.scales_loss else None
        self.ema = WeightEMA(self.model, cfg.train.ema_decay, cfg.train.ema_every) if cfg.train.ema_decay else None
        self.mix = BatchMix(cfg.augment, len(self.classes))
        augment = BatchAugment(cfg.augment, cfg.data.image_size)
        self.train_batches = TrainBatches(
            splits.train,
            cfg.data.batch_size,
            augment,
            cfg.data.drop_last,
            cfg.train.seed,
            rank=self.rank,
            world_size=self.world_size,
            stream=self.streaming,
            device=numerics.device,
            sampler=cfg.data.sampler,
        )
        self.steps_per_epoch = math.ceil(len(self.train_batches) / cfg.train.accumulation_steps)
        self.base_lrs = [float(group["lr"]) for group in self.optimizer.param_groups]  # before a schedule moves them
        self.continuation = continuation
        self.epoch_checkpoint = epoch_checkpoint
        self.schedule = self._build_schedule()
        self.history: list[dict[str, Any]] = []
        self.best_metric = best_metric(cfg.train.best_metric)
        self.best_value: float | None = None  # best_metric's value at the best epoch
        self.best_val_acc: float | None = None  # val_acc at the best epoch, whichever metric picked it
        self.best_epoch: int | None = None
        self.epochs_done = 0
        self.position: EpochPosition | None = None  # where epoch epochs_done + 1 stands, when it was cut short
        self.epoch_lr = 0.0  # the learning rate epoch epochs_done + 1 started with (its metrics' "lr")
        self._checkpointed_at = 0.0  # running_clock() of the latest save of last.pt
        self._skipped_this_epoch: int | None = None  # fp16: the last epoch's skipped steps
        self.system = SystemProbe(numerics.device)  # CPU, memory and GPU figures for the health panel
        self._saved_once = False  # last.pt of this run exists (a resume, or fit's first save)

    def _build_schedule(self):
        cfg = self.preset
        if self.continuation is None:
            return build_scheduler(
                cfg.scheduler, self.optimizer, epochs=cfg.train.epochs, steps_per_epoch=self.steps_per_epoch
            )
        return continued_schedule(
            cfg.scheduler,
            self.optimizer,
            self.continuation,
            epochs=cfg.train.epochs,
            steps_per_epoch=self.steps_per_epoch,
        )

    def _wrap_forward_model(self) -> None:
        """DDP (under torchrun) and torch.compile around the plain model, again whenever freezing
        changes which parameters train: DDP only reduces gradients of those it was built with."""
        self.forward_model = distributed.wrap_model(self.model, self.numerics.device)
        if self.preset.train.compile:
            # torch.compile of a Module returns an OptimizedModule (a Module); its stubs say a Callable.
            self.forward_model = torch.compile(self.forward_model)  # type: ignore[assignment]

    def _freeze_for(self, epoch: int) -> None:
        """Only the new head trains in epochs 1..model.freeze_epochs (engine.finetune)."""
        if self.freeze is not None and self.freeze.set_frozen(epoch <= self.preset.model.freeze_epochs):
            self._wrap_forward_model()

    # ------------------------------------------------------------------ checkpoints

    def state(self) -> dict[str, Any]:
        """Everything to continue the run; `position` and `epoch_lr` are there when saved mid-epoch."""
        inside_epoch = {"position": self.position.to_record(), "epoch_lr": self.epoch_lr} if self.position else {}
        return {
            "epoch": self.epochs_done,
            **inside_epoch,
            "world_size": self.world_size,  # each rank's share of every batch depends on it (resume checks it)
            **checkpoint_weights(unwrap(self.model), self.ema),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.schedule.state_dict(),
            "grad_scaler": self.grad_scaling.state_dict() if self.grad_scaling is not None else {},
            "rng": rng_state(),
            "history": self.history,
            "best_value": self.best_value,
            "best_val_acc": self.best_val_acc,
            "best_epoch": self.best_epoch,
            "classes": list(self.classes),
            "preset": resolved_toml(self.preset),
        }

    def save(self, path: Path | None) -> None:
        if path is not None and self.rank == 0:
            save_checkpoint(path, **self.state())
        if path == self.last_checkpoint:
            self._checkpointed_at = self.control.running_clock()

    def _save_position(self, position: EpochPosition) -> None:
        """A checkpoint inside the epoch (every train.checkpoint_minutes, and on a stop).

        Under torchrun every rank calls this at the same batch: the position's sums are added up
        over the ranks, so the one rank 0 saves holds the whole epoch so far."""
        self.position = distributed.reduce_position(position, self.numerics.device)
        self.save(self.last_checkpoint)

    def _checkpoint_due(self) -> bool:
        """Whether this rank's clock says a timed checkpoint is due (under torchrun StopVote makes the ranks agree)."""
        minutes = self.preset.train.checkpoint_minutes
        if not minutes or self.last_checkpoint is None:
            return False
        return self.control.running_clock() - self._checkpointed_at >= minutes * 60

    def _read_checkpoint(self, path: Path) -> dict[str, Any]:
        payload = load_checkpoint(path, map_location=self.numerics.device)
        if list(payload["classes"]) != list(self.classes):
            raise ValueError(
                f"{path}: checkpoint classes {payload['classes']} differ from the data's {list(self.classes)}"
            )
        return payload

    def load(self, path: Path, *, new_schedule: bool = False) -> None:
        """Continue from a checkpoint written by `save` (resume).

        `new_schedule`: the run is being extended now: the checkpoint's schedule has ended, and the
        added epochs follow `continuation`'s instead (built afresh here, not loaded)."""
        payload = self._read_checkpoint(path)
        restore_weights(payload, unwrap(self.model), self.ema)
        self.optimizer.load_state_dict(payload["optimizer"])
        if new_schedule:
            self._start_continued_schedule()
        else:
            self.schedule.load_state_dict(payload["scheduler"])
        self._saved_once = True
        if self.grad_scaling is not None:
            self.grad_scaling.load_state_dict(payload.get("grad_scaler", {}))
        restore_rng_state({k: (v.cpu() if isinstance(v, torch.Tensor) else v) for k, v in payload["rng"].items()})
        self.epochs_done = int(payload["epoch"])
        self.history = list(payload["history"])
        self.best_val_acc = payload["best_val_acc"]
        self.best_epoch = payload["best_epoch"]
        if "position" in payload:  # saved inside an epoch: continue it at the next batch
            position = EpochPosition.from_record(payload["position"])
            if self.rank != 0:  # rank 0 saved every rank's sums together: count them once
                position = EpochPosition(position.batch, seconds=position.seconds, steps=position.steps)
            self.position, self.epoch_lr = position, float(payload["epoch_lr"])
        self.best_value = payload.get("best_value")
        if self.best_value is None and self.best_epoch is not None:  # a checkpoint of an older version
            record = next((r for r in self.history if r.get("epoch") == self.best_epoch), {})
            self.best_value = record.get(self.best_metric.name)

    def _start_continued_schedule(self) -> None:
        """After the optimiser state is loaded: "constant" keeps its final lr; the others start from the preset's."""
        assert self.continuation is not None
        if self.continuation.policy == "constant":
            return
        reset_learning_rates(self.optimizer, self.base_lrs)
        self.schedule = self._build_schedule()
        if self.continuation.policy == "continue":
            fast_forward(self.schedule, self.continuation.from_epoch, self.steps_per_epoch)

    def start_from(self, path: Path) -> None:
        """Start from the weights of another run's epoch checkpoint (a fork): its epoch count goes on
        from there; the optimiser, schedule and best epoch start afresh with this preset."""
        payload = self._read_checkpoint(path)
        try:
            restore_weights(payload, unwrap(self.model), self.ema)
        except RuntimeError as exc:  # load_state_dict's missing / unexpected keys, size mismatches
            first = str(exc).strip().splitlines()[0]
            raise ValueError(f"{path}: its weights do not fit this preset's model ({first[:200]})") from None
        self.epochs_done = int(payload["epoch"])

    # ------------------------------------------------------------------ the run

    def current_lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def fit(self) -> RunFinished:
        """Train the remaining epochs; returns how the run ended. Raises on failure."""
        cfg = self.preset
        epochs = cfg.train.epochs
        clock = self.control.running_clock  # training time: a pause is not counted
        started = clock()
        emit(
            self.listeners,
            RunStarted(
                run_dir=self.run_dir,
                preset_name=cfg.name,
                epochs=epochs,
                start_epoch=self.epochs_done + 1,
                batches_per_epoch=len(self.train_batches),
                train_images=len(self.splits.train),
                val_images=len(self.splits.val),
                classes=tuple(self.classes),
                device=str(self.numerics.device),
                precision=self.numerics.precision,
                storage=self.storage.mode,
                storage_reason=self.storage.reason,
                threads=torch.get_num_threads(),
                threads_reason=self.threads.reason if self.threads else "",
                start_batch=self.position.batch if self.position else 0,
            ),
        )
        started_epoch = self.epochs_done + 1
        self._checkpointed_at = clock()
        if not self._saved_once:
            self.save(self.last_checkpoint)  # so an interruption in the first epoch still leaves a checkpoint
        state = "finished"
        while self.epochs_done < epochs:
            self.control.wait_if_paused(self.listeners)
            if distributed.any_rank(self.control.stop_requested.is_set()):  # all ranks stop together
                state = "interrupted"
                break
            epoch = self.epochs_done + 1
            self._freeze_for(epoch)
            if epoch > started_epoch and self.numerics.device.type == "cpu" and cfg.train.threads == "auto":
                self.threads = apply_threads("auto")  # other processes may have taken or freed cores
            stats, lr = self._train_one_epoch(epoch)
            if not stats.completed:
                assert stats.position is not None  # an epoch that did not complete stopped somewhere
                self._save_position(stats.position)
                state = "interrupted"
                break
            self.position = None
            result = validate(
                self.forward_model if self.ema is None else self.ema.module,
                val_batches(
                    self.splits.val,
                    cfg.data.batch_size,
                    cfg.augment.mean,
                    cfg.augment.std,
                    rank=self.rank,
                    world_size=self.world_size,
                    image_size=cfg.data.image_size,
                    stream=self.streaming,
                    device=self.numerics.device,
                ),
                self.per_sample_criterion,
                self.numerics,
                len(self.classes),
                tta=cfg.train.tta,
            )
            result = distributed.gather_validation(result, self.numerics.device)
            stats = distributed.reduce_epoch_stats(stats, self.numerics.device)
            self.schedule.step_epoch()  # the seed steps its cosine schedule after validation
            self._finish_epoch(epoch, stats, result, lr, clock())
        return RunFinished(
            run_dir=self.run_dir,
            state=state,
            epochs_done=self.epochs_done,
            best_val_acc=self.best_val_acc,
            best_epoch=self.best_epoch,
            seconds=clock() - started,
        )

    def _train_one_epoch(self, epoch: int) -> tuple[EpochStats, float]:
        cfg = self.preset
        start = self.position
        lr_at_start = self.epoch_lr if start is not None else self.current_lr()
        self.epoch_lr = lr_at_start
        batches = len(self.train_batches)
        self._epoch_started = self.control.running_clock()
        timing: list[Health] = []  # the loop's latest step timing, read by the next progress report

        def health(data_seconds: float, step_seconds: float, grad_norm: float | None) -> None:
            timing[:] = [Health(data_seconds=data_seconds, step_seconds=step_seconds, grad_norm=grad_norm)]

        scaling = self.grad_scaling
        skipped_before = scaling.skipped if scaling is not None else 0

        def scaler_figures() -> dict[str, Any]:
            if scaling is None:
                return {}
            return {"loss_scale": scaling.scale(), "skipped_steps": scaling.skipped - skipped_before}

        def progress(done: int, loss: float, accuracy: float, images: int, seconds: float) -> None:
            emit(
                self.listeners,
                BatchProgress(
                    epoch=epoch,
                    batch=done,
                    batches=batches,
                    loss=loss,
                    accuracy=accuracy,
                    images_per_second=images * self.world_size / seconds if seconds > 0 else 0.0,
                    lr=self.current_lr(),
                    seconds=seconds,
                    health=Health(**{**timing[0].to_record(), **self.system.sample(), **scaler_figures()})
                    if timing
                    else None,
                ),
            )

        # Under torchrun every rank must leave, and checkpoint, at the same batch: both are put to one vote.
        vote = distributed.StopVote()

        def should_stop() -> bool:
            self.control.wait_if_paused(self.listeners)
            return vote(self.control.stop_requested.is_set(), self._checkpoint_due())

        def checkpoint_due() -> bool:
            return vote.checkpoint_due  # asked right after should_stop, at the same batch

        stats = train_epoch(
            self.forward_model,
            self.batches_of(epoch, start.batch if start is not None else 0),
            batches,
            self.criterion,
            self.optimizer,
            self.numerics,
            accumulation_steps=cfg.train.accumulation_steps,
            on_optimizer_step=self._after_optimizer_step,
            on_progress=progress if self.listeners else None,
            should_stop=should_stop,
            on_health=health if self.listeners else None,
            grad_norm_every=GRAD_NORM_EVERY,
            clock=self.control.running_clock,
            start=start,
            scaler=scaling.scaler if scaling is not None else None,
            checkpoint_due=checkpoint_due,
            on_checkpoint=self._save_position,
        )
        if start is not None:
            self._epoch_started -= start.seconds  # the epoch's time includes the part before the stop
        self._skipped_this_epoch = scaling.skipped - skipped_before if scaling is not None else None
        return stats, lr_at_start

    def batches_of(self, epoch: int, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The training batches of `epoch` from batch `start`, mixed (mixup / cutmix) when the preset says so."""
        batches = self.train_batches.epoch(epoch, start)
        if not self.mix.active:
            return batches
        seed = derive_seed("mix", self.preset.train.seed, epoch, self.rank)
        return mixed_batches(batches, self.mix, seed, start)

    def _after_optimizer_step(self) -> None:
        if self.grad_scaling is not None:
            self.grad_scaling.tried()
        # A step the fp16 scaler skipped still moves the schedule: the lr follows the step count.
        self.schedule.step_batch()  # a no-op for a per-epoch schedule
        if self.ema is not None:
            self.ema.step(unwrap(self.model))

    def _finish_epoch(self, epoch: int, stats: EpochStats, result: ValidationResult, lr: float, now: float) -> None:
        confusion = result.confusion.numpy()
        report = class_report(confusion)
        per_class = report.recall.tolist()  # each class's accuracy
        metrics: dict[str, Any] = {
            "epoch": epoch,
            "train_loss": stats.loss,
            "train_acc": stats.accuracy,
            "val_loss": result.loss,
            "val_acc": result.accuracy,
            "lr": lr,
            "epoch_seconds": now - self._epoch_started,
            "train_images_per_second": stats.images / stats.seconds if stats.seconds > 0 else 0.0,
            "per_class_acc": per_class,
            "val_weights": "train" if self.ema is None else "ema",  # which weights val_* measured
            "macro_f1": report.macro_f1,
            "balanced_acc": report.balanced_accuracy,
            "best_metric": self.best_metric.name,  # which of the figures above picks best.pt
            **honesty_figures(result),
        }
        if self._skipped_this_epoch is not None:
            metrics["skipped_steps"] = self._skipped_this_epoch
        value = float(metrics[self.best_metric.name])
        is_best = self.best_metric.is_better(value, self.best_value)
        if is_best:
            self.best_value, self.best_val_acc, self.best_epoch = value, result.accuracy, epoch
        self.history.append(metrics)
        self.epochs_done = epoch
        # Checkpoint before telling anyone: a kill after this point loses nothing of this epoch.
        self.save(self.last_checkpoint)
        if is_best:
            self.save(self.best_checkpoint)
        keep = self.preset.train.keep_every
        if keep and epoch % keep == 0 and self.epoch_checkpoint is not None:
            self.save(self.epoch_checkpoint(epoch))  # kept for forks; never pruned
        emit(
            self.listeners,
            EpochFinished(
                epoch=epoch,
                epochs=self.preset.train.epochs,
                metrics=metrics,
                confusion=confusion,
                predictions=Predictions(
                    labels=result.labels.numpy(),
                    predictions=result.predictions.numpy(),
                    confidences=result.confidences.numpy(),
                    losses=result.losses.numpy(),
                    classes=tuple(self.classes),
                    probabilities=None if result.probabilities is None else result.probabilities.numpy(),
                ),
                is_best=is_best,
            ),
        )


def honesty_figures(result: ValidationResult) -> dict[str, float | None]:
    """An epoch's calibration error and macro one-vs-rest ROC AUC and average precision (engine.calibration).

    The AUC and AP need each sample's class probabilities (about a second for 50k images × 1000
    classes, nothing for CIFAR-sized sets)."""
    probabilities = None if result.probabilities is None else result.probabilities.numpy()
    binned, ranked = honesty(
        result.labels.numpy(), result.predictions.numpy(), result.confidences.numpy(), probabilities
    )
    figures: dict[str, float | None] = {"val_ece": binned.ece}
    if ranked is not None:
        figures.update(val_roc_auc=ranked.macro_auc, val_average_precision=ranked.macro_ap)
    return figures


def _head_prefixes(model: torch.nn.Module, preset: Preset, num_classes: int) -> tuple[str, ...]:
    """The classifier of a timm:/torchvision: model (fine-tuning splits it off); () for other models."""
    if preset.model.target or not is_hub_name(preset.model.name):
        return ()
    from .hub_models import head_prefixes

    return head_prefixes(model, num_classes)
