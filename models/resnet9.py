"""ResNet-9: the small, fast CIFAR-10 network of David Page's "How to train your ResNet" (2018),
the architecture behind his 94% in 26 s (V100) and the starting point of hlb-CIFAR10 and airbench.

Layout, from the published description: a 3×3 conv-BN-ReLU "prep" layer of width w; then three
stages, each a conv-BN-ReLU that widens (2w, 4w, 8w) followed by a 2×2 max pool, the first and
third with a residual branch of two more conv-BN-ReLU layers; then a global max pool and a linear
layer without bias whose output is scaled by 1/8 (a smaller logit scale trains better with the
high learning rates of the recipe). 6.57M weights at w = 64. Written from that description.
"""

from __future__ import annotations

import torch
from torch import nn

LOGIT_SCALE = 0.125
"""Page's multiplier on the classifier's output."""


def _conv_bn(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class Residual(nn.Module):
    """x + two conv-BN-ReLU layers of x, at constant width."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(_conv_bn(channels, channels), _conv_bn(channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResNet9(nn.Module):
    def __init__(self, num_classes: int, *, width: int = 64, in_channels: int = 3) -> None:
        super().__init__()
        w = width
        self.features = nn.Sequential(
            _conv_bn(in_channels, w),
            _conv_bn(w, 2 * w),
            nn.MaxPool2d(2),
            Residual(2 * w),
            _conv_bn(2 * w, 4 * w),
            nn.MaxPool2d(2),
            _conv_bn(4 * w, 8 * w),
            nn.MaxPool2d(2),
            Residual(8 * w),
            nn.AdaptiveMaxPool2d(1),
            nn.Flatten(),
        )
        self.fc = nn.Linear(8 * w, num_classes, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x)) * LOGIT_SCALE


def resnet9(num_classes: int, *, width: int = 64, in_channels: int = 3) -> nn.Module:
    """ResNet-9 with stage widths width × (1, 2, 4, 8); any image side of 8 pixels or more."""
    return ResNet9(num_classes, width=width, in_channels=in_channels)
