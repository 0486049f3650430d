"""Turn the preset's model, loss, optimizer and scheduler sections into torch objects.

The names, and the preset keys each choice reads, are the registries in `config.choices` (models:
models.CATALOG); here each name gets its factory in a table (LOSS_FACTORIES, OPTIMIZER_FACTORIES,
SCHEDULER_FACTORIES). Adding a choice is one registry row and one factory row;
tests/test_choices.py fails while either is missing.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..config.choices import LOSSES, OPTIMIZERS, SCHEDULERS, Registry
from ..config.code_trust import TargetAccess, import_target
from ..config.schema import LossConfig, ModelConfig, OptimizerConfig, SchedulerConfig
from ..config.target import refused_params
from ..models import CATALOG, ModelTargetError, resolve_factory
from ..models.hub import is_hub_name

Reduction = Literal["mean", "none"]

# --------------------------------------------------------------------------------------------- models


def _accepted_kwargs(factory: Callable[..., Any], candidates: dict[str, Any]) -> dict[str, Any]:
    """The subset of candidates the factory's signature names (all of them if it takes **kwargs).

    Lets one ModelConfig drive every built-in model: resnet18 simply never sees pool_every.
    """
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):  # no introspectable signature: pass nothing optional
        return {}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return dict(candidates)
    names = {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return {k: v for k, v in candidates.items() if k in names}


def build_model(
    cfg: ModelConfig,
    num_classes: int,
    in_channels: int = 3,
    *,
    load_pretrained: bool = True,
    code: TargetAccess | None = None,
) -> nn.Module:
    """A built-in model from CATALOG, a timm:/torchvision: architecture (engine.hub_models), or
    cfg.target called as factory(num_classes=..., **cfg.params).

    load_pretrained=False skips cfg.pretrained's weights (pass it when a checkpoint's weights are
    loaded next: resume, inference). `code`: where cfg.target may be imported from (None: nowhere,
    the preset is data from a run folder the user has not trusted; see config.code_trust).
    Raises ValueError (with the target in the message) when the target is not allowed or cannot be
    imported, does not accept the given params, fails, or returns something that is not an nn.Module;
    hub_models.PretrainedError (a ValueError) when pretrained weights do not load.
    """
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    if cfg.target:
        return _build_target(cfg.target, num_classes, cfg.params, code)
    if is_hub_name(cfg.name):
        from .hub_models import build_hub_model  # timm is imported only for these models

        return build_hub_model(cfg, num_classes, in_channels, load_pretrained=load_pretrained)
    factory = resolve_factory(CATALOG[cfg.name])
    options = {
        "width": cfg.width,
        "channel_multipliers": tuple(cfg.channel_multipliers),
        "pool_every": cfg.pool_every,
        "residual": cfg.residual,
        "reduction": cfg.reduction,
        "in_channels": in_channels,
    }
    return factory(num_classes, **_accepted_kwargs(factory, options))


def _build_target(target: str, num_classes: int, params: dict[str, Any], code: TargetAccess | None) -> nn.Module:
    factory = import_target(target, code)
    kwargs = {"num_classes": num_classes, **params}
    try:
        inspect.signature(factory).bind(**kwargs)
    except TypeError as exc:  # name only what it refuses: num_classes is refused only if it is
        refused = refused_params(factory, list(kwargs)) or sorted(kwargs)
        raise ModelTargetError(f"model target {target!r} does not accept {refused}: {exc}") from exc
    except ValueError:  # no introspectable signature: let the call decide
        pass
    try:
        model = factory(**kwargs)
    except Exception as exc:
        raise ValueError(f"model target {target!r} failed: {type(exc).__name__}: {exc}") from exc
    if not isinstance(model, nn.Module):
        raise ModelTargetError(f"model target {target!r} returned a {type(model).__name__}, not a torch.nn.Module")
    return model


# --------------------------------------------------------------------------------------------- losses


class _PerSampleLoss(nn.Module):
    """A loss whose forward(logits, target) is per-sample [B] with reduction="none", else the batch mean.

    target is int64 labels [B], or soft targets float [B, K] summing to 1 (mixup / cutmix).
    The engine builds a "none" copy for validation, where per-image losses feed the predictions file.
    `class_weights` [K] multiply each sample's loss by its class's weight (a soft target's by the
    target-weighted mean of the weights); the mean stays over the batch's images, not over the weights,
    so balanced weights (which average 1 over the training images) keep the loss's scale.
    """

    def __init__(self, reduction: Reduction = "mean", class_weights: torch.Tensor | None = None) -> None:
        super().__init__()
        if reduction not in ("mean", "none"):
            raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
        self.reduction = reduction
        self.class_weights = None if class_weights is None else class_weights.float()

    def per_sample(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        losses = self.per_sample(logits, target)
        if self.class_weights is not None:
            if self.class_weights.device != losses.device:  # moved once, on the first batch
                self.class_weights = self.class_weights.to(losses.device)
            weights = self.class_weights[target] if target.dim() == 1 else target.float() @ self.class_weights
            losses = losses * weights
        return losses if self.reduction == "none" else losses.mean()

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class CrossEntropyLoss(_PerSampleLoss):
    """Plain cross-entropy on hard labels, computed in fp32 so bf16 logits lose no precision."""

    def per_sample(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if target.dim() == 2:  # soft targets
            return -(target.float() * F.log_softmax(logits.float(), dim=-1)).sum(dim=-1)
        return F.cross_entropy(logits.float(), target, reduction="none")


class LabelSmoothingCrossEntropy(_PerSampleLoss):
    """The seed's LabelSmoothingCrossEntropyLoss: weight 1 − s on the target, s / (K − 1) on each other class.

    Loss per sample = −Σ_k w_k · log_softmax(logits)_k. torch's label_smoothing=s differs: it spreads s
    over all K classes (target gets 1 − s + s/K), so it is not used here.

    Soft targets t (mixup / cutmix) are smoothed by the same linear map that turns a one-hot label
    into w: w = (1 − s) · t + s / (K − 1) · (1 − t), which still sums to 1.
    """

    def __init__(
        self,
        num_classes: int,
        smoothing: float = 0.1,
        reduction: Reduction = "mean",
        class_weights: torch.Tensor | None = None,
    ) -> None:
        super().__init__(reduction, class_weights)
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
        if num_classes < 2 and smoothing > 0:
            raise ValueError("label smoothing needs at least 2 classes")
        self.num_classes = num_classes
        self.smoothing = smoothing

    def per_sample(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logp = F.log_softmax(logits.float(), dim=-1)
        if target.dim() == 2:  # soft targets
            other = self.smoothing / (self.num_classes - 1) if self.smoothing else 0.0
            weights = target.float() * (1.0 - self.smoothing - other) + other
            return -(weights * logp).sum(dim=-1)
        target_logp = logp.gather(-1, target.unsqueeze(-1)).squeeze(-1)
        if self.smoothing == 0.0:
            return -target_logp
        other = self.smoothing / (self.num_classes - 1)
        # Σ_k w_k logp_k with w = other everywhere except 1 − s at the target, without building w.
        return -((1.0 - self.smoothing - other) * target_logp + other * logp.sum(dim=-1))

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, smoothing={self.smoothing}, {super().extra_repr()}"


class FocalLoss(_PerSampleLoss):
    """Focal loss (Lin et al., 2017): cross-entropy scaled by (1 - p)^gamma, p the target's probability.

    An image the model already classifies with confidence adds little, so the many easy images of a
    common class do not drown out a rare one's. gamma = 0 is cross-entropy. Soft targets t (mixup /
    cutmix): −Σ_k t_k (1 − p_k)^gamma log p_k. Computed in fp32, as the other losses.
    """

    def __init__(self, gamma: float = 2.0, reduction: Reduction = "mean", class_weights: torch.Tensor | None = None):
        super().__init__(reduction, class_weights)
        if gamma < 0:
            raise ValueError(f"gamma must be >= 0, got {gamma}")
        self.gamma = gamma

    def per_sample(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logp = F.log_softmax(logits.float(), dim=-1)
        if target.dim() == 2:  # soft targets
            return -(target.float() * (1.0 - logp.exp()).pow(self.gamma) * logp).sum(dim=-1)
        target_logp = logp.gather(-1, target.unsqueeze(-1)).squeeze(-1)
        return -((1.0 - target_logp.exp()).pow(self.gamma) * target_logp)

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}, {super().extra_repr()}"


class ClassWeightsError(ValueError):
    """loss.class_weights does not fit the data's classes."""


