"""ViT-B/16 (torchvision) as 1 + L stages: the stem (patch embedding, class token, position
embedding), then each encoder layer, the last one with the encoder's final LayerNorm; the class
token as pooling; the study's head.

The small profiles are torchvision's `VisionTransformer` with fewer, narrower layers (the stage
count follows: four layers give five stages, like VGG16's blocks).
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models.vision_transformer import VisionTransformer

from auforget.core.profiles import ViTProfile
from auforget.nn.backbones import new_head
from auforget.nn.staged import StagedNet

TORCHVISION_FILE = "vit_b_16-c867db91.pth"  # torchvision's ViT_B_16_Weights.IMAGENET1K_V1


class PatchStem(nn.Module):
    """The ViT's input: 16 x 16 patches projected to tokens, the class token in front, plus the
    learnt position embedding (torchvision's `_process_input` and the encoder's first lines)."""

    def __init__(self, vit: VisionTransformer):
        super().__init__()
        self.conv_proj = vit.conv_proj
        self.class_token = vit.class_token
        self.pos_embedding = vit.encoder.pos_embedding
        self.dropout = vit.encoder.dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.conv_proj(x).flatten(2).transpose(1, 2)  # (N, patches, D)
        cls = self.class_token.expand(tokens.shape[0], -1, -1)
        return self.dropout(torch.cat([cls, tokens], dim=1) + self.pos_embedding)


class ClassToken(nn.Module):
    """Pooling of a ViT: the class token's features (N, D)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, 0]


def torchvision_vit(profile: ViTProfile) -> VisionTransformer:
    return VisionTransformer(
        image_size=profile.image_size,
        patch_size=profile.patch,
        num_layers=profile.layers,
        num_heads=profile.heads,
        hidden_dim=profile.dim,
        mlp_dim=profile.mlp,
    )


def staged_vit(vit: VisionTransformer, profile: ViTProfile, n_classes: int) -> StagedNet:
    """Move a torchvision VisionTransformer's modules into a StagedNet (its heads are dropped)."""
    layers = list(vit.encoder.layers)
    blocks = [PatchStem(vit), *layers[:-1], nn.Sequential(layers[-1], vit.encoder.ln)]
    return StagedNet(profile, blocks, ClassToken(), new_head(profile, n_classes))


def build_vit(profile: ViTProfile, n_classes: int, state: dict | None = None) -> StagedNet:
    """A seeded (the caller seeds torch) ViT StagedNet; `state` is torchvision's ImageNet
    state_dict for the paper profile (its `heads.*` are dropped: the head is new)."""
    vit = torchvision_vit(profile)
    if state is not None:
        kept = {k: v for k, v in state.items() if not k.startswith("heads.")}
        missing = [k for k in vit.state_dict() if k not in kept and not k.startswith("heads.")]
        if missing:
            raise ValueError(f"ViT-B/16 weights lack {missing[:5]}")
        vit.load_state_dict(kept, strict=False)
    return staged_vit(vit, profile, n_classes)
