"""Focal loss and the class-balanced weights of Cui et al. (2019).

The study trains the emotion model with a *weighted* focal loss (gamma 5, class-balanced
weights with beta 0.99998, because AffectNet is heavily imbalanced: ~134k happy vs ~4k
contempt) and the pain models with an *unweighted* focal loss (gamma 2).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def class_balanced_weights(counts: Sequence[int], beta: float) -> torch.Tensor:
    """w_c = (1 - beta) / (1 - beta^n_c), rescaled so the weights sum to the number of classes.

    (1 - beta^n) / (1 - beta) is Cui et al.'s "effective number" of samples of a class; its
    inverse weights rare classes up. With beta -> 0 every weight is 1; with beta -> 1 the
    weights approach inverse class frequency. A class with no samples gets weight 0.
    """
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"class-balanced beta must be in [0, 1), got {beta}")
    n = np.asarray(counts, dtype=np.float64)
    if n.ndim != 1 or n.size < 2 or (n < 0).any():
        raise ValueError(
            f"class counts must be a list of >= 2 non-negative integers, got {list(counts)}"
        )
    # 1 - beta^n computed as -expm1(n log beta) keeps precision when beta is 0.99998.
    effective = -np.expm1(n * np.log(beta)) / (1.0 - beta) if beta > 0 else np.minimum(n, 1.0)
    weights = np.where(n > 0, 1.0 / np.where(effective > 0, effective, 1.0), 0.0)
    weights = weights * (np.count_nonzero(n) / weights.sum())
    return torch.tensor(weights, dtype=torch.float32)


class FocalLoss(nn.Module):
    """Multi-class focal loss: mean over the batch of -w_y (1 - p_y)^gamma log p_y.

    With gamma = 0 and no weights it is exactly cross entropy. Weights multiply each sample's
    loss by its class weight and the batch mean is taken over samples (not over weights), as
    in Cui et al.'s class-balanced focal loss.
    """

    def __init__(self, gamma: float = 2.0, weight: torch.Tensor | None = None):
        super().__init__()
        if gamma < 0:
            raise ValueError(f"focal loss gamma must be non-negative, got {gamma}")
        self.gamma = float(gamma)
        self.register_buffer(
            "weight", None if weight is None else torch.as_tensor(weight, dtype=torch.float32)
        )

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        log_p = (
            F.log_softmax(logits.float(), dim=1).gather(1, target.long().unsqueeze(1)).squeeze(1)
        )
        loss = -log_p
        if self.gamma:
            loss = loss * (-torch.expm1(log_p)).clamp_min(0).pow(self.gamma)
        if self.weight is not None:
            loss = loss * self.weight.to(loss.device)[target.long()]
        return loss.mean()