def class_weights(cfg: LossConfig, counts: Sequence[int], classes: Sequence[str]) -> torch.Tensor | None:
    """The training loss's per-class weights [K] from `loss.class_weights` and the training split's
    image count per class; None when every class weighs 1.

    "balanced" gives class c the weight N / (K' · n_c) (N images, K' classes that have images):
    inverse frequency, normalised so the weights average 1 over the training images (scikit-learn's
    "balanced"). A class without training images weighs 0: it never appears as a target.
    """
    if cfg.class_weights == "none":
        return None
    if cfg.class_weights == "balanced":
        count = torch.tensor(list(counts), dtype=torch.float64)
        present = int((count > 0).sum())
        weights = torch.where(count > 0, count.sum() / (max(present, 1) * count.clamp(min=1)), 0.0)
        return weights.float()
    if len(cfg.class_weights) != len(classes):
        shown = ", ".join(classes[:12]) + (f", ... ({len(classes)} in all)" if len(classes) > 12 else "")
        raise ClassWeightsError(
            f"loss.class_weights has {len(cfg.class_weights)} weight{'s' if len(cfg.class_weights) != 1 else ''} "
            f"but the data has {len(classes)} classes; give one per class, in this order: {shown}"
        )
    return torch.tensor(cfg.class_weights, dtype=torch.float32)


