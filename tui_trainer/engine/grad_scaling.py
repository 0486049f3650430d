"""fp16 training's gradient scaler, and the count of optimiser steps it skipped.

float16 holds numbers only down to about 6e-8, so small gradients would round to zero: the loss is
multiplied by a large factor before backward and the gradients divided by it before the step
(`torch.amp.GradScaler`). When a gradient overflows to inf or NaN the scaler skips that step and
halves the factor; after 2000 clean steps it doubles it again. A few skipped steps at the start are
normal; many in every epoch mean the run is not learning from those batches.
"""

from __future__ import annotations

from typing import Any

import torch


class GradScaling:
    """A GradScaler for `optimizer` on `device`, and how many of its steps were skipped.

    The optimiser's step hook runs only for a step that happened; the trainer tells `tried()` after
    every step it asked for. Counting this way costs no device sync beyond the scaler's own.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, device: torch.device) -> None:
        self.scaler = torch.amp.GradScaler(device.type)
        self._tried = 0
        self._taken = 0
        optimizer.register_step_post_hook(self._step_taken)

    def _step_taken(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        self._taken += 1

    def tried(self) -> None:
        """One optimiser step was asked for (taken or skipped)."""
        self._tried += 1

    @property
    def skipped(self) -> int:
        """Steps skipped since this object was made (the trainer takes differences per epoch)."""
        return self._tried - self._taken

    def scale(self) -> float:
        """The current loss scale (reads it from the device: call it where the loop syncs anyway)."""
        return float(self.scaler.get_scale())

    def state_dict(self) -> dict[str, Any]:
        return self.scaler.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            self.scaler.load_state_dict(state)
