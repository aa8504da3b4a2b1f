"""ResNet-50 (torchvision) as five stages: the stem (conv, batch norm, ReLU, max-pool), then
layer1 .. layer4; global average pooling; the study's head.

The small profiles keep torchvision's `ResNet` and `Bottleneck` classes (so zennit's
`ResNetCanonizer` recognises every block) with a narrow channel plan and one Bottleneck per
stage: torchvision's `_make_layer` builds each stage from `profile.planes`.
"""

from __future__ import annotations

from torch import nn
from torchvision.models.resnet import Bottleneck, ResNet

from auforget.core.profiles import ResNetProfile
from auforget.nn.backbones import new_head
from auforget.nn.staged import StagedNet

TORCHVISION_FILE = "resnet50-0676ba61.pth"  # torchvision's ResNet50_Weights.IMAGENET1K_V1
FULL_PLANES = (64, 128, 256, 512)


def torchvision_resnet(profile: ResNetProfile) -> ResNet:
    """torchvision's ResNet with Bottleneck blocks in `profile`'s depths and widths."""
    net = ResNet(Bottleneck, list(profile.layers))
    if profile.stem == 64 and profile.planes == FULL_PLANES:
        return net
    net.inplanes = profile.stem
    net.conv1 = nn.Conv2d(3, profile.stem, kernel_size=7, stride=2, padding=3, bias=False)
    net.bn1 = nn.BatchNorm2d(profile.stem)
    for i, (planes, depth) in enumerate(zip(profile.planes, profile.layers)):
        setattr(
            net, f"layer{i + 1}", net._make_layer(Bottleneck, planes, depth, stride=min(i, 1) + 1)
        )
    net.fc = nn.Linear(profile.planes[-1] * Bottleneck.expansion, 1000)
    for m in net.modules():  # torchvision's own initialisation, for the rebuilt modules
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return net


def staged_resnet(net: ResNet, profile: ResNetProfile, n_classes: int) -> StagedNet:
    """Move a torchvision ResNet's modules into a StagedNet (its `fc` is replaced by the head)."""
    stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
    blocks = [stem, net.layer1, net.layer2, net.layer3, net.layer4]
    return StagedNet(profile, blocks, nn.AdaptiveAvgPool2d(1), new_head(profile, n_classes))


def build_resnet(profile: ResNetProfile, n_classes: int, state: dict | None = None) -> StagedNet:
    """A seeded (the caller seeds torch) ResNet StagedNet; `state` is torchvision's ImageNet
    state_dict for the paper profile (its `fc.*` are dropped: the head is new)."""
    net = torchvision_resnet(profile)
    if state is not None:
        net.load_state_dict(
            {k: v for k, v in state.items() if not k.startswith("fc.")}, strict=False
        )
        missing = set(net.state_dict()) - set(state)
        if missing - {"fc.weight", "fc.bias"}:
            raise ValueError(f"ResNet-50 weights lack {sorted(missing)[:5]}")
    return staged_resnet(net, profile, n_classes)