def _factory(registry: Registry, factories: dict[str, Any], name: str) -> Any:
    """The factory attached to a registry's choice (a KeyError naming the allowed ones otherwise)."""
    return factories[registry[name].name]


Weights = torch.Tensor | None

LOSS_FACTORIES: dict[str, Callable[[LossConfig, int, Reduction, Weights], nn.Module]] = {
    "label_smoothing_ce": lambda cfg, k, red, w: LabelSmoothingCrossEntropy(k, cfg.smoothing, red, w),
    "cross_entropy": lambda cfg, k, red, w: CrossEntropyLoss(red, w),
    "focal": lambda cfg, k, red, w: FocalLoss(cfg.gamma, red, w),
}
"""Loss name (config.choices.LOSSES) -> builder(cfg, num_classes, reduction, class weights)."""


def build_loss(
    cfg: LossConfig, num_classes: int, *, reduction: Reduction = "mean", weights: torch.Tensor | None = None
) -> nn.Module:
    """The configured loss; reduction="none" gives per-sample losses [B] (for validation).
    `weights`: per-class weights [K] (`class_weights`), for the training loss only."""
    return _factory(LOSSES, LOSS_FACTORIES, cfg.name)(cfg, num_classes, reduction, weights)


# ----------------------------------------------------------------------------------------- optimisers

Params = Iterable[torch.Tensor] | Iterable[dict[str, Any]]

OPTIMIZER_FACTORIES: dict[str, Callable[[OptimizerConfig, Params], torch.optim.Optimizer]] = {
    "rmsprop": lambda cfg, params: torch.optim.RMSprop(
        params, lr=cfg.lr, alpha=cfg.alpha, eps=cfg.eps, weight_decay=cfg.weight_decay, momentum=cfg.momentum
    ),
    "sgd": lambda cfg, params: torch.optim.SGD(
        params,
        lr=cfg.lr,
        momentum=cfg.momentum,
        nesterov=cfg.nesterov and cfg.momentum > 0,  # torch rejects nesterov without momentum
        weight_decay=cfg.weight_decay,
    ),
    "adamw": lambda cfg, params: torch.optim.AdamW(
        params, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps, weight_decay=cfg.weight_decay
    ),
}
"""Optimiser name (config.choices.OPTIMIZERS) -> builder(cfg, params); each reads the keys its
registry row lists in `uses`, plus lr and weight_decay."""


def build_optimizer(cfg: OptimizerConfig, params: Params) -> torch.optim.Optimizer:
    """The configured optimiser over params (tensors or param-group dicts)."""
    return _factory(OPTIMIZERS, OPTIMIZER_FACTORIES, cfg.name)(cfg, params)


# ----------------------------------------------------------------------------------------- schedulers


