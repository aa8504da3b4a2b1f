"""VGG16 as five addressable convolution blocks plus the study's output layers.

The study freezes "the first i blocks" of VGG16, so the network is kept as
`blocks[0..4]` (conv layers + max-pool each, 2-2-3-3-3 convolutions as in VGG16) followed by
`head`, the "output layers" that are replaced for every new task:

    head = Flatten -> Linear(C5 * S * S, hidden) -> ReLU -> Dropout(0.5)
           -> Linear(hidden, n_classes)

where C5 is the channel count of block 5 and S the spatial side after it (7 for 224 px).
Everything after the last conv block is head: retraining "the output layers" (the forgetting
measure) re-initialises and trains exactly this module while all five blocks stay frozen.

Model profiles (the widths and input size a VGG16Blocks is built with) live in core/profiles.py.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from auforget.core.config import N_BLOCKS, ModelConfig  # noqa: F401  (N_BLOCKS: importers read it here)
from auforget.core.profiles import PROFILES, Profile, get_profile  # noqa: F401  (old pickles name auforget.models.Profile)

log = logging.getLogger(__name__)

CONVS_PER_BLOCK = (2, 2, 3, 3, 3)
TORCHVISION_VGG16_FILE = "vgg16-397923af.pth"


class VGG16Blocks(nn.Module):
    """VGG16 with `blocks` (ModuleList of five Sequentials) and a replaceable `head`.

    `frozen_blocks` records how many leading blocks are frozen; those blocks stay in eval
    mode even while the model trains, so frozen batch-norm statistics do not drift either.
    """

    def __init__(self, profile: Profile, n_classes: int):
        super().__init__()
        self.profile = profile
        self.frozen_blocks = 0
        blocks, in_ch = [], 3
        for width, n_conv in zip(profile.widths, CONVS_PER_BLOCK):
            layers: list[nn.Module] = []
            for _ in range(n_conv):
                layers.append(nn.Conv2d(in_ch, width, kernel_size=3, padding=1))
                if profile.batch_norm:
                    layers.append(nn.BatchNorm2d(width))
                layers.append(nn.ReLU(inplace=False))
                in_ch = width
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            blocks.append(nn.Sequential(*layers))
        self.blocks = nn.ModuleList(blocks)
        self.head = new_head(profile, n_classes)
        for m in self.blocks.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)

    @property
    def n_classes(self) -> int:
        return self.head[-1].out_features

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Output of the last conv block (N, C5, S, S): what the concept probes read."""
        for block in self.blocks:
            x = block(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def train(self, mode: bool = True) -> "VGG16Blocks":
        super().train(mode)
        for block in self.blocks[: self.frozen_blocks]:
            block.eval()
        return self


def new_head(profile: Profile, n_classes: int) -> nn.Sequential:
    """Fresh output layers for `n_classes` (see the module docstring for the exact shape)."""
    if n_classes < 2:
        raise ValueError(f"a classifier head needs at least 2 classes, got {n_classes}")
    head = nn.Sequential(
        nn.Flatten(),
        nn.Linear(profile.feature_dim, profile.hidden),
        nn.ReLU(inplace=False),
        nn.Dropout(profile.dropout),
        nn.Linear(profile.hidden, n_classes),
    )
    # PyTorch's default Linear init (uniform, scaled by fan-in), not VGG's N(0, 0.01): with a
    # tiny last layer almost no gradient reaches the layers below it for the first epochs,
    # which costs the fine-tuned blocks most of a short transfer run.
    return head


def merge_heads(heads: list[nn.Sequential]) -> nn.Sequential:
    """One head whose logits are the mean of `heads`' logits (in eval mode): their hidden layers
    side by side, the last layer's weights divided by their number.

    Why one wide head rather than a list: the retrained model stays the same module shape
    (Flatten, Linear, ReLU, Dropout, Linear), so logging, loading, ONNX export and the LRP rules
    treat an ensemble of retrained heads exactly as a single one (`retrain.heads`).
    """
    if not heads:
        raise ValueError("merge_heads needs at least one head")
    first, last = [h[1] for h in heads], [h[-1] for h in heads]
    merged = nn.Sequential(
        nn.Flatten(),
        nn.Linear(first[0].in_features, sum(f.out_features for f in first)),
        nn.ReLU(inplace=False),
        nn.Dropout(heads[0][3].p),
        nn.Linear(sum(f.out_features for f in first), last[0].out_features),
    )
    with torch.no_grad():
        merged[1].weight.copy_(torch.cat([f.weight for f in first]))
        merged[1].bias.copy_(torch.cat([f.bias for f in first]))
        merged[4].weight.copy_(torch.cat([t.weight for t in last], dim=1) / len(heads))
        merged[4].bias.copy_(torch.stack([t.bias for t in last]).mean(0))
    return merged


def build_vgg16(profile: str | Profile, n_classes: int) -> VGG16Blocks:
    if isinstance(profile, str):
        profile = get_profile(profile)
    return VGG16Blocks(profile, n_classes)


def freeze_blocks(model: VGG16Blocks, n: int) -> VGG16Blocks:
    """Freeze the first `n` stages (VGG16's conv blocks: 0..5; any model with `blocks` and a
    `head`, e.g. staged.StagedNet) and unfreeze the rest; the head stays trainable.

    Reversible: calling it again with another n sets the state from scratch.
    """
    stages = len(model.blocks)
    if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= stages:
        raise ValueError(
            f"freeze_blocks: n must be an integer in 0..{stages} (number of leading conv blocks "
            f"to freeze), got {n!r}"
        )
    for i, block in enumerate(model.blocks):
        for p in block.parameters():
            p.requires_grad_(i >= n)
    for p in model.head.parameters():
        p.requires_grad_(True)
    model.frozen_blocks = n
    model.train(model.training)
    return model


def replace_head(model: VGG16Blocks, n_classes: int, seed: int | None = None) -> VGG16Blocks:
    """Swap in fresh output layers; `seed` makes their initialisation reproducible."""
    if seed is not None:
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            model.head = new_head(model.profile, n_classes)
    else:
        model.head = new_head(model.profile, n_classes)
    return model


def imagenet_state(path: str = "") -> tuple[dict[str, torch.Tensor], str]:
    """Find torchvision's VGG16 ImageNet weights on disk, never downloading.

    Returns (state_dict, a sentence saying where it came from); FileNotFoundError naming every
    place looked in when there is none.
    """
    candidates = [Path(path)] if path else []
    candidates.append(Path(torch.hub.get_dir()) / "checkpoints" / TORCHVISION_VGG16_FILE)
    for candidate in candidates:
        if candidate.is_file():
            return torch.load(
                candidate, map_location="cpu", weights_only=True
            ), f"ImageNet weights from {candidate}"
    if path:
        raise FileNotFoundError(
            f"model.imagenet_weights points at {path}, which does not exist; "
            "give a local torchvision vgg16 .pth or leave it empty"
        )
    raise FileNotFoundError(
        f"the paper profile starts from ImageNet VGG16 weights, but {candidates[-1]} is absent "
        "and model.imagenet_weights is empty; set model.imagenet_weights to a local torchvision "
        f"{TORCHVISION_VGG16_FILE} (or copy it into {candidates[-1].parent}), or set "
        "model.from_scratch: true to train the conv blocks from scratch (nothing is downloaded)"
    )


def load_imagenet_blocks(model: VGG16Blocks, state: dict[str, torch.Tensor]) -> int:
    """Copy torchvision VGG16 `features.*` conv weights into our blocks; returns layers copied."""
    if model.profile.batch_norm or model.profile.widths != PROFILES["paper"].widths:
        raise ValueError(
            "ImageNet VGG16 weights fit only the 'paper' profile (full widths, no batch norm)"
        )
    ours = [m for m in model.blocks.modules() if isinstance(m, nn.Conv2d)]
    theirs = sorted(
        {int(k.split(".")[1]) for k in state if k.startswith("features.") and k.endswith(".weight")}
    )
    if len(theirs) != len(ours):
        raise ValueError(f"ImageNet state has {len(theirs)} conv layers, VGG16 needs {len(ours)}")
    with torch.no_grad():
        for conv, idx in zip(ours, theirs):
            conv.weight.copy_(state[f"features.{idx}.weight"])
            conv.bias.copy_(state[f"features.{idx}.bias"])
    return len(ours)


def initial_model(
    model_cfg: ModelConfig, n_classes: int, *, seed: int = 0
) -> tuple[VGG16Blocks, str]:
    """The emotion stage's starting point: seeded init plus, for the paper profile, ImageNet conv
    weights -- or, only when `model.from_scratch` asks for it, none.

    The study starts from ImageNet; silently training from scratch when the weights file is
    missing would give different science under the same name, so that is an error (naming
    where the weights were looked for) unless `from_scratch` is set. The combinations that make
    no sense (weights with the small profile, weights and from_scratch) are refused by ModelConfig
    when params.yaml is read. Returns the model and a sentence for the log and the MLflow run
    saying which start it got.
    """
    torch.manual_seed(seed)
    model = build_vgg16(model_cfg.profile, n_classes)
    if model.profile is not PROFILES["paper"]:
        return model, (
            f"'{model_cfg.profile}' profile: conv blocks trained from scratch "
            "(ImageNet weights need the 'paper' profile)"
        )
    if model_cfg.from_scratch:
        return model, "paper profile: conv blocks trained from scratch (model.from_scratch: true)"
    state, note = imagenet_state(model_cfg.imagenet_weights)
    load_imagenet_blocks(model, state)
    return model, note
