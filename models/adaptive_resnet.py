"""The seed model: a ResNet-style stack of adaptive-convolution blocks (shared/spec/seed-coursework.txt).

Each block's filters are re-weighted per sample by a gate computed from the block's own input. Scaling
every filter's input-channel slice by the same per-sample vector is the same as scaling the input
channels, so the block runs one ordinary convolution on the gated input instead of a grouped
per-sample convolution: same result, cuDNN speed, and it works with channels-last and torch.compile.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class ChannelGate(nn.Module):
    """Per-sample channel weights in (0, 1) from the global average of the input.

    Linear C→max(C // reduction, 4), ReLU, Linear →C, sigmoid; the floor of 4 hidden units keeps the
    gate of the 3-channel image input from collapsing to a single unit.
    """

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return weights of shape [B, C]."""
        squeezed = x.mean(dim=(2, 3))
        return torch.sigmoid(self.fc2(torch.relu(self.fc1(squeezed))))


class AdaptiveConv2d(nn.Module):
    """A 3×3 convolution (padding 1, no bias) whose filters are scaled per sample by a ChannelGate.

    Computed as conv(x · g) with g broadcast over the input channels, which equals convolving each
    sample with its own weights W[:, c] · g[c] (tests/test_models.py checks the equivalence).
    """

    def __init__(self, in_channels: int, out_channels: int, reduction: int = 4) -> None:
        super().__init__()
        self.gate = ChannelGate(in_channels, reduction)
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = self.gate(x)
        return self.conv(x * weights[:, :, None, None].to(x.dtype))


class AdaptiveBlock(nn.Module):
    """Adaptive convolution + BatchNorm + per-channel PReLU, then an optional 2×2 max pool.

    The identity shortcut, when present, is added after BatchNorm and before PReLU, as in the
    original ResNet's basic block (the sum goes through the nonlinearity). It exists only when the
    block's input and output shapes match: same channels and no pooling. No projection shortcuts.
    """

    def __init__(self, in_channels: int, out_channels: int, *, pool: bool, residual: bool, reduction: int = 4) -> None:
        super().__init__()
        self.conv = AdaptiveConv2d(in_channels, out_channels, reduction)
        self.bn = nn.BatchNorm2d(out_channels)
        self.act = nn.PReLU(out_channels)
        self.pool = nn.MaxPool2d(2, ceil_mode=True) if pool else nn.Identity()
        self.residual = residual and in_channels == out_channels and not pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn(self.conv(x))
        if self.residual:
            out = out + x
        return self.pool(self.act(out))


class AdaptiveResNet(nn.Module):
    """Backbone of AdaptiveBlocks, then global average pooling, flatten and a linear classifier."""

    def __init__(
        self,
        num_classes: int,
        *,
        width: int = 64,
        channel_multipliers: Sequence[int] = (1, 2, 2, 4, 4, 8, 8),
        pool_every: int = 2,
        residual: bool = True,
        reduction: int = 4,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        if not channel_multipliers:
            raise ValueError("channel_multipliers needs at least one block")
        if pool_every < 1:
            raise ValueError("pool_every must be >= 1")
        blocks: list[nn.Module] = []
        channels = in_channels
        for index, multiplier in enumerate(channel_multipliers, start=1):
            out_channels = width * multiplier
            pool = index % pool_every == 0
            blocks.append(AdaptiveBlock(channels, out_channels, pool=pool, residual=residual, reduction=reduction))
            channels = out_channels
        self.features = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(channels, num_classes)
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.flatten(self.pool(self.features(x))))


def _init_weights(model: nn.Module) -> None:
    """Kaiming-normal convolutions (fan-out, as torchvision's ResNets), BatchNorm weight 1 and bias 0."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


def adaptive_resnet(
    num_classes: int,
    *,
    width: int = 64,
    channel_multipliers: Sequence[int] = (1, 2, 2, 4, 4, 8, 8),
    pool_every: int = 2,
    residual: bool = True,
    reduction: int = 4,
    in_channels: int = 3,
) -> nn.Module:
    """The seed model. Defaults give 64-128-128-256-256-512-512 channels, pooling after blocks 2, 4 and 6
    and shortcuts around blocks 3, 5 and 7 (4,874,041 parameters for 10 classes).

    Pooling rounds odd sizes up (ceil mode), so deep or small-image configurations shrink to 1×1 and
    stay there instead of failing.
    """
    return AdaptiveResNet(
        num_classes,
        width=width,
        channel_multipliers=tuple(channel_multipliers),
        pool_every=pool_every,
        residual=residual,
        reduction=reduction,
        in_channels=in_channels,
    )
