"""A network cut into addressable stages, then pooling, then the study's head.

`StagedNet` is the container every backbone other than VGG16 is kept in (VGG16 keeps its own
`backbones.VGG16Blocks`, which saved models name); both have the same shape:

    blocks[0 .. n-1]  the stages in forward order (their parameters are every parameter but the
                      head's; freezing "the first k stages" freezes blocks[:k])
    pool              parameter-free: a stage's output -> what the head's Flatten reads
    head              Flatten -> Linear -> ReLU -> Dropout -> Linear (backbones.new_head)

so freezing, head replacement and merging, feature caching, export, logging and the registry
treat every backbone alike. The adapters that fill a StagedNet from torchvision's classes are
`nn/resnet.py` and `nn/vit.py`.
"""

from __future__ import annotations

import torch
from torch import nn


class StagedNet(nn.Module):
    """`blocks` (a ModuleList of stages), a parameter-free `pool` and a replaceable `head`.

    `frozen_blocks` records how many leading stages are frozen; those stages stay in eval mode
    even while the model trains, so frozen batch-norm statistics (and dropout) stay put.
    """

    def __init__(self, profile, blocks: list[nn.Module], pool: nn.Module, head: nn.Module):
        super().__init__()
        self.profile = profile
        self.frozen_blocks = 0
        self.blocks = nn.ModuleList(blocks)
        self.pool = pool
        self.head = head
        assert not list(pool.parameters()), "pooling must not hold parameters (stages do)"

    @property
    def n_classes(self) -> int:
        return self.head[-1].out_features

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled output of the last stage (profile.feature_shape per image)."""
        for block in self.blocks:
            x = block(x)
        return self.pool(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def train(self, mode: bool = True) -> "StagedNet":
        super().train(mode)
        for block in self.blocks[: self.frozen_blocks]:
            block.eval()
        return self


def stage_outputs(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """Every stage's output for `x`, in forward order (VGG16Blocks or StagedNet): what the
    concept probes and a CKA per stage read. Runs under no_grad in the model's current mode."""
    outs = []
    with torch.no_grad():
        for block in model.blocks:
            x = block(x)
            outs.append(x)
    return outs
