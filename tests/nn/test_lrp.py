"""LRP: conservation and the z+ rule checked by hand, the model left as it was, map arithmetic."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from zennit.canonizers import SequentialMergeBatchNorm

from auforget.nn import lrp
from auforget.nn.backbones import build_vgg16, freeze_blocks


@pytest.fixture
def gen() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def _logit(model: nn.Module, x: torch.Tensor, target: int) -> torch.Tensor:
    with torch.no_grad():
        return model(x)[:, target]


def test_epsilon_rule_conserves_the_target_logit_on_a_bias_free_mlp(gen):
    model = nn.Sequential(
        nn.Flatten(),
        nn.Linear(3 * 4 * 4, 10, bias=False),
        nn.ReLU(),
        nn.Linear(10, 8, bias=False),
        nn.ReLU(),
        nn.Linear(8, 3, bias=False),
    ).double()
    x = torch.randn(5, 3, 4, 4, generator=gen, dtype=torch.float64)
    rel = lrp.relevance(model, x, 2)
    assert rel.shape == (5, 4, 4)
    torch.testing.assert_close(rel.sum(dim=(1, 2)), _logit(model, x, 2), rtol=1e-4, atol=1e-8)
    # on a bias-free ReLU net LRP-0 is gradient x input; a wrong rule or start would break this
    xg = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(xg)[:, 2].sum(), xg)
    # up to the epsilon stabiliser, which shifts pixels whose pre-activations are near zero
    torch.testing.assert_close(rel, (grad * x).sum(1), rtol=1e-3, atol=1e-3)


def test_zplus_conserves_on_a_positive_conv_net(gen):
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1, bias=False),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 5, 3, padding=1, bias=False),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(5 * 2 * 2, 4, bias=False),
    ).double()
    with torch.no_grad():  # positive conv weights and inputs: z+ = z, so z+ conserves exactly
        for m in model:
            if isinstance(m, nn.Conv2d):
                m.weight.abs_()
    x = torch.rand(3, 3, 8, 8, generator=gen, dtype=torch.float64) + 0.1
    target = torch.tensor([0, 1, 3])
    rel = lrp.relevance(model, x, target)
    logits = torch.stack([_logit(model, x, int(t))[i] for i, t in enumerate(target)])
    assert logits.abs().min() > 1e-3
    torch.testing.assert_close(rel.sum(dim=(1, 2)), logits, rtol=1e-4, atol=1e-8)


def test_zplus_matches_its_formula_on_one_conv_layer(gen):
    conv = nn.Conv2d(2, 3, 3, bias=False).double()  # mixed-sign weights
    x = torch.rand(1, 2, 4, 4, generator=gen, dtype=torch.float64) + 0.05
    r_out = torch.rand(1, 3, 2, 2, generator=gen, dtype=torch.float64)
    with lrp.composite("epsilon_zplus", conv).context(conv) as hooked:
        xi = x.clone().requires_grad_(True)
        (r_in,) = torch.autograd.grad(hooked(xi), xi, grad_outputs=r_out)

    # R_i = sum_j x_i w_ij^+ / (sum_i' x_i' w_i'j^+) R_j, written out over every output unit j
    xn, wp, rj = x[0].numpy(), conv.weight.detach().clamp(min=0).numpy(), r_out[0].numpy()

    def lrp_one_layer(w: np.ndarray) -> np.ndarray:
        rel = np.zeros_like(xn)
        for o in range(3):
            for r in range(2):
                for c in range(2):
                    contrib = xn[:, r : r + 3, c : c + 3] * w[o]
                    rel[:, r : r + 3, c : c + 3] += contrib / contrib.sum() * rj[o, r, c]
        return rel

    expected = lrp_one_layer(wp)
    np.testing.assert_allclose(r_in[0].numpy(), expected, rtol=1e-5)
    # the plain z-rule (all weights) gives another map here, so the check tells the rules apart
    assert not np.allclose(lrp_one_layer(conv.weight.detach().numpy()), expected, rtol=1e-2)


def _hooks(model: nn.Module) -> int:
    return sum(
        len(m._forward_hooks)
        + len(m._forward_pre_hooks)
        + len(m._backward_hooks)
        + len(m._backward_pre_hooks)
        for m in model.modules()
    )


def _eval_outputs(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    flags = {m: m.training for m in model.modules()}
    model.eval()
    with torch.no_grad():
        out = model(x)
    for m, f in flags.items():
        m.training = f
    return out


@pytest.fixture
def small_vgg(gen) -> nn.Module:
    model = build_vgg16("small", 8)
    with torch.no_grad():  # non-trivial batch-norm statistics, so merging them changes the convs
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
    freeze_blocks(model, 2)
    model.train()  # mixed flags: blocks 0-1 eval (frozen), the rest training
    return model


def _snapshot(model: nn.Module) -> dict:
    return {
        "state": {k: v.clone() for k, v in model.state_dict().items()},
        "training": [m.training for m in model.modules()],
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "param_ids": [id(p) for p in model.parameters()],
        "n_params": len(list(model.parameters())),
    }


def _assert_unchanged(model: nn.Module, before: dict) -> None:
    after = _snapshot(model)
    assert after["state"].keys() == before["state"].keys()
    for k, v in before["state"].items():
        assert torch.equal(after["state"][k], v), k
    assert after["training"] == before["training"]
    assert after["requires_grad"] == before["requires_grad"]
    assert after["param_ids"] == before["param_ids"]
    assert after["n_params"] == before["n_params"]
    assert _hooks(model) == 0
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("name", sorted(lrp.COMPOSITES))
def test_relevance_on_small_vgg_leaves_the_model_as_it_was(small_vgg, gen, name):
    x = torch.randn(3, 3, 64, 64, generator=gen)
    x_copy = x.clone()
    before = _snapshot(small_vgg)
    assert any(before["training"]) and not all(before["training"])
    out_before = _eval_outputs(small_vgg, x)

    rel = lrp.relevance(small_vgg, x, torch.tensor([0, 3, 7]), name)

    assert rel.shape == (3, 64, 64)
    assert torch.isfinite(rel).all() and rel.abs().sum() > 0
    assert torch.equal(x, x_copy) and not x.requires_grad
    _assert_unchanged(small_vgg, before)
    assert torch.equal(_eval_outputs(small_vgg, x), out_before)


def test_relevance_restores_the_model_when_attribution_fails(small_vgg, gen):
    x = torch.randn(2, 3, 64, 64, generator=gen)
    before = _snapshot(small_vgg)
    with pytest.raises(ValueError, match="target classes"):
        lrp.relevance(small_vgg, x, 8)  # 8 classes: 0..7
    _assert_unchanged(small_vgg, before)


def test_relevance_in_batches_equals_one_batch(small_vgg, gen):
    x = torch.randn(5, 3, 64, 64, generator=gen)
    torch.testing.assert_close(
        lrp.relevance(small_vgg, x, 1, batch_size=2), lrp.relevance(small_vgg, x, 1)
    )


def test_composite_names_and_batch_norm_canonizer(small_vgg):
    with pytest.raises(ValueError, match="epsilon_zplus"):
        lrp.composite("lrp_magic", small_vgg)
    assert lrp.DEFAULT_COMPOSITE == "epsilon_zplus"
    with_bn = lrp.composite("epsilon_zplus", small_vgg)
    assert any(isinstance(c, SequentialMergeBatchNorm) for c in with_bn.canonizers)
    plain = lrp.composite("epsilon_zplus", nn.Sequential(nn.Conv2d(3, 2, 3), nn.ReLU()))
    assert plain.canonizers == []


def test_normalise_per_image_to_unit_range():
    maps = torch.tensor(
        [
            [[-2.0, 0.0], [1.0, 4.0]],  # negatives clipped, max -> 1
            [[0.0, 0.0], [0.0, 0.0]],  # all zero stays zero
            [[-1.0, -3.0], [-0.5, -2.0]],
        ]
    )  # no positive evidence -> zero
    out = lrp.normalise(maps)
    torch.testing.assert_close(out[0], torch.tensor([[0.0, 0.0], [0.25, 1.0]]))
    assert torch.equal(out[1], torch.zeros(2, 2)) and torch.equal(out[2], torch.zeros(2, 2))
    assert torch.isfinite(out).all()
    arr = np.random.default_rng(0).normal(size=(4, 8, 8)) * np.array([1, 10, 100, 0])[:, None, None]
    out_np = lrp.normalise(arr)
    assert isinstance(out_np, np.ndarray) and not np.isnan(out_np).any()
    np.testing.assert_allclose(out_np.max(axis=(1, 2)), [1, 1, 1, 0])
    assert out_np.min() == 0
    np.testing.assert_allclose(lrp.normalise(out_np), out_np)  # idempotent


def test_difference_keeps_only_evidence_b5_has_and_bk_lost():
    b5 = np.zeros((1, 10, 10))
    bk = np.zeros((1, 10, 10))
    b5[0, 2, 2], b5[0, 7, 7] = 5.0, 5.0  # B5 uses two regions
    bk[0, 7, 7], bk[0, 4, 4] = 100.0, 50.0  # Bk kept one (on another scale) and found a new one
    d = lrp.difference(b5, bk)
    assert d[0, 2, 2] == 1.0  # lost evidence at full strength
    assert d[0, 7, 7] == 0.0  # kept evidence cancels after normalising each map
    assert d[0, 4, 4] == 0.0  # Bk-only evidence is not "forgotten"
    assert d.sum() == 1.0
    dt = lrp.difference(torch.from_numpy(b5), torch.from_numpy(bk))
    assert isinstance(dt, torch.Tensor) and torch.equal(dt, torch.from_numpy(d))
    with pytest.raises(ValueError):
        lrp.difference(b5, bk[:, :5])


def test_overlay_grid_writes_a_png(tmp_path, gen):
    images = torch.randn(2, 3, 16, 16, generator=gen)
    b5, bk = torch.rand(2, 16, 16, generator=gen), torch.rand(2, 16, 16, generator=gen)
    path = lrp.overlay_grid(
        images,
        [("B5", b5), ("B2", bk), ("B5 - B2", lrp.difference(b5, bk))],
        tmp_path / "sub" / "grid.png",
        row_titles=["a", "b"],
        cell_inches=1.0,
        dpi=50,
    )
    assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image

    h, w = matplotlib.image.imread(path).shape[:2]
    assert w > h  # four columns, two rows
    with pytest.raises(ValueError):
        lrp.overlay_grid(images, [("B5", b5[:1])], tmp_path / "bad.png")


def test_onehot_start_keeps_evidence_when_the_target_logit_is_negative():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 2, bias=False))
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([[1.0] * 12, [-1.0] * 12]))
    x = torch.rand(1, 3, 2, 2) + 0.1  # class 1's logit is negative
    from_logit = lrp.normalise(lrp.relevance(model, x, 1))
    onehot = lrp.relevance(model, x, 1, start="onehot")
    assert float(from_logit.max()) == 0.0  # the logit start flips the map away
    assert torch.allclose(onehot, lrp.relevance(model, x, 1) / model(x)[0, 1].detach())
    with pytest.raises(ValueError, match="start"):
        lrp.relevance(model, x, 1, start="softmax")


def test_params_name_the_same_composites_as_lrp():
    """core cannot import nn (the layers point down), so config keeps the names as a list."""
    from auforget.core.config import LRP_COMPOSITES

    assert sorted(LRP_COMPOSITES) == sorted(lrp.COMPOSITES)
