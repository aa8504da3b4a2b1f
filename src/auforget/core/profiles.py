"""Model profiles: the widths, input size and head a network is built with, by name.

They sit below the data layer because the data need a profile's input size before any network
exists (images are resized to it).

Profiles:
  paper  the full VGG16 (64-128-256-512-512 channels) at 224 px, no batch norm, hidden 1024;
         ImageNet weights for the conv blocks load from a local file or torch's cache.
  small  the same five-block topology with 1/8 of the channels at 64 px, with batch norm so it
         trains from scratch on a CPU in minutes. ImageNet weights do not fit it. The tests and
         quick runs use it.
  small96  small's network at 96 px (block 5's map 3 x 3 instead of 2 x 2), the demo's: about
         twice small's cost per image, and where the demo's FreezeB0 forgets contempt, which at
         64 px it did not (experiments/2026-11-27-capacity/).

Other backbones (`model.backbone`, docs/backbones.md) have profiles of the same names:
  resnet50  paper: torchvision's ResNet-50 at 224 px (Bottleneck, 3-4-6-3); small/small96: the
            same Bottleneck stages one block deep with an eighth of the channels.
  vit_b_16  paper: torchvision's ViT-B/16 at 224 px (12 encoder layers, 768 wide); small/small96:
            a VisionTransformer four layers deep and 64 wide on an 8 x 8 grid of patches.
A profile's `n_stages` is how many leading stages a model can freeze (FreezeB0 .. FreezeB<n>).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

N_BLOCKS = 5  # VGG16's conv blocks (nn/backbones.py builds them)
BACKBONES = ("vgg16", "resnet50", "vit_b_16")


@dataclass(frozen=True)
class Profile:
    image_size: int
    widths: tuple[int, int, int, int, int]
    batch_norm: bool
    hidden: int
    dropout: float = 0.5

    # class-level, not fields: saved models pickle a Profile's fields, which stay as they were
    backbone: ClassVar[str] = "vgg16"

    @property
    def n_stages(self) -> int:
        return N_BLOCKS

    @property
    def feature_shape(self) -> tuple[int, ...]:
        """Shape of one image's features (what the head's Flatten reads)."""
        return (self.widths[-1], self.feature_side, self.feature_side)

    @property
    def feature_side(self) -> int:
        return self.image_size // 2**N_BLOCKS

    @property
    def feature_dim(self) -> int:
        return self.widths[-1] * self.feature_side**2


_SMALL = Profile(image_size=64, widths=(8, 16, 32, 64, 64), batch_norm=True, hidden=128)
PROFILES = {
    "paper": Profile(
        image_size=224, widths=(64, 128, 256, 512, 512), batch_norm=False, hidden=1024
    ),
    "small": _SMALL,
    "small96": replace(
        _SMALL, image_size=96
    ),  # small's conv widths and hidden size; the head's input is 3x3x64
}


@dataclass(frozen=True)
class ResNetProfile:
    """torchvision's ResNet with Bottleneck blocks: a stem of `stem` channels, then four stages
    of `layers[i]` Bottlenecks with `planes[i]` inner channels (4x that out)."""

    image_size: int
    stem: int
    planes: tuple[int, int, int, int]
    layers: tuple[int, int, int, int]
    hidden: int
    dropout: float = 0.5

    backbone: ClassVar[str] = "resnet50"

    @property
    def n_stages(self) -> int:
        return 5  # stem, layer1 .. layer4

    @property
    def feature_dim(self) -> int:
        return self.planes[-1] * 4  # Bottleneck.expansion

    @property
    def feature_shape(self) -> tuple[int, ...]:
        return (self.feature_dim, 1, 1)  # after global average pooling


@dataclass(frozen=True)
class ViTProfile:
    """torchvision's VisionTransformer: `layers` encoder layers of width `dim` over
    (image_size / patch)^2 patches plus the class token."""

    image_size: int
    patch: int
    layers: int
    heads: int
    dim: int
    mlp: int
    hidden: int
    dropout: float = 0.5

    backbone: ClassVar[str] = "vit_b_16"

    @property
    def n_stages(self) -> int:
        return 1 + self.layers  # the patch embedding (stem), then each encoder layer

    @property
    def feature_dim(self) -> int:
        return self.dim

    @property
    def feature_shape(self) -> tuple[int, ...]:
        return (self.dim,)  # the class token after the final LayerNorm


_SMALL_RESNET = ResNetProfile(
    image_size=64, stem=16, planes=(8, 16, 32, 64), layers=(1, 1, 1, 1), hidden=128
)
_SMALL_VIT = ViTProfile(image_size=64, patch=8, layers=4, heads=4, dim=64, mlp=128, hidden=128)
BACKBONE_PROFILES: dict[str, dict[str, Profile | ResNetProfile | ViTProfile]] = {
    "vgg16": PROFILES,
    "resnet50": {
        "paper": ResNetProfile(
            image_size=224, stem=64, planes=(64, 128, 256, 512), layers=(3, 4, 6, 3), hidden=1024
        ),
        "small": _SMALL_RESNET,
        "small96": replace(_SMALL_RESNET, image_size=96),
    },
    "vit_b_16": {
        "paper": ViTProfile(
            image_size=224, patch=16, layers=12, heads=12, dim=768, mlp=3072, hidden=1024
        ),
        "small": _SMALL_VIT,
        "small96": replace(_SMALL_VIT, image_size=96, patch=12),  # the same 8 x 8 patches
    },
}
# The most stages any profile has: the upper bound a freeze level is checked against before the
# backbone is known.
MAX_STAGES = max(p.n_stages for table in BACKBONE_PROFILES.values() for p in table.values())


def get_profile(name: str, backbone: str = "vgg16") -> Profile | ResNetProfile | ViTProfile:
    if backbone not in BACKBONE_PROFILES:
        raise ValueError(f"unknown model.backbone {backbone!r}; valid backbones are {BACKBONES}")
    table = BACKBONE_PROFILES[backbone]
    if name not in table:
        raise ValueError(f"unknown model profile {name!r}; valid profiles are {sorted(table)}")
    return table[name]
