"""An exponential moving average (EMA) of a model's weights, the averaging timm and the fast
CIFAR-10 recipes validate with.

Every `every` optimiser steps each floating-point parameter becomes
``ema = d * ema + (1 - d) * weight`` with ``d = min(decay, (1 + n) / (10 + n))`` at the n-th update
(timm's warm-up of the decay): early on the average follows the weights closely, so a short run
never validates weights that are mostly the random initialisation. Buffers (BatchNorm's running statistics and step
counts) are copied as they are, since an average of running averages would lag twice. The copy
lives on the model's device and layout, so validating it costs nothing extra.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn


class WeightEMA:
    """The averaged copy of `model` (a plain module, not a DDP or compile wrapper)."""

    def __init__(self, model: nn.Module, decay: float, every: int = 1) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        if every < 1:
            raise ValueError(f"EMA every must be >= 1, got {every}")
        self.decay = decay
        self.every = every
        self.module = copy.deepcopy(model).eval()
        self.module.requires_grad_(False)
        self.steps = 0  # optimiser steps seen, so `every` keeps its phase across a resume
        self.updates = 0  # averages taken

    def step(self, model: nn.Module) -> None:
        """Call after each optimiser step; averages on every `every`-th."""
        self.steps += 1
        if self.steps % self.every == 0:
            self.update(model)

    def current_decay(self) -> float:
        """The decay the next update uses: ramps up to `decay` as updates accumulate."""
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        decay = self.current_decay()
        for averaged, current in zip(self.module.parameters(), model.parameters(), strict=True):
            if averaged.dtype.is_floating_point:
                averaged.lerp_(current.detach(), 1.0 - decay)  # ema + (1 - d)(w - ema)
            else:
                averaged.copy_(current)
        for averaged_buffer, buffer in zip(self.module.buffers(), model.buffers(), strict=True):
            averaged_buffer.copy_(buffer)
        self.updates += 1

    def state_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, "updates": self.updates, "decay": self.decay, "every": self.every}

    def load_state_dict(self, counters: dict[str, Any], weights: dict[str, torch.Tensor]) -> None:
        self.steps = int(counters["steps"])
        self.updates = int(counters["updates"])
        self.module.load_state_dict(weights)


def checkpoint_weights(model: nn.Module, ema: WeightEMA | None) -> dict[str, Any]:
    """The weight entries of a checkpoint. "model" always holds the weights that were validated, so
    a checkpoint is evaluated, exported or fine-tuned from the weights its val_acc belongs to: the
    EMA when it is on, with the trained weights beside it ("train_model") to resume from."""
    if ema is None:
        return {"model": model.state_dict(), "weights": "train"}
    return {
        "model": ema.module.state_dict(),
        "train_model": model.state_dict(),
        "ema": ema.state_dict(),
        "weights": "ema",
    }


def restore_weights(payload: dict[str, Any], model: nn.Module, ema: WeightEMA | None) -> None:
    """Load what `checkpoint_weights` wrote back into `model` (and `ema`).

    A checkpoint without an EMA resumed with one on starts the average from the trained weights;
    one with an EMA resumed with it off goes on from the trained weights."""
    trained = payload.get("train_model", payload["model"])
    model.load_state_dict(trained)
    if ema is None:
        return
    if "ema" in payload:
        ema.load_state_dict(payload["ema"], payload["model"])
    else:
        ema.module.load_state_dict(trained)
