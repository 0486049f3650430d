"""Fine-tuning controls for a pretrained backbone: a lower backbone learning rate and a frozen start.

`optimizer.backbone_lr_scale` splits the parameters into two optimiser groups, the new head first
(its lr is the preset's `optimizer.lr`, the one the console reports) and the backbone second at
lr × scale. Schedules scale each group from its own starting lr, and the groups' lrs travel in the
optimiser and scheduler state of every checkpoint, so resume restores them.

`model.freeze_epochs` trains only the head for the first N epochs. The frozen backbone is frozen
entirely: its parameters get no gradient (so no optimiser step, momentum or weight decay touches
them) and its BatchNorm layers normalise with their stored statistics without updating them
(eval mode), because a few epochs of small-batch statistics from a new dataset would otherwise
shift what the pretrained weights expect before they are even trained.
"""

from __future__ import annotations

from typing import Any

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.hooks import RemovableHandle

from .hub_models import is_head_key


def parameter_groups(
    model: nn.Module, heads: tuple[str, ...], lr: float, backbone_lr_scale: float
) -> list[dict[str, Any]]:
    """[head group at lr, backbone group at lr × backbone_lr_scale] for build_optimizer."""
    head: list[nn.Parameter] = []
    backbone: list[nn.Parameter] = []
    for name, param in model.named_parameters():
        (head if is_head_key(name, heads) else backbone).append(param)
    if not head:
        raise ValueError(f"no parameters under the classifier {', '.join(heads)}")
    return [{"params": head, "lr": lr}, {"params": backbone, "lr": lr * backbone_lr_scale}]


def _keep_statistics(module: nn.Module, args: Any) -> None:
    module.train(False)  # forward pre-hook: the frozen layer normalises with its running statistics


class BackboneFreeze:
    """Freezes and unfreezes everything of a model but its classifier."""

    def __init__(self, model: nn.Module, heads: tuple[str, ...]) -> None:
        self.backbone = [p for n, p in model.named_parameters() if not is_head_key(n, heads)]
        self.norms = [m for n, m in model.named_modules() if isinstance(m, _BatchNorm) and not is_head_key(n, heads)]
        self.frozen = False
        self._hooks: list[RemovableHandle] = []

    def set_frozen(self, frozen: bool) -> bool:
        """Freeze or unfreeze; True when that changed anything (a DDP wrapper must then be rebuilt)."""
        if frozen == self.frozen:
            return False
        for param in self.backbone:
            param.requires_grad_(not frozen)
        if frozen:
            self._hooks = [m.register_forward_pre_hook(_keep_statistics) for m in self.norms]
        else:
            for hook in self._hooks:
                hook.remove()
            self._hooks = []
        self.frozen = frozen
        return True
