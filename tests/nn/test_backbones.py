import pytest
import torch

from auforget.core.config import MODEL_PROFILES, ModelConfig
from auforget.nn.backbones import (
    N_BLOCKS,
    PROFILES,
    build_vgg16,
    freeze_blocks,
    imagenet_state,
    initial_model,
    merge_heads,
    new_head,
    replace_head,
)


def _tiny():
    torch.manual_seed(0)
    return build_vgg16("small", 3)


def test_five_blocks_with_vgg16_conv_counts_and_shapes():
    model = _tiny()
    assert len(model.blocks) == N_BLOCKS
    convs = [sum(isinstance(m, torch.nn.Conv2d) for m in b.modules()) for b in model.blocks]
    assert convs == [2, 2, 3, 3, 3]
    x = torch.randn(2, 3, 64, 64)
    assert model.features(x).shape == (2, 64, 2, 2)
    assert model(x).shape == (2, 3)
    assert PROFILES["paper"].feature_dim == 512 * 7 * 7


def test_the_demo_profile_is_small_at_96_px_with_a_3_by_3_last_map():
    assert set(PROFILES) == set(MODEL_PROFILES)  # params.yaml's choices are the networks defined
    torch.manual_seed(0)
    model = build_vgg16("small96", 8)
    assert (
        model.profile.widths == PROFILES["small"].widths and model.profile.feature_dim == 64 * 3 * 3
    )
    x = torch.randn(2, 3, 96, 96)
    assert model.features(x).shape == (2, 64, 3, 3) and model(x).shape == (2, 8)
    with pytest.raises(RuntimeError):  # a 64 px face does not fit its output layers
        model(torch.randn(2, 3, 64, 64))
    assert ModelConfig(profile="small96").profile == "small96"
    with pytest.raises(ValueError, match="model.profile"):
        ModelConfig(profile="small128")


@pytest.mark.parametrize("n", [0, 2, 5])
def test_freezing_leaves_exactly_the_frozen_parameters_unchanged(n):
    model = freeze_blocks(_tiny(), n)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    model.train()
    x, y = torch.randn(8, 3, 64, 64), torch.randint(0, 3, (8,))
    torch.nn.functional.cross_entropy(model(x), y).backward()
    opt.step()
    after = model.state_dict()
    for name, value in after.items():
        if not name.startswith("blocks."):
            continue
        block = int(name.split(".")[1])
        changed = not torch.equal(before[name], value)
        if block < n:
            assert not changed, f"{name} is in a frozen block but changed"
        elif name.endswith("conv.weight") or (name.endswith(".weight") and value.dim() == 4):
            assert changed, f"{name} is trainable but did not change"
    head_changed = [
        not torch.equal(before[k], after[k])
        for k in after
        if k.startswith("head.") and k.endswith("weight")
    ]
    assert all(head_changed)


def test_frozen_blocks_keep_batchnorm_statistics_in_training_mode():
    model = freeze_blocks(_tiny(), 2)
    model.train()
    assert not model.blocks[0].training and not model.blocks[1].training
    assert model.blocks[2].training and model.head.training


def test_freeze_is_reversible_and_validates_range():
    model = freeze_blocks(_tiny(), 5)
    freeze_blocks(model, 0)
    assert all(p.requires_grad for p in model.parameters())
    for bad in (-1, 6, 7, 2.5, True):
        with pytest.raises(ValueError, match=r"0\.\.5"):
            freeze_blocks(model, bad)


def test_replace_head_is_seeded_and_changes_class_count():
    a, b = replace_head(_tiny(), 8, seed=3), replace_head(_tiny(), 8, seed=3)
    assert a.n_classes == 8
    assert all(torch.equal(x, y) for x, y in zip(a.head.parameters(), b.head.parameters()))


def test_merged_heads_give_the_mean_of_their_logits_in_one_head_of_the_same_shape():
    profile = PROFILES["small96"]
    heads = []
    for seed in range(4):
        torch.manual_seed(seed)
        heads.append(new_head(profile, 8).eval())
    merged = merge_heads(heads).eval()
    assert [type(m) for m in merged] == [type(m) for m in heads[0]]
    assert merged[1].out_features == 4 * profile.hidden and merged[-1].out_features == 8
    x = torch.randn(6, profile.feature_dim)
    assert torch.allclose(merged(x), torch.stack([h(x) for h in heads]).mean(0), atol=1e-6)
    with pytest.raises(ValueError, match="at least one head"):
        merge_heads([])


def test_imagenet_weights_absent_is_an_error_unless_from_scratch_is_asked_for(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(
        FileNotFoundError,
        match=r"vgg16-397923af\.pth is absent.*model\.imagenet_weights.*from_scratch: true",
    ):
        imagenet_state("")
    with pytest.raises(FileNotFoundError, match="from_scratch"):
        initial_model(ModelConfig(profile="paper"), 8)
    model, note = initial_model(ModelConfig(profile="paper", from_scratch=True), 8)
    assert "from scratch" in note and model.profile.image_size == 224
    with pytest.raises(FileNotFoundError, match="does not exist"):
        imagenet_state(str(tmp_path / "missing.pth"))


def test_imagenet_weights_load_from_a_local_file(tmp_path):
    reference = build_vgg16("paper", 2)
    convs = [m for m in reference.blocks.modules() if isinstance(m, torch.nn.Conv2d)]
    # torchvision numbering: features.<index> with ReLU/MaxPool between the convs
    indices = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
    state = {}
    for conv, idx in zip(convs, indices):
        state[f"features.{idx}.weight"] = torch.full_like(conv.weight, 0.5 + idx)
        state[f"features.{idx}.bias"] = torch.full_like(conv.bias, idx)
    path = tmp_path / "vgg16.pth"
    torch.save(state, path)
    model, note = initial_model(ModelConfig(profile="paper", imagenet_weights=str(path)), 8)
    first = next(m for m in model.blocks.modules() if isinstance(m, torch.nn.Conv2d))
    assert str(path) in note and float(first.weight.detach().flatten()[0]) == 0.5
    with pytest.raises(ValueError, match="paper"):  # refused when params.yaml is read
        ModelConfig(profile="small", imagenet_weights=str(path))
