"""The models: a tiny CNN for CPU runs, and CIFAR variants of torchvision's ResNets."""
from __future__ import annotations

import torch
from torch import nn

from spotshield.errors import SpotShieldError


class TinyCNN(nn.Module):
    """Two 3x3 convolutions and a small head; dropout makes resume exercise the RNG state."""

    def __init__(self, in_channels: int, num_classes: int):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3, padding=1), nn.ReLU(),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(4),  # 8x8 digits and 32x32 CIFAR alike end as 4x4
        )
        self.head = nn.Sequential(
            nn.Flatten(), nn.Dropout(0.25), nn.Linear(64 * 16, 128), nn.ReLU(), nn.Linear(128, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _cifar_resnet(builder, in_channels: int, num_classes: int) -> nn.Module:
    # CIFAR variant: a 3x3 stride-1 stem and no max-pool, so 32x32 inputs keep their detail.
    model = builder(num_classes=num_classes)
    model.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()
    return model


def build_model(name: str, in_channels: int, num_classes: int) -> nn.Module:
    if name == "tiny-cnn":
        return TinyCNN(in_channels, num_classes)
    if name in ("resnet18", "resnet50"):
        from torchvision import models

        return _cifar_resnet(getattr(models, name), in_channels, num_classes)
    raise SpotShieldError(f"unknown model {name!r}; choose one of tiny-cnn, resnet18, resnet50")
