"""Backbones by name (`model.backbone`): building, the ImageNet start, and what each one offers.

Every backbone is a model of the same shape (`staged.StagedNet`, or for VGG16 the
`backbones.VGG16Blocks` that saved models name): `blocks` (the stages, in forward order,
disjoint, covering every parameter but the head's), a parameter-free pooling, and the study's
`head`. So the rest of the package handles all of them with the same functions:

    stages and freezing   model.blocks, backbones.freeze_blocks(model, k) (frozen stages in eval)
    pooling, feature size model.features(x), model.profile.feature_shape
    stage outputs         staged.stage_outputs(model, x)
    explanation           lrp.explainer(model): LRP composite + canonizers, or Integrated
                          Gradients where no LRP rule is proven (ViT), said so by its name
    input                 model.profile.image_size, ImageNet mean/std (data.images)
    start                 initial_model: ImageNet weights from a local file, never downloaded

| backbone | stages | torchvision weights file |
|---|---|---|
| vgg16 | 5 conv blocks | vgg16-397923af.pth |
| resnet50 | stem, layer1 .. layer4 | resnet50-0676ba61.pth |
| vit_b_16 | stem, encoder layers 1 .. L | vit_b_16-c867db91.pth |
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from auforget.core.config import ModelConfig
from auforget.core.profiles import BACKBONES, get_profile
from auforget.data.images import IMAGENET_MEAN, IMAGENET_STD
from auforget.nn import backbones, resnet, vit

WEIGHT_FILES = {
    "vgg16": backbones.TORCHVISION_VGG16_FILE,
    "resnet50": resnet.TORCHVISION_FILE,
    "vit_b_16": vit.TORCHVISION_FILE,
}


def normalisation() -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) every backbone's inputs are normalised with: ImageNet's, as torchvision's
    weights for all three were trained with."""
    return IMAGENET_MEAN, IMAGENET_STD


def backbone_of(model: nn.Module) -> str:
    """'vgg16', 'resnet50' or 'vit_b_16' for a model built here (or loaded from the registry)."""
    return getattr(getattr(model, "profile", None), "backbone", "vgg16")


def build_model(profile: str, n_classes: int, backbone: str = "vgg16", state=None) -> nn.Module:
    """A freshly initialised model (seed torch first); `state` is torchvision's ImageNet
    state_dict for the backbone's paper profile."""
    prof = get_profile(profile, backbone)
    if backbone == "vgg16":
        model = backbones.build_vgg16(prof, n_classes)
        if state is not None:
            backbones.load_imagenet_blocks(model, state)
        return model
    if backbone == "resnet50":
        return resnet.build_resnet(prof, n_classes, state)
    return vit.build_vit(prof, n_classes, state)


def imagenet_state(backbone: str, path: str = "") -> tuple[dict[str, torch.Tensor], str]:
    """The backbone's torchvision ImageNet weights from `path` or torch's cache, never
    downloaded; FileNotFoundError naming every place looked in when there are none."""
    if backbone == "vgg16":
        return backbones.imagenet_state(path)
    name = WEIGHT_FILES[backbone]
    cache = Path(torch.hub.get_dir()) / "checkpoints" / name
    for candidate in ([Path(path)] if path else []) + [cache]:
        if candidate.is_file():
            state = torch.load(candidate, map_location="cpu", weights_only=True)
            return state, f"ImageNet weights from {candidate}"
    where = f"model.imagenet_weights ({path}) nor {cache}" if path else f"{cache}"
    raise FileNotFoundError(
        f"the paper profile of {backbone} starts from ImageNet weights, but neither {where} "
        f"exists; set model.imagenet_weights to a local torchvision {name} (or copy it into "
        f"{cache.parent}), or set model.from_scratch: true (nothing is downloaded)"
    )


def initial_model(
    model_cfg: ModelConfig, n_classes: int, *, seed: int = 0
) -> tuple[nn.Module, str]:
    """The emotion stage's starting point for `model.backbone`: seeded init plus, for the paper
    profile, ImageNet weights from a local file (an error naming where it looked when absent,
    unless `model.from_scratch`). Returns the model and a sentence saying which start it got."""
    if model_cfg.backbone == "vgg16":
        return backbones.initial_model(model_cfg, n_classes, seed=seed)
    if model_cfg.backbone not in BACKBONES:
        raise ValueError(f"unknown model.backbone {model_cfg.backbone!r}; valid: {BACKBONES}")
    torch.manual_seed(seed)
    what = f"{model_cfg.backbone} '{model_cfg.profile}' profile"
    if model_cfg.profile != "paper":
        model = build_model(model_cfg.profile, n_classes, model_cfg.backbone)
        return model, f"{what}: trained from scratch (ImageNet weights need the 'paper' profile)"
    if model_cfg.from_scratch:
        model = build_model(model_cfg.profile, n_classes, model_cfg.backbone)
        return model, f"{what}: trained from scratch (model.from_scratch: true)"
    state, note = imagenet_state(model_cfg.backbone, model_cfg.imagenet_weights)
    return build_model(model_cfg.profile, n_classes, model_cfg.backbone, state), note
