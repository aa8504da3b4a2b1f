"""Attribution per backbone, to zennit's test standard: conservation, and agreement with a
reference worked out independently, on small networks built from the same torchvision classes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from auforget.core.profiles import get_profile
from auforget.nn import lrp, resnet
from auforget.nn.adapters import build_model


@pytest.fixture
def gen() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def _positive_resnet() -> nn.Module:
    """A small ResNet whose LRP is known in closed form: positive weights and inputs (so z+ is
    the plain z-rule), batch norm the identity and no biases (so nothing absorbs relevance)."""
    torch.manual_seed(0)
    model = build_model("small", 3, "resnet50").double().eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.abs_()
            elif isinstance(m, nn.BatchNorm2d):
                m.running_mean.zero_()
                m.running_var.fill_(1.0 - m.eps)
                m.weight.fill_(1.0)
                m.bias.zero_()
            elif isinstance(m, nn.Linear):
                m.bias.zero_()
    return model


def test_resnet_lrp_uses_the_resnet_canonizer():
    model = build_model("small", 3, "resnet50")
    comp = lrp.composite(lrp.DEFAULT_COMPOSITE, model)
    assert [type(c).__name__ for c in comp.canonizers] == ["ResNetCanonizer"]
    assert lrp.method(model) == lrp.LRP and "ResNetCanonizer" in lrp.method_note(model)


def test_resnet_lrp_conserves_the_logit_and_equals_gradient_times_input(gen):
    model = _positive_resnet()
    x = torch.rand(2, 3, 64, 64, generator=gen, dtype=torch.float64) + 0.1
    rel = lrp.relevance(model, x, 1)
    with torch.no_grad():
        logit = model(x)[:, 1]
    assert logit.abs().min() > 1e-6
    torch.testing.assert_close(rel.sum(dim=(1, 2)), logit, rtol=1e-4, atol=1e-8)
    # reference: on a bias-free positive ReLU network the z-rule is gradient x input, through
    # the residual sums (split in proportion to their inputs) and the pooling alike
    xg = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(xg)[:, 1].sum(), xg)
    torch.testing.assert_close(rel, (grad * x).sum(1), rtol=1e-4, atol=1e-6)


def test_resnet_lrp_merges_batch_norm_only_for_the_attribution(gen):
    model = build_model("small", 3, "resnet50")
    model.train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    rel = lrp.relevance(model, torch.randn(2, 3, 64, 64, generator=gen), 0)
    assert rel.shape == (2, 64, 64) and torch.isfinite(rel).all()
    assert model.training
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())


def test_vit_falls_back_to_integrated_gradients_and_says_so():
    model = build_model("small", 3, "vit_b_16")
    assert lrp.method(model) == lrp.INTEGRATED_GRADIENTS
    assert "Integrated Gradients" in lrp.method_note(model)
    assert "not LRP" in lrp.method_note(model)


def test_integrated_gradients_is_exact_on_a_linear_model(gen):
    """Reference by hand: for f(x) = w . x + b, IG_i = x_i * w_i (zero baseline), whatever the
    number of steps."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 2)).double()
    x = torch.randn(3, 3, 4, 4, generator=gen, dtype=torch.float64)
    ig = lrp.integrated_gradients(model, x, 1, steps=4)
    w = model[1].weight[1].detach().view(3, 4, 4)
    torch.testing.assert_close(ig, (x * w).sum(1))


def test_integrated_gradients_completeness_on_a_small_vit(gen):
    """IG's conservation: each map sums to the target logit minus the zero image's."""
    torch.manual_seed(0)
    model = build_model("small", 3, "vit_b_16").double()
    model.train()
    x = torch.randn(2, 3, 64, 64, generator=gen, dtype=torch.float64)
    rel = lrp.relevance(model, x, torch.tensor([0, 2]), start="onehot")
    assert model.training, "the training flags are restored"
    model.eval()
    with torch.no_grad():
        gap = model(x) - model(torch.zeros_like(x))
    expected = torch.stack([gap[0, 0], gap[1, 2]])
    torch.testing.assert_close(
        rel.sum(dim=(1, 2)), expected, rtol=0.05, atol=0.02 * float(expected.abs().max())
    )


def test_resnet_weights_files_are_torchvision_names():
    assert resnet.TORCHVISION_FILE.startswith("resnet50-")
    assert get_profile("paper", "resnet50").feature_dim == 2048
