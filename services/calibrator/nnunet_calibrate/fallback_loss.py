"""nnU-Net v2's training loss, compactly, for images without nnunetv2.

Dice + cross-entropy (labels) or Dice + BCE (regions), with the memory-efficient soft Dice
(smooth 1e-5, background excluded for labels, batch Dice as the plans say), wrapped for deep
supervision with weights 1/2^i, the lowest resolution weighted 0, normalised to sum 1, as
nnUNetTrainer._build_loss does.
"""

from __future__ import annotations

import torch
from torch import nn

from .plans import TrainingSetup


class MemoryEfficientSoftDice(nn.Module):
    def __init__(self, batch_dice: bool, do_bg: bool, nonlin: str, smooth: float = 1e-5) -> None:
        super().__init__()
        self.batch_dice, self.do_bg, self.nonlin, self.smooth = batch_dice, do_bg, nonlin, smooth

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x = torch.softmax(x, 1) if self.nonlin == "softmax" else torch.sigmoid(x)
        axes = tuple(range(2, x.ndim))
        with torch.no_grad():
            if self.nonlin == "softmax":
                y_onehot = torch.zeros_like(x).scatter_(1, y.long(), 1)
            else:
                y_onehot = y.to(x.dtype)
            if not self.do_bg:
                y_onehot = y_onehot[:, 1:]
            sum_gt = y_onehot.sum(axes)
        if not self.do_bg:
            x = x[:, 1:]
        intersect = (x * y_onehot).sum(axes)
        sum_pred = x.sum(axes)
        if self.batch_dice:
            intersect, sum_pred, sum_gt = intersect.sum(0), sum_pred.sum(0), sum_gt.sum(0)
        dc = (2 * intersect + self.smooth) / torch.clip(sum_gt + sum_pred + self.smooth, 1e-8)
        return -dc.mean()


class DiceAndCE(nn.Module):
    def __init__(self, batch_dice: bool, ignore_label: int | None) -> None:
        super().__init__()
        self.dice = MemoryEfficientSoftDice(batch_dice, do_bg=False, nonlin="softmax")
        self.ce = nn.CrossEntropyLoss(ignore_index=ignore_label if ignore_label is not None else -100)
        self.ignore_label = ignore_label

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.ignore_label is not None:
            mask = y != self.ignore_label
            y_dice = torch.where(mask, y, torch.zeros_like(y))
        else:
            y_dice = y
        return self.ce(x, y[:, 0].long()) + self.dice(x, y_dice)


class DiceAndBCE(nn.Module):
    def __init__(self, batch_dice: bool, use_ignore_label: bool) -> None:
        super().__init__()
        self.dice = MemoryEfficientSoftDice(batch_dice, do_bg=True, nonlin="sigmoid")
        self.bce = nn.BCEWithLogitsLoss(reduction="none" if use_ignore_label else "mean")
        self.use_ignore_label = use_ignore_label

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if not self.use_ignore_label:
            return self.bce(x, y.to(x.dtype)) + self.dice(x, y)
        # the last target channel is the mask of annotated voxels (1) versus the ignore label (0)
        mask, regions = y[:, -1:].to(x.dtype), y[:, :-1]
        bce = (self.bce(x, regions.to(x.dtype)) * mask).sum() / torch.clip(mask.sum() * x.shape[1], min=1e-8)
        return bce + self.dice(x, regions * mask)


class DeepSupervision(nn.Module):
    def __init__(self, loss: nn.Module, weights: list[float]) -> None:
        super().__init__()
        self.loss, self.weights = loss, weights

    def forward(self, outputs: list[torch.Tensor], targets: list[torch.Tensor]) -> torch.Tensor:
        terms = [w * self.loss(x, y) for w, x, y in zip(self.weights, outputs, targets) if w != 0]
        return torch.stack(terms).sum()


def deep_supervision_weights(levels: int) -> list[float]:
    if levels == 1:
        return [1.0]
    weights = [1 / (2**i) for i in range(levels)]
    weights[-1] = 0.0
    total = sum(weights)
    return [w / total for w in weights]


def build_fallback_loss(setup: TrainingSetup) -> nn.Module:
    if setup.has_regions:
        base: nn.Module = DiceAndBCE(setup.batch_dice, use_ignore_label=setup.ignore_label is not None)
    else:
        base = DiceAndCE(setup.batch_dice, setup.ignore_label)
    return DeepSupervision(base, deep_supervision_weights(len(setup.deep_supervision_scales)))
