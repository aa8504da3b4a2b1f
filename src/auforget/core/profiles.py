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
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from auforget.core.config import N_BLOCKS


@dataclass(frozen=True)
class Profile:
    image_size: int
    widths: tuple[int, int, int, int, int]
    batch_norm: bool
    hidden: int
    dropout: float = 0.5

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


def get_profile(name: str) -> Profile:
    if name not in PROFILES:
        raise ValueError(f"unknown model profile {name!r}; valid profiles are {sorted(PROFILES)}")
    return PROFILES[name]