@dataclass
class Schedule:
    """A learning-rate scheduler plus when to step it, so the loop need not know which one it has.

    The loop calls step_batch() after every optimiser step and step_epoch() after each epoch's
    validation; whichever does not apply is a no-op.
    """

    scheduler: torch.optim.lr_scheduler.LRScheduler | None
    per_step: bool
    total_steps: int | None = None
    """Optimiser steps a per-step schedule is defined for; step_batch holds the last lr after that."""

    def step_batch(self) -> None:
        if self.scheduler is None or not self.per_step:
            return
        if self.total_steps is not None and self.scheduler.last_epoch >= self.total_steps - 1:
            # The lr of the final step is the schedule's last value. OneCycleLR would move on to a
            # bogus rising value after the final step (then raise): hold the last value instead.
            return
        self.scheduler.step()

    def step_epoch(self) -> None:
        if self.scheduler is not None and not self.per_step:
            self.scheduler.step()

    def state_dict(self) -> dict[str, Any]:
        return {} if self.scheduler is None else self.scheduler.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.scheduler is not None and state:
            self.scheduler.load_state_dict(state)


def _cosine(cfg: SchedulerConfig, optimizer: torch.optim.Optimizer, epochs: int, steps_per_epoch: int) -> Schedule:
    """Cosine annealing over t_max epochs (not the run's length, as in the seed), stepped per epoch."""
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.t_max, eta_min=cfg.eta_min)
    return Schedule(scheduler, per_step=False)


def _onecycle(cfg: SchedulerConfig, optimizer: torch.optim.Optimizer, epochs: int, steps_per_epoch: int) -> Schedule:
    """One cycle peaking at the optimiser's lr over every optimiser step of the run.

    Momentum is not cycled: the preset's momentum / betas are used as written.
    """
    total = epochs * steps_per_epoch
    if total < 2:
        raise ValueError(f"onecycle needs at least 2 optimiser steps, got {epochs} epochs × {steps_per_epoch} steps")
    max_lr = [group["lr"] for group in optimizer.param_groups]
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=max_lr, total_steps=total, pct_start=cfg.pct_start, cycle_momentum=False
    )
    return Schedule(scheduler, per_step=True, total_steps=total)


class WarmupLinear:
    """lr factor at optimiser step i of `total`: (i + 1) / w for the first w = round(pct_start · total)
    steps, then (total − i) / (total − w), so it peaks at 1 on step w and ends at 1 / (total − w).

    No step runs at lr 0 (the first warms with 1 / w, the last decays to its smallest positive share).
    A class rather than a closure so LambdaLR's state_dict stays a plain dict."""

    def __init__(self, total: int, pct_start: float) -> None:
        self.total = total
        self.warmup = min(max(1, round(pct_start * total)), total - 1)

    def __call__(self, step: int) -> float:
        step = min(step, self.total - 1)
        if step < self.warmup:
            return (step + 1) / self.warmup
        return (self.total - step) / (self.total - self.warmup)


def _warmup_linear(
    cfg: SchedulerConfig, optimizer: torch.optim.Optimizer, epochs: int, steps_per_epoch: int
) -> Schedule:
    """Linear warm-up to the optimiser's lr over pct_start of all optimiser steps, then linear decay
    towards 0 (the shape of the fast CIFAR-10 recipes), stepped after every optimiser step."""
    total = epochs * steps_per_epoch
    if total < 2:
        raise ValueError(f"warmup_linear needs at least 2 optimiser steps, got {epochs} × {steps_per_epoch}")
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, WarmupLinear(total, cfg.pct_start))
    return Schedule(scheduler, per_step=True, total_steps=total)


def _constant(cfg: SchedulerConfig, optimizer: torch.optim.Optimizer, epochs: int, steps_per_epoch: int) -> Schedule:
    return Schedule(None, per_step=False)


SCHEDULER_FACTORIES: dict[str, Callable[[SchedulerConfig, torch.optim.Optimizer, int, int], Schedule]] = {
    "cosine": _cosine,
    "onecycle": _onecycle,
    "warmup_linear": _warmup_linear,
    "none": _constant,
}
"""Schedule name (config.choices.SCHEDULERS) -> builder(cfg, optimizer, epochs, steps_per_epoch)."""


def build_scheduler(
    cfg: SchedulerConfig, optimizer: torch.optim.Optimizer, *, epochs: int, steps_per_epoch: int
) -> Schedule:
    """The configured schedule. steps_per_epoch counts optimiser steps (batches / accumulation, rounded up)."""
    if epochs < 1 or steps_per_epoch < 1:
        raise ValueError(f"epochs and steps_per_epoch must be >= 1, got {epochs} and {steps_per_epoch}")
    return _factory(SCHEDULERS, SCHEDULER_FACTORIES, cfg.name)(cfg, optimizer, epochs, steps_per_epoch)
