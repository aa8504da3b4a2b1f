"""The backbone adapters: stages that cover the network, freezing that holds, torchvision's
ImageNet weights in our stages, and no download ever."""

import copy

import pytest
import torch
from torch import nn

from auforget.core.config import ModelConfig
from auforget.core.profiles import get_profile
from auforget.nn import resnet, vit
from auforget.nn.adapters import backbone_of, build_model, initial_model
from auforget.nn.backbones import freeze_blocks, merge_heads, replace_head
from auforget.nn.staged import stage_outputs

SMALL = [("vgg16", "small"), ("resnet50", "small"), ("vit_b_16", "small"), ("resnet50", "small96")]


def _model(backbone, profile="small", n_classes=8):
    torch.manual_seed(0)
    return build_model(profile, n_classes, backbone)


@pytest.mark.parametrize("backbone,profile", SMALL)
def test_stages_are_disjoint_ordered_and_cover_all_but_the_head(backbone, profile):
    model = _model(backbone, profile)
    assert backbone_of(model) == backbone
    assert len(model.blocks) == get_profile(profile, backbone).n_stages
    stage_params = [{id(p) for p in b.parameters()} for b in model.blocks]
    assert all(stage_params), "every stage holds parameters"
    union = set().union(*stage_params)
    assert sum(map(len, stage_params)) == len(union), "a parameter sits in two stages"
    head = {id(p) for p in model.head.parameters()}
    assert union | head == {id(p) for p in model.parameters()}
    x = torch.randn(2, 3, model.profile.image_size, model.profile.image_size)
    model.eval()
    outs = stage_outputs(model, x)
    assert len(outs) == len(model.blocks)
    assert tuple(model.features(x).shape[1:]) == model.profile.feature_shape
    # the stage outputs chain into the features: pooling is the only step after the last stage
    pooled = model.pool(outs[-1]) if hasattr(model, "pool") else outs[-1]
    torch.testing.assert_close(pooled, model.features(x))


@pytest.mark.parametrize("backbone,profile", SMALL[:3])
@pytest.mark.parametrize("k", [1, 3])
def test_frozen_stages_are_bit_identical_after_training_and_stay_in_eval(backbone, profile, k):
    model = freeze_blocks(_model(backbone, profile, n_classes=2), k)
    before = copy.deepcopy(model.state_dict())
    model.train()
    assert all(not m.training for b in model.blocks[:k] for m in b.modules())
    assert all(m.training for b in model.blocks[k:] for m in b.modules())
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1, momentum=0.9)
    torch.manual_seed(1)
    for _ in range(3):
        x = torch.randn(8, 3, model.profile.image_size, model.profile.image_size)
        loss = nn.functional.cross_entropy(model(x), torch.randint(0, 2, (8,)))
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = model.state_dict()
    for i, block in enumerate(model.blocks):
        names = [f"blocks.{i}.{n}" for n in block.state_dict()]
        same = all(torch.equal(before[n], after[n]) for n in names)
        assert same == (i < k), f"stage {i} (frozen {i < k}) changed: {not same}"
    # a CKA of 1.0 follows: a frozen stage's output is the same function of the input
    x = torch.randn(4, 3, model.profile.image_size, model.profile.image_size)
    reference = build_model(profile, 2, backbone)
    reference.load_state_dict(before)
    reference.eval(), model.eval()
    for a, b in zip(stage_outputs(reference, x)[:k], stage_outputs(model, x)[:k]):
        assert torch.equal(a, b)


@pytest.mark.parametrize("backbone", ["resnet50", "vit_b_16"])
def test_head_replacement_and_merging_keep_the_container(backbone):
    model = _model(backbone)
    replace_head(model, 2, seed=3)
    heads = [copy.deepcopy(replace_head(model, 2, seed=s).head) for s in (1, 2)]
    model.head = merge_heads(heads)
    model.eval()
    x = torch.randn(3, 3, 64, 64)
    feats = model.features(x)
    expected = torch.stack([h.eval()(feats) for h in heads]).mean(0)
    torch.testing.assert_close(model(x), expected)


def test_torchvision_resnet_weights_land_in_our_stages(tmp_path):
    """A torchvision ResNet's state (here random, the paper profile's layout) loaded into our
    stages gives torchvision's own pooled features."""
    profile = get_profile("small", "resnet50")
    torch.manual_seed(5)
    theirs = resnet.torchvision_resnet(profile).eval()
    ours = resnet.build_resnet(profile, 8, copy.deepcopy(theirs.state_dict())).eval()
    theirs.fc = nn.Identity()
    x = torch.randn(2, 3, 64, 64)
    torch.testing.assert_close(ours.features(x).flatten(1), theirs(x))


def test_torchvision_vit_weights_land_in_our_stages():
    profile = get_profile("small", "vit_b_16")
    torch.manual_seed(5)
    theirs = vit.torchvision_vit(profile).eval()
    ours = vit.build_vit(profile, 8, copy.deepcopy(theirs.state_dict())).eval()
    theirs.heads = nn.Identity()
    x = torch.randn(2, 3, 64, 64)
    torch.testing.assert_close(ours.features(x), theirs(x))


def test_paper_vit_has_thirteen_stages():
    assert get_profile("paper", "vit_b_16").n_stages == 13
    assert get_profile("paper", "resnet50").n_stages == 5


@pytest.mark.parametrize("backbone", ["resnet50", "vit_b_16"])
def test_missing_imagenet_weights_name_where_they_were_looked_for(backbone, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    cfg = ModelConfig(profile="paper", backbone=backbone)
    with pytest.raises(FileNotFoundError) as err:
        initial_model(cfg, 8)
    assert str(tmp_path / "hub" / "checkpoints") in str(err.value)
    assert "from_scratch" in str(err.value)
    given = ModelConfig(
        profile="paper", backbone=backbone, imagenet_weights=str(tmp_path / "x.pth")
    )
    with pytest.raises(FileNotFoundError, match="x.pth"):
        initial_model(given, 8)


def test_paper_resnet_loads_a_local_weights_file(tmp_path):
    profile = get_profile("paper", "resnet50")
    torch.manual_seed(2)
    state = resnet.torchvision_resnet(profile).state_dict()
    path = tmp_path / resnet.TORCHVISION_FILE
    torch.save(state, path)
    model, note = initial_model(
        ModelConfig(profile="paper", backbone="resnet50", imagenet_weights=str(path)), 8
    )
    assert str(path) in note
    assert torch.equal(model.blocks[0][0].weight, state["conv1.weight"])
    assert torch.equal(model.blocks[4][-1].conv3.weight, state["layer4.2.conv3.weight"])


def test_small_profiles_train_from_scratch_with_a_note():
    model, note = initial_model(ModelConfig(profile="small", backbone="vit_b_16"), 8, seed=1)
    assert "from scratch" in note and len(model.blocks) == 5
