"""ResNet-18 for small images: the usual CIFAR variant, a baseline to compare the seed model against.

The ImageNet stem (7×7 stride 2 and a max pool) would shrink a 32×32 image to 8×8 before the first
stage, so the stem is a 3×3 stride-1 convolution without pooling.
"""

from __future__ import annotations

import torch
from torch import nn


class BasicBlock(nn.Module):
    """Two 3×3 conv-BN layers with a shortcut; a 1×1 conv-BN projection when the shape changes."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """Stem, four stages of BasicBlocks (the first stride 1, the others stride 2), average pool, linear."""

    def __init__(self, num_classes: int, layers: tuple[int, ...], *, width: int = 64, in_channels: int = 3) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)
        )
        stages: list[nn.Module] = []
        channels = width
        for index, blocks in enumerate(layers):
            out_channels = width * 2**index
            stride = 1 if index == 0 else 2
            stage = [BasicBlock(channels, out_channels, stride)]
            stage += [BasicBlock(out_channels, out_channels) for _ in range(blocks - 1)]
            stages.append(nn.Sequential(*stage))
            channels = out_channels
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.stages(self.stem(x))), 1))


def resnet18(num_classes: int, *, width: int = 64, in_channels: int = 3) -> nn.Module:
    """CIFAR ResNet-18: BasicBlocks [2, 2, 2, 2], widths width × (1, 2, 4, 8) (11.17M parameters at width 64)."""
    return ResNet(num_classes, (2, 2, 2, 2), width=width, in_channels=in_channels)
